// Stage 1 of the expansion pass (hidden_contraction.cu):
//   G[s][ch][α] = Σ_β U_αβ g_ch(A0[s][β] + b_β),  g = a^1..a^P, then σ(t a) per t.
// Reference: plain loops on the CPU over a sample of the rows (every 97th
// row and the last ones, so tails are covered), the same channel values
// (pass_channels.hpp semantics: powers by repeated multiplication).
// Work: R·H·C·M FMAs (2 FLOPs each) plus the channel values; bytes: A0 read
// once per block-row of channel groups, G written once.
#include <cmath>
#include <cstdio>

#include "cuda/harness/harness.cuh"
#include "cuda/hidden_contraction.cuh"
#include "taylorscope/activation.hpp"

using namespace taylorscope;

namespace {

bool run_case(const harness::Options& o, int R, int H, int M, int K, const std::vector<double>& t_values) {
  const int P = K - 1, T = static_cast<int>(t_values.size()), C = P + T;
  const int maxm = cuda::hidden_contraction_maxm(M);
  const Activation act = parse_activation("silu");
  const std::vector<double> A0 = harness::random_vector(static_cast<size_t>(R) * H, 0.5, 1);
  const std::vector<double> b = harness::random_vector(H, 0.1, 2);
  const std::vector<double> U = harness::random_vector(static_cast<size_t>(M) * H, 0.05, 3);
  std::vector<double> U_padded(static_cast<size_t>(H) * maxm, 0.0);
  for (int a = 0; a < M; ++a)
    for (int h = 0; h < H; ++h) U_padded[static_cast<size_t>(h) * maxm + a] = U[static_cast<size_t>(a) * H + h];

  double* dA0 = harness::to_device(A0);
  double* db = harness::to_device(b);
  double* dU = harness::to_device(U_padded);
  double* dt = harness::to_device(t_values);
  double* dG = harness::device_zeros<double>(static_cast<size_t>(R) * C * M);
  cuda::HiddenContractionArgs args;
  args.A0 = dA0;
  args.bias = db;
  args.U_padded = dU;
  args.t_values = dt;
  args.act = act;
  args.R = R;
  args.H = H;
  args.M = M;
  args.maxm = maxm;
  args.powers = P;
  args.T = T;
  args.G = dG;

  harness::poison(dG, static_cast<size_t>(R) * C * M);
  cuda::hidden_contraction(args, 0);
  TS_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<double> G = harness::to_host(dG, static_cast<size_t>(R) * C * M);

  std::vector<int> rows;
  for (int s = 0; s < R; s += 97) rows.push_back(s);
  for (int s = std::max(0, R - 40); s < R; ++s) rows.push_back(s);
  std::vector<double> want, got, scale;
  std::vector<double> g(C);
  for (int s : rows) {
    std::vector<double> acc(static_cast<size_t>(C) * M, 0.0), mag(acc.size(), 0.0);
    for (int h = 0; h < H; ++h) {
      const double a = A0[static_cast<size_t>(s) * H + h] + b[h];
      double p = a;
      for (int j = 0; j < P; ++j, p *= a) g[j] = p;
      for (int i = 0; i < T; ++i) g[P + i] = activation_value(act, t_values[i] * a);
      for (int ch = 0; ch < C; ++ch)
        for (int al = 0; al < M; ++al) {
          const double term = U[static_cast<size_t>(al) * H + h] * g[ch];
          acc[static_cast<size_t>(ch) * M + al] += term;
          mag[static_cast<size_t>(ch) * M + al] += std::fabs(term);
        }
    }
    want.insert(want.end(), acc.begin(), acc.end());
    scale.insert(scale.end(), mag.begin(), mag.end());
    got.insert(got.end(), G.begin() + static_cast<size_t>(s) * C * M, G.begin() + static_cast<size_t>(s + 1) * C * M);
  }
  // Sums of H products in another order (and fused): at most ~H·2^-53 ≈
  // 2e-13 of Σ|terms| (the powers themselves are the same products).
  const bool ok = harness::validate_scaled("G (sampled rows)", want, got, scale, 1e-12);

  const double ms = harness::time_ms(o, [&] { cuda::hidden_contraction(args, 0); });
  const double flops = 2.0 * R * H * static_cast<double>(C) * M + static_cast<double>(R) * H * C;
  const int groups = (C + 64 / maxm - 1) / (64 / maxm);
  const double bytes = 8.0 * (static_cast<double>(R) * H * ((groups + 3) / 4) + static_cast<double>(R) * C * M);
  char size[96];
  std::snprintf(size, sizeof size, "R=%d H=%d M=%d K=%d T=%d", R, H, M, K, T);
  harness::report(o, "hidden_contraction", size, ok, ms, bytes, flops);
  for (double* p : {dA0, db, dU, dt, dG}) TS_CUDA_CHECK(cudaFree(p));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const harness::Options o = harness::parse(argc, argv);
  harness::require_gpu_or_exit("harness_hidden_contraction");
  const int R = o.quick ? 4096 : 60000;  // a whole Fashion-MNIST train split in one chunk
  bool ok = true;
  ok &= run_case(o, R, 2048, 10, 8, {0.5, 1.0, 2.0});
  ok &= run_case(o, R, 2048, 10, 32, {0.5, 1.0, 2.0});
  ok &= run_case(o, o.quick ? 1000 : 8000, 513, 33, 12, {1.0});  // the 32-class tile, ragged H
  return ok ? 0 : 1;
}
