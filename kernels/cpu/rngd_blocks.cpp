// Woodbury form of (G + λI)^{-1} for G = Φ Φᵀ of rank ≤ r (docs/rngd.md):
//   (λI + ΦΦᵀ)^{-1} g = (g − Φ (λI_r + ΦᵀΦ)^{-1} Φᵀ g) / λ,
// so a refresh factorises an r×r matrix instead of the block itself.
//   hidden neuron i:  Φ_i = X̃ᵀ D_i,  D_i = diag sqrt(ν_i / B),  ΦᵀΦ = D_i (X̃X̃ᵀ) D_i   (r = B)
//   output layer:     Φ's column (s, j) = L_s[:, j] ⊗ h̃_s / √B,
//                     ΦᵀΦ[(s,j),(s',j')] = (L_sᵀ L_s')[j,j'] (h̃_s·h̃_s') / B          (r = B·M)
#include "cpu/rngd_blocks.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "cpu/blas.hpp"
#include "cpu/lapack.hpp"
#include "taylorscope/memory_budget.hpp"

extern "C" void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info);

namespace taylorscope::cpu {
namespace {

std::vector<double> with_ones_column(const std::vector<double>& a, int64_t rows, int64_t cols) {
  std::vector<double> out(rows * (cols + 1));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[r * (cols + 1) + c] = a[r * cols + c];
    out[r * (cols + 1) + cols] = 1.0;
  }
  return out;
}

// y = A x for a symmetric n×n A (row-major; its lower triangle is read).
void symmetric_matvec(int64_t n, const double* A, const double* x, double* y) {
  cblas_dsymv(CblasRowMajor, CblasLower, static_cast<int>(n), 1.0, A, static_cast<int>(n), x, 1, 0.0, y, 1);
}

// The n×n S^{-1} from S's Cholesky factor (cholesky_factor) by LAPACK's
// dpotri, in place: 2n³/3 flops against 2n³ for solving against I. dpotri
// fills LAPACK's lower triangle, the row-major upper one; the lower is
// mirrored from it, so the step's dsymv (one triangle) and the CUDA path's
// full product multiply by the same symmetric matrix.
void cholesky_inverse(int64_t n, double* A) {
  const int nn = static_cast<int>(n);
  int info = 0;
  dpotri_("L", &nn, A, &nn, &info);
  if (info != 0)
    throw std::runtime_error("Cholesky inverse failed (LAPACK dpotri info " + std::to_string(info) + ")");
  for (int64_t p = 0; p < n; ++p)
    for (int64_t q = 0; q < p; ++q) A[p * n + q] = A[q * n + p];
}

}  // namespace

std::vector<double> rfim_hidden_dense(const RfimBatch& bt, int64_t i) {
  const int64_t n = bt.E + 1;
  const std::vector<double> x1 = with_ones_column(bt.x, bt.B, bt.E);
  std::vector<double> G(n * n, 0.0);
  for (int64_t s = 0; s < bt.B; ++s) {
    const double w = bt.nu[s * bt.H + i] / static_cast<double>(bt.B);
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = 0; q < n; ++q) G[p * n + q] += w * x1[s * n + p] * x1[s * n + q];
  }
  return G;
}

std::vector<double> rfim_output_dense(const RfimBatch& bt) {
  const int64_t M = bt.M, n1 = bt.H + 1, n = M * n1;
  const std::vector<double> h1 = with_ones_column(bt.h, bt.B, bt.H);
  std::vector<double> G(n * n, 0.0);
  for (int64_t s = 0; s < bt.B; ++s) {
    const double* eta = &bt.eta[s * M];
    for (int64_t a = 0; a < M; ++a)
      for (int64_t c = 0; c < M; ++c) {
        const double w = ((a == c ? eta[a] : 0.0) - eta[a] * eta[c]) / static_cast<double>(bt.B);
        for (int64_t p = 0; p < n1; ++p)
          for (int64_t q = 0; q < n1; ++q)
            G[(a * n1 + p) * n + c * n1 + q] += w * h1[s * n1 + p] * h1[s * n1 + q];
      }
  }
  return G;
}

