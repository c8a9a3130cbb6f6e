// Host emulation of the expansion pass's stage kernels (see run.sh): the
// kernels' own source, extracted by run.sh, against plain CPU loops.
#include <cstdio>
#include <random>

#include "shim.hpp"
#include "taylorscope/activation.hpp"
#include "taylorscope/pass_channels.hpp"
#include "taylorscope/sample_action.hpp"
namespace taylorscope::cuda {
constexpr int kMaxClasses = 64;
struct ChannelGroups {
  int groups = 0, max_channels = 0;
};
// What hc_host.inc's hidden_contraction_ladder reads of the launch's arguments.
struct HiddenContractionArgs {
  int M = 0, powers = 0, T = 0;
  SigmoidLadder ladder;
};
ChannelGroups hidden_contraction_groups(int M, int powers, int T);
#include "hc_body.inc"
#include "hc_host.inc"
namespace sa {
#include "sa_body.inc"
}
}  // namespace taylorscope::cuda
using namespace taylorscope;
std::vector<double> rnd(size_t n, double sc, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<double> d(0, sc);
  std::vector<double> v(n);
  for (auto& x : v) x = d(r);
  return v;
}

bool hc_case(int R, int H, int M, int K, std::vector<double> tv) {
  const int P = K - 1, T = tv.size(), C = P + T;
  const Activation act = parse_activation("silu");
  auto A0 = rnd((size_t)R * H, 0.5, 1), b = rnd(H, 0.1, 2), U = rnd((size_t)M * H, 0.05, 3);
  std::vector<double> Up(cuda::hidden_contraction_u_size(M, H));
  cuda::pack_hidden_contraction_u(U.data(), M, H, 0, H, Up.data());
  std::vector<double> G((size_t)R * C * M, NAN);
  auto cg = cuda::hidden_contraction_groups(M, P, T);
  cuda::HiddenContractionArgs args;
  args.M = M, args.powers = P, args.T = T;
  args.ladder = make_sigmoid_ladder(act, tv.data(), T);
  const SigmoidLadder ladder = cuda::hidden_contraction_ladder(args);
  std::vector<double> t_of(C, 0.0);
  for (int i = 0; i < T; ++i) t_of[P + i] = tv[i];
  const int NT = cuda::class_tiles(M);
  const unsigned blocks = ((R + cuda::kSamples - 1) / cuda::kSamples) * cg.groups;
  auto run = [&](auto kern) {
    emu_launch(blocks, cuda::kThreads, [&] {
      kern(A0.data(), b.data(), Up.data(), tv.data(), act, ladder, R, H, M, P, T, cg.groups, G.data());
    });
  };
  switch (NT) {
    case 1:
      run(cuda::hidden_contraction_kernel<1>);
      break;
    case 2:
      run(cuda::hidden_contraction_kernel<2>);
      break;
    case 4:
      run(cuda::hidden_contraction_kernel<4>);
      break;
    case 8:
      run(cuda::hidden_contraction_kernel<8>);
      break;
  }
  double worst = 0;
  size_t bad = 0;
  std::vector<double> g(C);
  for (int s = 0; s < R; ++s) {
    std::vector<double> acc((size_t)C * M, 0), mag(acc.size(), 0);
    for (int h = 0; h < H; ++h) {
      const double a = A0[(size_t)s * H + h] + b[h];
      pass_channels(a, 0, C, P, C, t_of.data(), act, g.data(), 1, ladder);
      for (int ch = 0; ch < C; ++ch)
        for (int al = 0; al < M; ++al) {
          double t = U[(size_t)al * H + h] * g[ch];
          acc[ch * M + al] += t;
          mag[ch * M + al] += std::fabs(t);
        }
    }
    for (size_t i = 0; i < acc.size(); ++i) {
      double r = std::fabs(G[(size_t)s * C * M + i] - acc[i]) / (1e-12 * (mag[i] > 0 ? mag[i] : 1));
      if (!(r <= 1)) ++bad;
      if (!(r <= worst)) worst = std::isnan(r) ? INFINITY : r;
    }
  }
  std::printf("hidden_contraction R=%d H=%d M=%d K=%d T=%d NT=%d groups=%d: %s worst %.3g\n", R, H, M, K, T,
              NT, cg.groups, bad ? "FAIL" : "ok", worst);
  return !bad;
}

