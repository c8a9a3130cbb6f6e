// Stage 2 of the expansion pass (sample_action_kernel.cu): per sample, from
// its hidden contractions G[s][ch][α], the jets l_k − f_{m,k} (k = 0..K) and
// the direct losses −ln q_m(tθ), summed over the samples. Reference: the same
// TS_HD functions (sample_action.hpp) in a plain loop on the CPU, so the
// comparison isolates the kernel's reduction order (and libm's exp/log).
// Work: per sample and class an exp jet (~K²/2 multiply-adds) and per
// sample a log jet (~K²/2): ≈ R·(M+1)·K² FLOPs; bytes: G read once. The
// kernel is latency-bound (each jet is a chain of dependent recurrences),
// so its floor is far below its time; what matters is that it stays a small
// fraction of the pass (harness_expansion_pass).
#include <cmath>
#include <cstdio>
#include <random>

#include "cuda/harness/harness.cuh"
#include "cuda/sample_action_kernel.cuh"
#include "taylorscope/activation.hpp"
#include "taylorscope/sample_action.hpp"

using namespace taylorscope;

namespace {

bool run_case(const harness::Options& o, int R, int M, int K, const std::vector<double>& t_values) {
  const int P = K > 1 ? K - 1 : 0, T = static_cast<int>(t_values.size()), C = P + T, ncomp = K + 1 + T;
  const std::vector<double> taylor = activation_taylor(parse_activation("silu"), std::max(K, 1));
  // G of a plausible pass: power channel j ~ N(0, 1/j!) so the jets stay O(1).
  std::vector<double> G = harness::random_vector(static_cast<size_t>(R) * C * M, 1.0, 11);
  for (int s = 0; s < R; ++s)
    for (int j = 0; j < P; ++j) {
      const double shrink = 1.0 / std::tgamma(j + 2.0);
      for (int a = 0; a < M; ++a) G[(static_cast<size_t>(s) * C + j) * M + a] *= shrink;
    }
  const std::vector<double> c_shift = harness::random_vector(M, 0.3, 12), c = harness::random_vector(M, 0.3, 13);
  std::vector<int32_t> labels(R);
  std::mt19937_64 rng(14);
  for (int32_t& y : labels) y = static_cast<int32_t>(rng() % M);

  // The reference and the scale of each component (Σ_s |value|).
  std::vector<double> want(ncomp, 0.0), scale(ncomp, 0.0), one(kMaxOrder + 1);
  for (int s = 0; s < R; ++s) {
    const double* gs = G.data() + static_cast<size_t>(s) * C * M;
    std::fill(one.begin(), one.end(), 0.0);
    accumulate_sample_jets(gs, c_shift.data(), taylor.data(), K, M, labels[s], one.data());
    for (int k = 0; k <= K; ++k) {
      want[k] += one[k];
      scale[k] += std::fabs(one[k]);
    }
    for (int i = 0; i < T; ++i) {
      const double v = sample_loss_at_t(gs + static_cast<size_t>(P + i) * M, c.data(), t_values[i], M, labels[s]);
      want[K + 1 + i] += v;
      scale[K + 1 + i] += std::fabs(v);
    }
  }

  double* dG = harness::to_device(G);
  int32_t* dy = harness::to_device(labels);
  double* dcs = harness::to_device(c_shift);
  double* dc = harness::to_device(c);
  double* dtay = harness::to_device(taylor);
  double* dt = harness::to_device(t_values);
  double* dpart = harness::device_zeros<double>(cuda::sample_action_partials_size(R, K, M, T));
  double* dsums = harness::device_zeros<double>(ncomp);
  cuda::SampleActionArgs a;
  a.G = dG;
  a.labels = dy;
  a.c_shift = dcs;
  a.c = dc;
  a.taylor = dtay;
  a.t_values = dt;
  a.R = R;
  a.K = K;
  a.M = M;
  a.powers = P;
  a.T = T;
  a.block_partials = dpart;
  a.sums = dsums;
  cuda::sample_action(a, 0);  // sums start at 0: one pass
  TS_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<double> got = harness::to_host(dsums, ncomp);
  // A sum of R values in another order: ≤ R·2^-53 of Σ|values| in the worst
  // case (6.7e-12 at R = 60000), plus libm's exp/log (a few ulps per sample).
  const bool ok = harness::validate_scaled("jet and direct sums", want, got, scale, 1e-11);

  const double ms = harness::time_ms(o, [&] { cuda::sample_action(a, 0); });
  const double flops = static_cast<double>(R) * (M + 1) * K * K + 4.0 * R * M * T;
  const double bytes = 8.0 * static_cast<double>(R) * C * M + 4.0 * R;
  char size[96];
  std::snprintf(size, sizeof size, "R=%d M=%d K=%d T=%d", R, M, K, T);
  harness::report(o, "sample_action", size, ok, ms, bytes, flops);
  for (void* p : {static_cast<void*>(dG), static_cast<void*>(dy), static_cast<void*>(dcs), static_cast<void*>(dc),
                  static_cast<void*>(dtay), static_cast<void*>(dt), static_cast<void*>(dpart),
                  static_cast<void*>(dsums)})
    TS_CUDA_CHECK(cudaFree(p));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const harness::Options o = harness::parse(argc, argv);
  harness::require_gpu_or_exit("harness_sample_action");
  const int R = o.quick ? 4096 : 60000;
  bool ok = true;
  const std::vector<double> t5 = {0.25, 0.5, 1.0, 1.5, 2.0};  // ExpansionOptions' default t values
  for (int K : {8, 32, 64}) ok &= run_case(o, R, 10, K, t5);
  ok &= run_case(o, 1000, 64, 12, {1.0});  // the widest class tile: 2 samples a group
  ok &= run_case(o, 1001, 3, 1, t5);       // order 1 (no power channel), 32 samples a group, a ragged tail
  ok &= run_case(o, 999, 7, 0, {});        // order 0 and no t: the jets alone
  return ok ? 0 : 1;
}