void RngdPreconditioner::refresh(const RfimBatch& bt, double damping) {
  const int64_t B = bt.B, E = bt.E, H = bt.H, M = bt.M;
  if (B <= 0 || damping <= 0) throw std::logic_error("RngdPreconditioner::refresh: empty batch or λ ≤ 0");
  // The blocks grow as H·B² and (B·M)²: a large --batch must be refused
  // before they are allocated. Counted: the batch's copy, X̃ and H̃, K and
  // K_h, the d_i, the hidden blocks and one being factorised, L_s and Λ,
  // the output block.
  const double b = static_cast<double>(B), e = static_cast<double>(E), h = static_cast<double>(H),
               m = static_cast<double>(M);
  check_memory(8.0 * (b * (e + 2 * h + m) + b * (e + 1) + b * (h + 1) + 3 * b * b + h * b + h * b * b +
                      2 * b * m * m + (b * m) * (b * m)),
               "--batch " + std::to_string(B) + ": RNGD's blocks (H = " + std::to_string(H) + " blocks of " +
                   std::to_string(B) + "×" + std::to_string(B) + ", one of " + std::to_string(B * M) + "×" +
                   std::to_string(B * M) + ")");
  batch_ = bt;
  lambda_ = damping;
  r_.assign(B, 0.0);
  const std::vector<double> x1 = with_ones_column(bt.x, B, E), h1 = with_ones_column(bt.h, B, H);

  // Hidden: K = X̃X̃ᵀ is shared by every neuron; S_i = λI + D_i K D_i.
  std::vector<double> K(B * B);
  gemm_abt(B, B, E + 1, x1.data(), x1.data(), K.data());
  d_.assign(H * B, 0.0);
  for (int64_t s = 0; s < B; ++s)
    for (int64_t i = 0; i < H; ++i)
      d_[i * B + s] = std::sqrt(bt.nu[s * H + i] / static_cast<double>(B));
  hidden_.assign(H * B * B, 0.0);
  std::vector<double> S(B * B);
  for (int64_t i = 0; i < H; ++i) {
    double* Mi = &hidden_[i * B * B];
    const double* d = &d_[i * B];
    for (int64_t p = 0; p < B; ++p)
      for (int64_t q = 0; q < B; ++q) S[p * B + q] = d[p] * K[p * B + q] * d[q] + (p == q ? lambda_ : 0.0);
    cholesky_factor(B, S.data());
    cholesky_inverse(B, S.data());
    for (int64_t p = 0; p < B; ++p)
      for (int64_t q = 0; q < B; ++q) Mi[p * B + q] = S[p * B + q] * (d[p] * d[q]);
  }

  // Output: L_s, then S = λI + ΦᵀΦ with Λ = [L_1 … L_B] (M × BM).
  L_.assign(B * M * M, 0.0);
  std::vector<double> Lambda(M * B * M);
  for (int64_t s = 0; s < B; ++s) {
    const double* eta = &bt.eta[s * M];
    for (int64_t a = 0; a < M; ++a)
      for (int64_t j = 0; j < M; ++j) {
        const double v = ((a == j ? 1.0 : 0.0) - eta[a]) * std::sqrt(eta[j]);
        L_[(s * M + a) * M + j] = v;
        Lambda[a * (B * M) + s * M + j] = v;
      }
  }
  std::vector<double> Kh(B * B);
  gemm_abt(B, B, H + 1, h1.data(), h1.data(), Kh.data());
  const int64_t r = B * M;
  output_.assign(r * r, 0.0);
  gemm(true, false, r, r, M, 1.0, Lambda.data(), r, Lambda.data(), r, 0.0, output_.data(), r);  // ΛᵀΛ
  for (int64_t p = 0; p < r; ++p)
    for (int64_t q = 0; q < r; ++q)
      output_[p * r + q] = output_[p * r + q] * Kh[(p / M) * B + q / M] / static_cast<double>(B) +
                           (p == q ? lambda_ : 0.0);
  cholesky_factor(r, output_.data());
  cholesky_inverse(r, output_.data());
}

