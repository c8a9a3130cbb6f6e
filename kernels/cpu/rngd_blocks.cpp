// Woodbury form of (G + λI)^{-1} for G = Φ Φᵀ of rank ≤ r (docs/rngd.md):
//   (λI + ΦΦᵀ)^{-1} g = (g − Φ (λI_r + ΦᵀΦ)^{-1} Φᵀ g) / λ,
// so a refresh factorises an r×r matrix instead of the block itself.
//   hidden neuron i:  Φ_i = X̃ᵀ D_i,  D_i = diag sqrt(ν_i / B),  ΦᵀΦ = D_i (X̃X̃ᵀ) D_i   (r = B)
//   output layer:     Φ's column (s, j) = L_s[:, j] ⊗ h̃_s / √B,
//                     ΦᵀΦ[(s,j),(s',j')] = (L_sᵀ L_s')[j,j'] (h̃_s·h̃_s') / B          (r = B·M)
#include "cpu/rngd_blocks.hpp"

#include <cblas.h>
#ifdef __FMA__
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cpu/blas.hpp"
#include "cpu/lapack.hpp"
#include "taylorscope/memory_budget.hpp"
#include "taylorscope/optimizer.hpp"

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

// The blocks' layout (rngd_blocks.hpp): rows in panels of four, panel P
// (rows 4P…4P+3) holding entries t < 4P + 4 for its four rows and four
// neurons side by side, the panels stored from the last down. The doubles
// of one group, and where panel P starts in them:
inline int64_t hidden_group_size(int64_t B) {
  const int64_t n = (B + 3) / 4;
  return 32 * n * (n + 1);
}
inline int64_t hidden_panel(int64_t B, int64_t P) {
  const int64_t n = (B + 3) / 4;
  return 32 * (n * (n + 1) - (P + 1) * (P + 2));
}

// Four lanes: the same entry of four neurons' blocks (a GCC/Clang vector
// type; passed by reference, as GCC warns that without AVX a 32-byte vector
// passed by value has another ABI).
using Lanes = double __attribute__((vector_size(32)));
inline void load_lanes(Lanes& v, const double* p) {
  std::memcpy(&v, p, sizeof v);  // unaligned: the vectors' data is only 16-byte aligned
}
// a ← a + x·m, rounded as the scalar `r[p] += x * row[p]` it replaced: where
// the target has FMA, GCC contracted that loop into one fused multiply-add
// per term; without, a product and a sum. Spelt out, because GCC leaves the
// vector form uncontracted where it splits a loop at a branch.
inline void madd(Lanes& a, const Lanes& x, const double* m) {
  Lanes v;
  load_lanes(v, m);
#ifdef __FMA__
  a = _mm256_fmadd_pd(x, v, a);
#else
  a += x * v;
#endif
}
inline void store_lanes(double* p, const Lanes& v) { std::memcpy(p, &v, sizeof v); }

// Where column j of an n×n lower triangle packed by columns starts (entry
// (i ≥ j, j) at packed_col(n, j) + i − j).
inline int64_t packed_col(int64_t n, int64_t j) { return j * n - j * (j - 1) / 2; }