bool sa_case(int R, int M, int K, std::vector<double> tv) {
  const int P = K > 1 ? K - 1 : 0, T = tv.size(), C = P + T, ncomp = K + 1 + T;
  auto taylor = activation_taylor(parse_activation("silu"), std::max(K, 1));
  auto G = rnd((size_t)R * C * M, 1.0, 11);
  for (int s = 0; s < R; ++s)
    for (int j = 0; j < P; ++j)
      for (int a = 0; a < M; ++a) G[((size_t)s * C + j) * M + a] /= std::tgamma(j + 2.0);
  auto cs = rnd(M, 0.3, 12), c = rnd(M, 0.3, 13);
  std::vector<int32_t> y(R);
  std::mt19937_64 r(14);
  for (auto& v : y) v = r() % M;
  std::vector<double> want(ncomp, 0), scale(ncomp, 0), one(kMaxOrder + 1);
  for (int s = 0; s < R; ++s) {
    const double* gs = G.data() + (size_t)s * C * M;
    std::fill(one.begin(), one.end(), 0.0);
    accumulate_sample_jets(gs, cs.data(), taylor.data(), K, M, y[s], one.data());
    for (int k = 0; k <= K; ++k) {
      want[k] += one[k];
      scale[k] += std::fabs(one[k]);
    }
    for (int i = 0; i < T; ++i) {
      double v = sample_loss_at_t(gs + (size_t)(P + i) * M, c.data(), tv[i], M, y[s]);
      want[K + 1 + i] += v;
      scale[K + 1 + i] += std::fabs(v);
    }
  }
  auto sh = cuda::sa::shape_of(R, K, M, T);
  std::vector<double> part((size_t)sh.blocks * sh.ncomp, NAN), sums(ncomp, 0.0);
  if ((size_t)sh.smem > sizeof(emu_dynamic_smem)) {
    std::printf("smem too big for emu\n");
    return false;
  }
  emu_launch(sh.blocks, cuda::sa::kThreads, [&] {
    cuda::sa::sample_action_kernel(G.data(), y.data(), cs.data(), c.data(), taylor.data(), tv.data(), R, K, M,
                                   P, T, sh.SB, sh.ks, part.data());
  });
  emu_launch((sh.ncomp + cuda::sa::kReduceWarps - 1) / cuda::sa::kReduceWarps, 32 * cuda::sa::kReduceWarps,
             [&] { cuda::sa::add_block_partials_kernel(part.data(), sh.blocks, sh.ncomp, sums.data()); });
  double worst = 0;
  bool ok = true;
  for (int i = 0; i < ncomp; ++i) {
    double rr = std::fabs(sums[i] - want[i]) / (1e-11 * std::max(scale[i], 1e-300));
    if (!(rr <= 1)) ok = false;
    if (!(rr <= worst)) worst = std::isnan(rr) ? INFINITY : rr;
  }
  std::printf("sample_action R=%d M=%d K=%d T=%d SB=%d blocks=%d smem=%zu: %s worst %.3g\n", R, M, K, T,
              sh.SB, sh.blocks, sh.smem, ok ? "ok" : "FAIL", worst);
  return ok;
}

int main() {
  bool ok = true;
  std::vector<double> t5 = {0.25, 0.5, 1.0, 1.5, 2.0};
  ok &= hc_case(45, 37, 10, 8, t5);
  ok &= hc_case(40, 50, 10, 32, t5);
  ok &= hc_case(33, 21, 33, 12, {1.0});
  ok &= hc_case(20, 19, 5, 30, t5);
  ok &= hc_case(9, 9, 64, 64, {0.5, 2.0});
  ok &= hc_case(8, 0, 10, 8, t5);
  ok &= sa_case(300, 10, 8, t5);
  ok &= sa_case(2000, 10, 8, t5);  // 42 blocks: the partials' lanes stride past 32
  ok &= sa_case(130, 10, 32, t5);
  ok &= sa_case(50, 10, 64, t5);
  ok &= sa_case(20, 64, 12, {1.0});
  ok &= sa_case(101, 3, 1, t5);
  ok &= sa_case(99, 7, 0, {});
  std::printf(ok ? "ALL OK\n" : "FAILURES\n");
  return ok ? 0 : 1;
}
