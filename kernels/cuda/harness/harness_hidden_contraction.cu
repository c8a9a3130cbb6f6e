// Stage 1 of the expansion pass (hidden_contraction.cu):
//   G[s][ch][α] = Σ_β U_αβ g_ch(A0[s][β] + b_β),  g = a^1..a^P, then σ(t a) per t.
// Reference: plain loops on the CPU over a sample of the rows (every 97th
// row and the last ones, so tails are covered), the channel values of
// pass_channels.hpp (powers by repeated multiplication, σ by the ladder where
// the kernel runs one, else activation_value).
// Work, beside three ceilings (harness.cuh, Work):
//   tensor cores: 2·R·H'·C·8·NT FLOPs, the MMAs as executed (H' = H rounded
//     up to 16, classes padded to 8·NT: at M = 10, 16 of which 10 useful);
//   FMA units: the channel values, counted as DP-pipe instructions × 2 (one
//     instruction occupies the pipe as one FMA does): per (s, β) one bias
//     add, P products, and T SiLUs of ~30 instructions each (the PTX of
//     activation_value: 14 fma, 2 mul, 3 add, 2 compares and a div.rn.f64
//     of ~9), plus the binary-exponentiation start of each power run;
//   HBM: A0 read once (the groups of a sample block re-read it from L2), b,
//     G written once.
#include <cmath>
#include <cstdio>

#include "cuda/harness/harness.cuh"
#include "cuda/hidden_contraction.cuh"
#include "taylorscope/activation.hpp"

using namespace taylorscope;

namespace {

constexpr double kSiluDpInstructions = 30;  // see the header

bool run_case(const harness::Options& o, int R, int H, int M, int K, const std::vector<double>& t_values) {
  const int P = K - 1, T = static_cast<int>(t_values.size()), C = P + T;
  const Activation act = parse_activation("silu");
  const std::vector<double> A0 = harness::random_vector(static_cast<size_t>(R) * H, 0.5, 1);
  const std::vector<double> b = harness::random_vector(H, 0.1, 2);
  const std::vector<double> U = harness::random_vector(static_cast<size_t>(M) * H, 0.05, 3);
  std::vector<double> U_packed(cuda::hidden_contraction_u_size(M, H));
  cuda::pack_hidden_contraction_u(U.data(), M, H, 0, H, U_packed.data());

  double* dA0 = harness::to_device(A0);
  double* db = harness::to_device(b);
  double* dU = harness::to_device(U_packed);
  double* dt = harness::to_device(t_values);
  double* dG = harness::device_zeros<double>(static_cast<size_t>(R) * C * M);
  cuda::HiddenContractionArgs args;
  args.A0 = dA0;
  args.bias = db;
  args.U_packed = dU;
  args.t_values = dt;
  args.act = act;
  args.ladder = make_sigmoid_ladder(act, t_values.data(), T);  // the expansion pass's choice
  const SigmoidLadder kernel_ladder = cuda::hidden_contraction_ladder(args);  // what the kernel runs
  args.R = R;
  args.H = H;
  args.M = M;
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
  std::vector<double> g(C), t_of(C, 0.0);  // pass_channels' table: the t of each channel
  for (int i = 0; i < T; ++i) t_of[P + i] = t_values[i];
  for (int s : rows) {
    std::vector<double> acc(static_cast<size_t>(C) * M, 0.0), mag(acc.size(), 0.0);
    for (int h = 0; h < H; ++h) {
      const double a = A0[static_cast<size_t>(s) * H + h] + b[h];
      pass_channels(a, 0, C, P, C, t_of.data(), act, g.data(), 1, kernel_ladder);
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
  // Sums of H products in another order (the MMA's tree): at most ~H·2^-53
  // ≈ 2e-13 of Σ|terms|; a power run that starts by binary exponentiation
  // differs from the chain by a few ulps of each a^n (≤ 64·2^-53 ≈ 7e-15).
  const bool ok = harness::validate_scaled("G (sampled rows)", want, got, scale, 1e-12);

  const double ms = harness::time_ms(o, [&] { cuda::hidden_contraction(args, 0); });
  const cuda::ChannelGroups cg = cuda::hidden_contraction_groups(M, P, T);
  const double NT = cuda::hidden_contraction_class_tiles(M);
  const double Hpad = std::ceil(H / 16.0) * 16.0;
  const double pairs = static_cast<double>(R) * H;
  harness::Work w;
  w.tc_flops = 2.0 * R * Hpad * C * 8.0 * NT;
  // Per (s, β): bias add, P products, the SiLUs, ≤ 2·log2(P) products per extra group start.
  // The ladder: one exponential (~20 instructions), one division (~9) and
  // ~11 per channel (a count of sigmoid_ladder's operations, not of PTX).
  const double sigma_instructions = kernel_ladder.count > 0 ? 29 + 11.0 * T : T * kSiluDpInstructions;
  w.fma_flops = 2.0 * pairs * (1 + P + sigma_instructions + (cg.groups - 1) * 2.0 * std::log2(std::max(P, 2)));
  w.bytes = 8.0 * (pairs + H + static_cast<double>(R) * C * M);
  char size[96];
  std::snprintf(size, sizeof size, "R=%d H=%d M=%d K=%d T=%d", R, H, M, K, T);
  char extra[160];
  std::snprintf(extra, sizeof extra, ", \"useful_TFLOP_per_s\": %.6g, \"groups\": %d",
                2.0 * R * H * static_cast<double>(C) * M / (ms * 1e-3) / 1e12, cg.groups);
  harness::report_work(o, "hidden_contraction", size, ok, ms, w, extra);
  for (double* p : {dA0, db, dU, dt, dG}) TS_CUDA_CHECK(cudaFree(p));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const harness::Options o = harness::parse(argc, argv);
  harness::require_gpu_or_exit("harness_hidden_contraction");
  const int R = o.quick ? 4096 : 60000;  // a whole Fashion-MNIST train split in one chunk
  const std::vector<double> t5 = {0.25, 0.5, 1.0, 1.5, 2.0};  // ExpansionOptions' default t values
  bool ok = true;
  ok &= run_case(o, R, 2048, 10, 8, t5);   // the issue's targets: K = 8 and 32
  ok &= run_case(o, R, 2048, 10, 32, t5);
  ok &= run_case(o, o.quick ? 1000 : 8000, 513, 33, 12, {1.0});  // 5 class tiles padded to 8, ragged H
  ok &= run_case(o, 1000, 300, 5, 30, t5);                       // one class tile, 2 groups of 17
  ok &= run_case(o, 1000, 77, 64, 64, {0.5, 2.0});               // 8 class tiles, many groups, H % 16 ≠ 0
  return ok ? 0 : 1;
}