// x̃ = (x, 1) and h̃ = (h, 1): every product with X̃ or H̃ below is split into
// the GEMM on the weights and a sum for the bias column, so the gradient is
// used where it lies in θ's flat layout, never copied into (E+1)-rows.
void RngdPreconditioner::solve_hidden(double* Q) {
  const int64_t B = batch_.B, H = batch_.H;
  // Each M_i is read once per step (H·B² doubles, the step's largest
  // stream after θ). Not a BLAS call per neuron: OpenBLAS threads a 50×50
  // dsymv (its hand-offs cost more than the product) and takes a locked
  // buffer from its allocator for each call even on one thread (perf at
  // H = 2048: a quarter of the step inside cblas_dsymv). M_i is symmetric,
  // so r = Σ_q q_q·(row q of M_i): contiguous axpys that vectorise without
  // reassociating any sum.
  double* __restrict r = r_.data();
  for (int64_t i = 0; i < H; ++i) {
    double* __restrict q = &Q[i * B];
    const double* __restrict Mi = &hidden_[i * B * B];
    for (int64_t p = 0; p < B; ++p) r[p] = 0.0;
    for (int64_t t = 0; t < B; ++t) {
      const double x = q[t];
      const double* __restrict row = Mi + t * B;
      for (int64_t p = 0; p < B; ++p) r[p] += x * row[p];
    }
    for (int64_t p = 0; p < B; ++p) q[p] = r[p];
  }
}

void RngdPreconditioner::apply_hidden(double* gW, double* gb) {
  const int64_t B = batch_.B, H = batch_.H, E = batch_.E;
  // Q = [∇W ∇b] X̃ᵀ (H×B); row i becomes D_i S_i^{-1} D_i q_i; then
  // [∇W ∇b] ← ([∇W ∇b] − Q X̃) / λ.
  std::vector<double> Q(H * B);
  gemm_abt(H, B, E, gW, batch_.x.data(), Q.data());
  for (int64_t i = 0; i < H; ++i)
    for (int64_t s = 0; s < B; ++s) Q[i * B + s] += gb[i];
  solve_hidden(Q.data());
  for (int64_t i = 0; i < H; ++i) {
    double total = 0;
    for (int64_t s = 0; s < B; ++s) total += Q[i * B + s];
    gb[i] = (gb[i] - total) / lambda_;
  }
  gemm(false, false, H, E, B, -1.0 / lambda_, Q.data(), B, batch_.x.data(), E, 1.0 / lambda_, gW, E);
}

void RngdPreconditioner::apply_output(double* gU, double* gc) const {
  const int64_t B = batch_.B, M = batch_.M, H = batch_.H;
  const double scale = 1.0 / std::sqrt(static_cast<double>(B));
  // P = [∇U ∇c] H̃ᵀ (M×B); v_s = L_sᵀ P[:, s] / √B; y = S^{-1} v; Y[:, s] = L_s y_s / √B;
  // [∇U ∇c] ← ([∇U ∇c] − Y H̃) / λ.
  std::vector<double> P(M * B), v(B * M), y(B * M), Y(M * B);
  gemm_abt(M, B, H, gU, batch_.h.data(), P.data());
  for (int64_t s = 0; s < B; ++s)
    for (int64_t j = 0; j < M; ++j) {
      double acc = 0;
      for (int64_t a = 0; a < M; ++a) acc += L_[(s * M + a) * M + j] * (P[a * B + s] + gc[a]);
      v[s * M + j] = acc * scale;
    }
  symmetric_matvec(B * M, output_.data(), v.data(), y.data());
  for (int64_t a = 0; a < M; ++a) {
    double total = 0;
    for (int64_t s = 0; s < B; ++s) {
      double acc = 0;
      for (int64_t j = 0; j < M; ++j) acc += L_[(s * M + a) * M + j] * y[s * M + j];
      total += Y[a * B + s] = acc * scale;
    }
    gc[a] = (gc[a] - total) / lambda_;
  }
  gemm(false, false, M, H, B, -1.0 / lambda_, Y.data(), B, batch_.h.data(), H, 1.0 / lambda_, gU, H);
}

}  // namespace taylorscope::cpu