// The inverses of four n×n symmetric positive-definite matrices at once,
// lane l the l-th: A holds their lower triangles packed by columns, four
// lanes to an entry, and is overwritten by the inverses' (X is workspace
// of A's size, inv_diag of n·4: L's 1/L_kk). L = chol(A) right-looking, X = L^{-1} a column at a time
// (forward substitution against e_j), A^{-1} = XᵀX: n³/2 multiply-adds a
// lane, as LAPACK's dpotrf + dpotri, but four neurons to a vector and
// without the per-call cost of LAPACK on a 50×50 matrix (2048 calls of
// each took ~0.1 s, a millisecond per step at 784-2048-10). A matrix that
// is not positive definite (a NaN in ν) throws as cholesky_factor does.
void cholesky_inverse4(int64_t n, double* A, double* X, double* inv_diag) {
  auto at = [n](double* base, int64_t i, int64_t j) { return base + (packed_col(n, j) + i - j) * 4; };
  for (int64_t k = 0; k < n; ++k) {
    Lanes akk, inv;
    load_lanes(akk, at(A, k, k));
    for (int l = 0; l < 4; ++l) {
      if (!(akk[l] > 0))
        throw std::runtime_error("Cholesky factorisation failed (RNGD hidden block, pivot " +
                                 std::to_string(k + 1) + ")");
      akk[l] = std::sqrt(akk[l]);
      inv[l] = 1.0 / akk[l];
    }
    store_lanes(at(A, k, k), akk);
    store_lanes(inv_diag + k * 4, inv);
    double* ck = at(A, k, k);
    for (int64_t i = 1; i < n - k; ++i) {
      Lanes v;
      load_lanes(v, ck + i * 4);
      store_lanes(ck + i * 4, v * inv);
    }
    for (int64_t j = k + 1; j < n; ++j) {  // A[j:, j] −= L[j:, k] · L[j, k]
      Lanes ljk;
      load_lanes(ljk, ck + (j - k) * 4);
      double* cj = at(A, j, j);
      const double* src = ck + (j - k) * 4;
      for (int64_t i = 0; i < n - j; ++i) {
        Lanes a, b;
        load_lanes(a, cj + i * 4);
        load_lanes(b, src + i * 4);
        store_lanes(cj + i * 4, a - b * ljk);
      }
    }
  }
  for (int64_t j = 0; j < n; ++j) {  // column j of X: L x = e_j
    double* xj = at(X, j, j);
    for (int64_t i = 0; i < n - j; ++i) store_lanes(xj + i * 4, Lanes{} + (i == 0 ? 1.0 : 0.0));
    for (int64_t k = j; k < n; ++k) {
      Lanes xk, ikk;
      load_lanes(xk, xj + (k - j) * 4);
      load_lanes(ikk, inv_diag + k * 4);
      xk *= ikk;
      store_lanes(xj + (k - j) * 4, xk);
      const double* lk = at(A, k, k);
      for (int64_t i = k + 1; i < n; ++i) {
        Lanes xi, lik;
        load_lanes(xi, xj + (i - j) * 4);
        load_lanes(lik, lk + (i - k) * 4);
        store_lanes(xj + (i - j) * 4, xi - lik * xk);
      }
    }
  }
  // (A^{-1})[p][q] = Σ_{k ≥ p} X[k][p] X[k][q], p ≥ q: four q at a time, so
  // four independent sums share the loads of column p.
  for (int64_t p = 0; p < n; ++p) {
    const double* xp = at(X, p, p);
    int64_t q = 0;
    for (; q + 4 <= p + 1; q += 4) {
      const double *x0 = at(X, p, q), *x1 = at(X, p, q + 1), *x2 = at(X, p, q + 2), *x3 = at(X, p, q + 3);
      Lanes a0 = {}, a1 = {}, a2 = {}, a3 = {};
      for (int64_t k = 0; k < n - p; ++k) {
        Lanes xkp;
        load_lanes(xkp, xp + k * 4);
        madd(a0, xkp, x0 + k * 4);
        madd(a1, xkp, x1 + k * 4);
        madd(a2, xkp, x2 + k * 4);
        madd(a3, xkp, x3 + k * 4);
      }
      store_lanes(at(A, p, q), a0);
      store_lanes(at(A, p, q + 1), a1);
      store_lanes(at(A, p, q + 2), a2);
      store_lanes(at(A, p, q + 3), a3);
    }
    for (; q <= p; ++q) {
      const double* xq = at(X, p, q);
      Lanes acc = {};
      for (int64_t k = 0; k < n - p; ++k) {
        Lanes xkp;
        load_lanes(xkp, xp + k * 4);
        madd(acc, xkp, xq + k * 4);
      }
      store_lanes(at(A, p, q), acc);
    }
  }
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
  const std::vector<double> x1 = with_ones_column(bt.x, B, E), h1 = with_ones_column(bt.h, B, H);

  // Hidden: K = X̃X̃ᵀ is shared by every neuron; S_i = λI + D_i K D_i.
  std::vector<double> K(B * B);
  gemm_abt(B, B, E + 1, x1.data(), x1.data(), K.data());
  d_.assign(H * B, 0.0);
  for (int64_t s = 0; s < B; ++s)
    for (int64_t i = 0; i < H; ++i)
      d_[i * B + s] = std::sqrt(bt.nu[s * H + i] / static_cast<double>(B));
  // S_i = λI + D_i K D_i and M_i = D_i S_i^{-1} D_i, four neurons at a time.
  const int64_t group = hidden_group_size(B), packed = B * (B + 1) / 2;
  hidden_.assign((H + 3) / 4 * group, 0.0);
  std::vector<double> S(packed * 4), X(packed * 4), inv_diag(B * 4), dv(B * 4);
  for (int64_t g = 0; 4 * g < H; ++g) {
    const int64_t lanes = std::min<int64_t>(4, H - 4 * g);
    for (int64_t p = 0; p < B; ++p)  // past H: d = 0, so S = λI there, left unused
      for (int64_t l = 0; l < 4; ++l) dv[p * 4 + l] = l < lanes ? d_[(4 * g + l) * B + p] : 0.0;
    for (int64_t q = 0; q < B; ++q) {
      Lanes dq;
      load_lanes(dq, &dv[q * 4]);
      for (int64_t p = q; p < B; ++p) {
        Lanes dp;
        load_lanes(dp, &dv[p * 4]);
        store_lanes(&S[(packed_col(B, q) + p - q) * 4], dp * K[p * B + q] * dq + (p == q ? lambda_ : 0.0));
      }
    }
    cholesky_inverse4(B, S.data(), X.data(), inv_diag.data());
    double* Mg = &hidden_[g * group];
    for (int64_t p = 0; p < B; ++p) {
      Lanes dp;
      load_lanes(dp, &dv[p * 4]);
      double* panel = Mg + hidden_panel(B, p / 4);
      for (int64_t t = 0; t < std::min(p / 4 * 4 + 4, B); ++t) {
        const int64_t hi = std::max(p, t), lo = std::min(p, t);
        Lanes dt, v;
        load_lanes(dt, &dv[t * 4]);
        load_lanes(v, &S[(packed_col(B, lo) + hi - lo) * 4]);
        store_lanes(panel + (t * 4 + p % 4) * 4, v * (dp * dt));  // d = 0 past H: zeros there
      }
    }
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
  // The blocks are the step's largest stream after θ (H·B² doubles if
  // stored whole: 41 MB at 784-2048-10, B = 50, read from memory at every
  // step), so little more than their lower triangles is stored and an
  // entry read once serves both (p, t) and (t, p). No BLAS call per neuron
  // either: OpenBLAS threads a 50×50 dsymv (its hand-offs cost more than
  // the product) and takes a locked buffer from its allocator for each call
  // even on one thread (perf at H = 2048: a quarter of the step inside
  // cblas_dsymv). Four neurons go side by side in one vector, and every
  // lane forms r_p = Σ_t M[t][p] q_t as the scalar loop over M_i's rows
  // did: t ascending from r_p = 0, one madd per term, the same roundings
  // bit for bit.
  qv_.resize(B * 4);
  double* __restrict qv = qv_.data();
  const int64_t group = hidden_group_size(B);
  for (int64_t g = 0; 4 * g < H; ++g) {
    const int64_t lanes = std::min<int64_t>(4, H - 4 * g);
    double* Qg = Q + 4 * g * B;
    for (int64_t t = 0; t < B; ++t)
      for (int64_t l = 0; l < 4; ++l) qv[t * 4 + l] = l < lanes ? Qg[l * B + t] : 0.0;
    const double* Mg = &hidden_[g * group];
    // A panel's four rows at once (four independent sums), the panels from
    // the last down: each panel's own entries are one forward stream, and
    // its rows' entries right of it (t ≥ 4P + 4) lie, mirrored, in the
    // panels just read.
    for (int64_t P = (B + 3) / 4 - 1; P >= 0; --P) {
      const int64_t p0 = 4 * P, own = std::min(p0 + 4, B);
      const double* panel = Mg + hidden_panel(B, P);
      Lanes a0 = {}, a1 = {}, a2 = {}, a3 = {};
      for (int64_t t = 0; t < own; ++t) {
        Lanes x;
        load_lanes(x, qv + t * 4);
        const double* e = panel + t * 16;
        madd(a0, x, e);
        madd(a1, x, e + 4);
        madd(a2, x, e + 8);
        madd(a3, x, e + 12);
      }
      for (int64_t t = own; t < B; ++t) {  // row t's entries p0…p0+3
        Lanes x;
        load_lanes(x, qv + t * 4);
        const double* e = Mg + hidden_panel(B, t / 4) + (p0 * 4 + t % 4) * 4;
        madd(a0, x, e);
        madd(a1, x, e + 16);
        madd(a2, x, e + 32);
        madd(a3, x, e + 48);
      }
      const Lanes a[4] = {a0, a1, a2, a3};
      for (int64_t k = 0; k < 4 && p0 + k < B; ++k)
        for (int64_t l = 0; l < lanes; ++l) Qg[l * B + p0 + k] = a[k][l];
    }
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
  for (int64_t i = 0; i < H; ++i) gb[i] = RngdRule::bias_direction(&Q[i * B], B, gb[i], lambda_);
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
