// RNGD's preconditioner on the GPU (rngd_cuda.cuh), step for step the CPU's
// cpu/rngd_blocks.cpp. Woodbury form of (G + λI)^{-1} for G = ΦΦᵀ of rank ≤ r:
//   (λI + ΦΦᵀ)^{-1} g = (g − Φ (λI_r + ΦᵀΦ)^{-1} Φᵀ g) / λ
//   hidden neuron i:  Φ_i = X̃ᵀ D_i,  D_i = diag sqrt(ν_i / B),  ΦᵀΦ = D_i (X̃X̃ᵀ) D_i   (r = B)
//   output layer:     Φ's column (s, j) = L_s[:, j] ⊗ h̃_s / √B,
//                     ΦᵀΦ[(s,j),(s',j')] = (L_sᵀ L_s')[j,j'] (h̃_s·h̃_s') / B          (r = B·M)
//
// refresh() (every T steps, outside any graph): the batch statistics, the
// GEMMs K = X̃X̃ᵀ, Kh = H̃H̃ᵀ, ΛᵀΛ on cuBLAS, the H systems factorised at once
// by cusolverDnDpotrfBatched and the output system by cusolverDnDpotrf.
// From the factors, still at refresh, the inverses the CPU forms too
// (rngd_blocks.cpp): two cublasDtrsmBatched with B right-hand sides (an
// identity per neuron) give S_i^{-1}, scaled to M_i = D_i S_i^{-1} D_i and
// symmetrised; two cublasDtrsm with BM right-hand sides give the output
// system's inverse. A step (every step, captured into the training graph)
// then applies them as matrix-vector products — one
// cublasDgemvStridedBatched for the H neurons, one cublasDgemv for the
// output — instead of 2H + 2 dependent single-column triangular solves
// (review S4): step() on a whole gradient (the data-parallel path), or in
// one process step_without_grad_w(), which never forms ∇W (docs/rngd.md). cuBLAS documents its routines as capturable once a
// workspace is set, cuSOLVER makes no such promise, so no cuSOLVER call is
// in step().
//
// All matrices are row-major as on the CPU; the systems are symmetric, so
// cuSOLVER reads them column-major as LAPACK does on the CPU: the same lower
// factors, the same solves.
#include "cuda/rngd_cuda.cuh"

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

#include "taylorscope/errors.hpp"
#include "taylorscope/memory_budget.hpp"
#include "taylorscope/optimizer.hpp"
#include "taylorscope/rfim.hpp"

namespace taylorscope::cuda {
namespace {

// ν_si = rfim_neuron_weight(a_si); η_s = δ_s + onehot(y_s) (δ = softmax − onehot).
__global__ void batch_stats_kernel(const double* __restrict__ A, const double* __restrict__ delta,
                                   const int32_t* __restrict__ y, int n, int H, int M, Activation act,
                                   double omega, double* __restrict__ nu, double* __restrict__ eta) {
  for (int64_t k = first_index(); k < static_cast<int64_t>(n) * H; k += grid_stride())
    nu[k] = rfim_neuron_weight(act, A[k], omega);
  for (int64_t k = first_index(); k < static_cast<int64_t>(n) * M; k += grid_stride()) {
    const int64_t s = k / M, a = k - s * M;
    eta[k] = a == y[s] ? delta[k] + 1.0 : delta[k];
  }
}

// d[i][s] = sqrt(ν[s][i] / B)
__global__ void neuron_scales_kernel(const double* __restrict__ nu, int B, int H, double* __restrict__ d) {
  for (int64_t k = first_index(); k < static_cast<int64_t>(H) * B; k += grid_stride()) {
    const int64_t i = k / B, s = k - i * B;
    d[k] = sqrt(nu[s * H + i] / static_cast<double>(B));
  }
}

// S_i[p][q] = d_i[p] K[p][q] d_i[q] + λ[p = q]. One block row per (i, p):
// no 64-bit division per element (review S5's nit).
__global__ void hidden_systems_kernel(const double* __restrict__ K, const double* __restrict__ d, int B,
                                      int H, double lambda, double* __restrict__ S) {
  for (int64_t row = blockIdx.x; row < static_cast<int64_t>(H) * B; row += gridDim.x) {
    const int64_t i = row / B, p = row - i * B;
    const double dp = d[i * B + p];
    for (int q = threadIdx.x; q < B; q += blockDim.x)
      S[row * B + q] = dp * K[p * B + q] * d[i * B + q] + (p == q ? lambda : 0.0);
  }
}

// count n×n identities, one after the other.
__global__ void identities_kernel(int n, int count, double* __restrict__ out) {
  for (int64_t row = blockIdx.x; row < static_cast<int64_t>(count) * n; row += gridDim.x) {
    const int p = static_cast<int>(row % n);
    for (int q = threadIdx.x; q < n; q += blockDim.x) out[row * n + q] = p == q ? 1.0 : 0.0;
  }
}

// Per matrix i of count n×n: X ← (X ∘ d_i d_iᵀ + (X ∘ d_i d_iᵀ)ᵀ)/2, d = nullptr
// meaning d_i = 1: the CPU's M_i[p][q] = S^{-1}[p][q]·(d_p·d_q). The CPU's
// S^{-1} (LAPACK dpotri) is symmetric by construction; one formed by two
// triangular solves against I is a few ulps from it, and the average makes
// the matrix the GEMV reads symmetric, as the CPU's dsymv assumes. The
// thread of the pair p ≤ q writes both entries.
__global__ void scale_symmetrize_kernel(int n, int count, const double* __restrict__ d,
                                        double* __restrict__ X) {
  for (int64_t row = blockIdx.x; row < static_cast<int64_t>(count) * n; row += gridDim.x) {
    const int64_t i = row / n;
    const int p = static_cast<int>(row - i * n);
    double* Xi = X + i * n * n;
    const double* di = d ? d + i * n : nullptr;
    for (int q = p + threadIdx.x; q < n; q += blockDim.x) {
      const double a = Xi[static_cast<int64_t>(p) * n + q] * (di ? di[p] * di[q] : 1.0);
      const double b = Xi[static_cast<int64_t>(q) * n + p] * (di ? di[q] * di[p] : 1.0);
      const double m = p == q ? a : 0.5 * (a + b);
      Xi[static_cast<int64_t>(p) * n + q] = m;
      Xi[static_cast<int64_t>(q) * n + p] = m;
    }
  }
}

// Blocks for the row-per-block kernels above.
int row_grid(int64_t rows) { return static_cast<int>(std::min<int64_t>(std::max<int64_t>(rows, 1), 65535)); }
constexpr int kRowThreads = 64;

// L_s[a][j] = ([a = j] − η_sa) √η_sj, stored per sample and as Λ[a][s·M + j].
__global__ void output_factors_kernel(const double* __restrict__ eta, int B, int M,
                                      double* __restrict__ Lmat, double* __restrict__ Lambda) {
  const int64_t MM = static_cast<int64_t>(M) * M;
  for (int64_t k = first_index(); k < B * MM; k += grid_stride()) {
    const int64_t s = k / MM, aj = k - s * MM, a = aj / M, j = aj - a * M;
    const double v = ((a == j ? 1.0 : 0.0) - eta[s * M + a]) * sqrt(eta[s * M + j]);
    Lmat[k] = v;
    Lambda[a * (static_cast<int64_t>(B) * M) + s * M + j] = v;
  }
}

// S[p][q] = (ΛᵀΛ)[p][q] · Kh[p/M][q/M] / B + λ[p = q], in place over ΛᵀΛ.
__global__ void output_system_kernel(const double* __restrict__ Kh, int B, int M, double lambda,
                                     double* __restrict__ S) {
  const int64_t r = static_cast<int64_t>(B) * M;
  for (int64_t k = first_index(); k < r * r; k += grid_stride()) {
    const int64_t p = k / r, q = k - p * r;
    S[k] = S[k] * Kh[(p / M) * B + q / M] / static_cast<double>(B) + (p == q ? lambda : 0.0);
  }
}

// The flat gradient plus l2·(U, W), regrouped into the blocks' rows:
// wb[i] = (∂W_i, ∂b_i) (H×(E+1)), uc[α] = (∂U_α, ∂c_α) (M×(H+1)).
// block_index gives, for flat index k, its place in wb (true) or uc (false).
__device__ inline bool block_index(const FlatLayout& L, int64_t k, int64_t* at) {
  if (k < L.W) {
    const int64_t a = k / L.H, i = k - a * L.H;
    *at = a * (L.H + 1) + i;
    return false;
  }
  if (k < L.b) {
    const int64_t j = k - L.W, i = j / L.E, g = j - i * L.E;
    *at = i * (L.E + 1) + g;
    return true;
  }
  if (k < L.c) {
    *at = (k - L.b) * (L.E + 1) + L.E;
    return true;
  }
  *at = (k - L.c) * (L.H + 1) + L.H;
  return false;
}

// The flat indices a regroup or scatter visits: all of θ, or with
// output_only the output layer's alone, U (j < L.W) then c.
__device__ inline int64_t regrouped_count(const FlatLayout& L, bool output_only) {
  return output_only ? L.W + (L.size - L.c) : L.size;
}
__device__ inline int64_t regrouped_index(const FlatLayout& L, int64_t j, bool output_only) {
  return output_only && j >= L.W ? L.c + (j - L.W) : j;
}

__global__ void regroup_kernel(FlatLayout L, const double* __restrict__ grad,
                               const double* __restrict__ theta, double l2, bool output_only,
                               double* __restrict__ wb, double* __restrict__ uc) {
  for (int64_t j = first_index(); j < regrouped_count(L, output_only); j += grid_stride()) {
    const int64_t k = regrouped_index(L, j, output_only);
    double g = grad[k];
    if (l2 > 0 && k < L.b) g += l2 * theta[k];  // U and W, as in the CPU step
    int64_t at = 0;
    (block_index(L, k, &at) ? wb : uc)[at] = g;
  }
}

// RNGD's element update (optimizer.hpp's RngdRule, as the CPU's loop) on
// the preconditioned gradient.
__global__ void scatter_update_kernel(FlatLayout L, const double* __restrict__ wb,
                                      const double* __restrict__ uc, OptimizerConfig cfg, bool output_only,
                                      double* __restrict__ theta) {
  const StepScalars t = RngdRule::scalars(cfg, 0);
  for (int64_t j = first_index(); j < regrouped_count(L, output_only); j += grid_stride()) {
    const int64_t k = regrouped_index(L, j, output_only);
    int64_t at = 0;
    const double p = (block_index(L, k, &at) ? wb : uc)[at];
    double w = theta[k], unused0 = 0.0, unused1 = 0.0;
    RngdRule::update(cfg, t, w, p, unused0, unused1);
    theta[k] = w;
  }
}

// step_without_grad_w's right-hand sides (RngdRule::hidden_rhs, the CPU's
// loop): T ← T + l2·P (with l2 > 0), Q = T + ∇b 1ᵀ; T, P, Q H×B.
__global__ void hidden_rhs_kernel(double* __restrict__ T, const double* __restrict__ P,
                                  const double* __restrict__ gb, double l2, int H, int B,
                                  double* __restrict__ Q) {
  for (int64_t k = first_index(); k < static_cast<int64_t>(H) * B; k += grid_stride()) {
    double t = T[k];
    Q[k] = RngdRule::hidden_rhs(t, l2 > 0 ? P[k] : 0.0, l2, gb[k / B]);
    T[k] = t;
  }
}

// b_i moves by RngdRule::bias_direction through RngdRule::update, as every
// other parameter; one thread a neuron, summing its row of R in the CPU's order.
__global__ void hidden_bias_update_kernel(const double* __restrict__ R, const double* __restrict__ gb, int H,
                                          int B, double lambda, OptimizerConfig cfg, double* __restrict__ b) {
  const StepScalars t = RngdRule::scalars(cfg, 0);
  for (int64_t i = first_index(); i < H; i += grid_stride()) {
    double w = b[i], unused0 = 0.0, unused1 = 0.0;
    RngdRule::update(cfg, t, w, RngdRule::bias_direction(R + i * B, B, gb[i], lambda), unused0, unused1);
    b[i] = w;
  }
}

// y[k] −= a·x[k]
__global__ void subtract_scaled_kernel(int64_t n, double a, const double* __restrict__ x, double* __restrict__ y) {
  for (int64_t k = first_index(); k < n; k += grid_stride()) y[k] -= a * x[k];
}

// v[s·M + j] = scale · Σ_a L_s[a][j] P[a][s]   (Φᵀ applied; P = g H̃ᵀ, M×B)
__global__ void output_project_kernel(const double* __restrict__ Lmat, const double* __restrict__ P,
                                      int B, int M, double scale, double* __restrict__ v) {
  for (int64_t k = first_index(); k < static_cast<int64_t>(B) * M; k += grid_stride()) {
    const int64_t s = k / M, j = k - s * M;
    double acc = 0;
    for (int64_t a = 0; a < M; ++a) acc += Lmat[(s * M + a) * M + j] * P[a * B + s];
    v[k] = acc * scale;
  }
}

// Y[a][s] = scale · Σ_j L_s[a][j] v[s·M + j]   (Φ applied, before the GEMM with H̃)
__global__ void output_expand_kernel(const double* __restrict__ Lmat, const double* __restrict__ v,
                                     int B, int M, double scale, double* __restrict__ Y) {
  for (int64_t k = first_index(); k < static_cast<int64_t>(M) * B; k += grid_stride()) {
    const int64_t a = k / B, s = k - a * B;
    double acc = 0;
    for (int64_t j = 0; j < M; ++j) acc += Lmat[(s * M + a) * M + j] * v[s * M + j];
    Y[k] = acc * scale;
  }
}

}  // namespace

void RngdCuda::bind(cublasHandle_t cublas, cusolverDnHandle_t cusolver, cudaStream_t stream) {
  cublas_ = cublas;
  cusolver_ = cusolver;
  stream_ = stream;
}

template <class T>
void RngdCuda::grow(DeviceBuffer<T>& buffer, size_t n) {
  const T* before = buffer.data();
  buffer.ensure_size(n);
  if (buffer.data() != before) ++generation_;
}

void RngdCuda::configure(const FlatLayout& L, double damping) {
  L_ = L;
  lambda_ = damping;
  ready_ = false;
  ++generation_;
  grow(wb_, static_cast<size_t>(L.H) * (L.E + 1));
  grow(uc_, static_cast<size_t>(L.M) * (L.H + 1));
}

// The sizes prepare() grows to, in bytes: keep the two in step.
size_t RngdCuda::bytes_for(const FlatLayout& L, int n) {
  const double B = n, H = L.H, E = L.E, M = L.M, r = B * M;
  const double doubles = B * (E + 1) + B * (H + 1) + B * H + B * M  // x̃, h̃, ν, η
                         + H * B + B * B + 2 * H * B * B             // d, K, hidden factors and inverses
                         + B * M * M + M * r + 2 * r * r             // L_s, Λ, output factor and inverse
                         + 2 * H * B + 2 * M * B + 2 * r             // Q, R, P, Y, v, y
                         + 2 * H * B + 2 * B * B;                    // T, P = W X_refᵀ, K_ref, Cb (n = B)
  const double pointers = 2 * H, ints = H + 1, rows = B;
  return static_cast<size_t>(8 * (doubles + pointers + rows) + 4 * ints);
}

size_t RngdCuda::bytes_held() const {
  return x1_.bytes() + h1_.bytes() + nu_.bytes() + eta_.bytes() + rows_.bytes() + d_.bytes() + K_.bytes() +
         hidden_.bytes() + hidden_inv_.bytes() + hidden_ptrs_.bytes() + inv_ptrs_.bytes() + Lmat_.bytes() +
         Lambda_.bytes() + output_.bytes() + output_inv_.bytes() + info_.bytes() + Q_.bytes() + R_.bytes() +
         P_.bytes() + Y_.bytes() + v_.bytes() + y_.bytes() + Cb_.bytes() + T_.bytes() + Pw_.bytes() +
         Kref_.bytes();
}

void RngdCuda::require_fits(int n, const std::string& device_name) const {
  const size_t need = bytes_for(L_, n), held = bytes_held();
  if (need <= held) return;
  size_t free_bytes = 0, total_bytes = 0;
  TS_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  // cuSOLVER's potrf workspace and the allocator's rounding come on top: keep 1/16 spare.
  if (need - held <= free_bytes - free_bytes / 16) return;
  throw InputError("RNGD with mini-batches of " + std::to_string(n) + " rows at H = " + std::to_string(L_.H) +
                   " needs " + format_bytes(static_cast<double>(need)) + " of GPU memory for its blocks (H·B² + (B·M)² doubles), more than the " +
                   format_bytes(static_cast<double>(free_bytes + held)) + " free on " + device_name +
                   "; use a smaller --batch");
}

// Sizes every buffer for a batch of n rows (bytes_for counts them).
void RngdCuda::prepare(int n) {
  const size_t B = static_cast<size_t>(n), H = L_.H, E = L_.E, M = L_.M, r = B * M;
  if (n <= 0 || r > static_cast<size_t>(INT_MAX))
    throw std::logic_error("RngdCuda: batch of " + std::to_string(n) + " rows is out of range");
  ready_ = false;  // until factorize() succeeds
  if (n != B_) ++generation_;
  B_ = n;
  grow(x1_, B * (E + 1));
  grow(h1_, B * (H + 1));
  grow(nu_, B * H);
  grow(eta_, B * M);
  grow(rows_, B);
  grow(d_, H * B);
  grow(K_, B * B);
  grow(hidden_, H * B * B);
  grow(hidden_inv_, H * B * B);
  grow(hidden_ptrs_, H);
  grow(inv_ptrs_, H);
  grow(Lmat_, B * M * M);
  grow(Lambda_, M * r);
  grow(output_, r * r);
  grow(output_inv_, r * r);
  grow(info_, H + 1);
  grow(Q_, H * B);
  grow(R_, H * B);
  grow(P_, M * B);
  grow(Y_, M * B);
  grow(v_, r);
  grow(y_, r);
  grow(Cb_, std::max(B, static_cast<size_t>(rows_reserved_)) * B);
  grow(T_, H * B);
  grow(Pw_, H * B);
  grow(Kref_, B * B);
  // The pointer arrays of the batched factorisation and solves (refresh only).
  std::vector<double*> hidden_ptrs(H), inv_ptrs(H);
  for (size_t i = 0; i < H; ++i) {
    hidden_ptrs[i] = hidden_.data() + i * B * B;
    inv_ptrs[i] = hidden_inv_.data() + i * B * B;
  }
  TS_CUDA_CHECK(cudaMemcpyAsync(hidden_ptrs_.data(), hidden_ptrs.data(), H * sizeof(double*),
                                cudaMemcpyHostToDevice, stream_));
  TS_CUDA_CHECK(cudaMemcpyAsync(inv_ptrs_.data(), inv_ptrs.data(), H * sizeof(double*),
                                cudaMemcpyHostToDevice, stream_));
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // before the host arrays go
}

void RngdCuda::refresh(int n, const double* X, const double* A, const double* Hs, const double* delta,
                       const int32_t* y, const int64_t* rows, const Activation& act, double omega) {
  prepare(n);
  append_ones_column(X, n, L_.E, x1_.data(), stream_);
  append_ones_column(Hs, n, L_.H, h1_.data(), stream_);
  batch_stats_kernel<<<grid_for(static_cast<int64_t>(n) * std::max(L_.H, L_.M)), kThreads, 0,
                       stream_>>>(A, delta, y, n, L_.H, L_.M, act, omega, nu_.data(), eta_.data());
  TS_CUDA_LAUNCHED(stream_, "batch_stats_kernel");
  TS_CUDA_CHECK(cudaMemcpyAsync(rows_.data(), rows, n * sizeof(int64_t), cudaMemcpyDeviceToDevice,
                                stream_));
  factorize();
}

void RngdCuda::refresh_from(int n, const double* X, const double* h, const std::vector<double>& nu,
                            const std::vector<double>& eta, const int64_t* rows) {
  prepare(n);
  append_ones_column(X, n, L_.E, x1_.data(), stream_);
  append_ones_column(h, n, L_.H, h1_.data(), stream_);
  TS_CUDA_CHECK(cudaMemcpyAsync(nu_.data(), nu.data(), nu.size() * sizeof(double),
                                cudaMemcpyHostToDevice, stream_));
  TS_CUDA_CHECK(cudaMemcpyAsync(eta_.data(), eta.data(), eta.size() * sizeof(double),
                                cudaMemcpyHostToDevice, stream_));
  TS_CUDA_CHECK(cudaMemcpyAsync(rows_.data(), rows, n * sizeof(int64_t), cudaMemcpyDeviceToDevice,
                                stream_));
  factorize();
}

void RngdCuda::factorize() {
  const int B = B_, H = L_.H, E = L_.E, M = L_.M, r = B * M;

  // Hidden: K = X̃X̃ᵀ is shared by every neuron; S_i = λI + D_i K D_i.
  gemm_rm(cublas_, false, true, B, B, E + 1, 1.0, x1_.data(), E + 1, x1_.data(), E + 1, 0.0,
          K_.data(), B);
  neuron_scales_kernel<<<grid_for(static_cast<int64_t>(H) * B), kThreads, 0, stream_>>>(
      nu_.data(), B, H, d_.data());
  TS_CUDA_LAUNCHED(stream_, "neuron_scales_kernel");
  hidden_systems_kernel<<<row_grid(static_cast<int64_t>(H) * B), kRowThreads, 0, stream_>>>(
      K_.data(), d_.data(), B, H, lambda_, hidden_.data());
  TS_CUDA_LAUNCHED(stream_, "hidden_systems_kernel");
  TS_CUSOLVER_CHECK(cusolverDnDpotrfBatched(cusolver_, CUBLAS_FILL_MODE_LOWER, B, hidden_ptrs_.data(),
                                            B, info_.data(), H));
  TS_CUDA_LAUNCHED(stream_, "cusolverDnDpotrfBatched (RNGD hidden blocks)");

  // Output: L_s and Λ, then S = λI + (ΛᵀΛ) ∘ (Kh/B blockwise), Kh = H̃H̃ᵀ.
  output_factors_kernel<<<grid_for(static_cast<int64_t>(B) * M * M), kThreads, 0, stream_>>>(
      eta_.data(), B, M, Lmat_.data(), Lambda_.data());
  TS_CUDA_LAUNCHED(stream_, "output_factors_kernel");
  gemm_rm(cublas_, false, true, B, B, H + 1, 1.0, h1_.data(), H + 1, h1_.data(), H + 1, 0.0,
          K_.data(), B);
  gemm_rm(cublas_, true, false, r, r, M, 1.0, Lambda_.data(), r, Lambda_.data(), r, 0.0,
          output_.data(), r);  // ΛᵀΛ
  output_system_kernel<<<grid_for(static_cast<int64_t>(r) * r), kThreads, 0, stream_>>>(
      K_.data(), B, M, lambda_, output_.data());
  TS_CUDA_LAUNCHED(stream_, "output_system_kernel");
  int lwork = 0;
  TS_CUSOLVER_CHECK(
      cusolverDnDpotrf_bufferSize(cusolver_, CUBLAS_FILL_MODE_LOWER, r, output_.data(), r, &lwork));
  work_.ensure_size(static_cast<size_t>(std::max(lwork, 1)));  // refresh only: no graph uses it
  TS_CUSOLVER_CHECK(cusolverDnDpotrf(cusolver_, CUBLAS_FILL_MODE_LOWER, r, output_.data(), r,
                                     work_.data(), lwork, info_.data() + H));
  TS_CUDA_LAUNCHED(stream_, "cusolverDnDpotrf (RNGD output block)");

  // The inverses (the factors' upper triangles hold S's entries, which the
  // LOWER solves never read). A failed factor leaves garbage here, but the
  // check below throws before any step uses it.
  const double one = 1.0;
  identities_kernel<<<row_grid(static_cast<int64_t>(H) * B), kRowThreads, 0, stream_>>>(B, H, hidden_inv_.data());
  TS_CUDA_LAUNCHED(stream_, "identities_kernel (hidden)");
  for (cublasOperation_t op : {CUBLAS_OP_N, CUBLAS_OP_T})
    TS_CUBLAS_CHECK(cublasDtrsmBatched(cublas_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, op,
                                       CUBLAS_DIAG_NON_UNIT, B, B, &one, hidden_ptrs_.data(), B,
                                       inv_ptrs_.data(), B, H));
  TS_CUDA_LAUNCHED(stream_, "cublasDtrsmBatched (RNGD hidden inverses)");
  scale_symmetrize_kernel<<<row_grid(static_cast<int64_t>(H) * B), kRowThreads, 0, stream_>>>(
      B, H, d_.data(), hidden_inv_.data());
  TS_CUDA_LAUNCHED(stream_, "scale_symmetrize_kernel (hidden)");
  identities_kernel<<<row_grid(r), kRowThreads, 0, stream_>>>(r, 1, output_inv_.data());
  TS_CUDA_LAUNCHED(stream_, "identities_kernel (output)");
  for (cublasOperation_t op : {CUBLAS_OP_N, CUBLAS_OP_T})
    TS_CUBLAS_CHECK(cublasDtrsm(cublas_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, op, CUBLAS_DIAG_NON_UNIT,
                                r, r, &one, output_.data(), r, output_inv_.data(), r));
  TS_CUDA_LAUNCHED(stream_, "cublasDtrsm (RNGD output inverse)");
  scale_symmetrize_kernel<<<row_grid(r), kRowThreads, 0, stream_>>>(r, 1, nullptr, output_inv_.data());
  TS_CUDA_LAUNCHED(stream_, "scale_symmetrize_kernel (output)");

  // The CPU throws when a block is not positive definite; so do we, at the
  // same step (a refresh every T steps can afford this synchronisation).
  std::vector<int> info(static_cast<size_t>(H) + 1);
  TS_CUDA_CHECK(cudaMemcpyAsync(info.data(), info_.data(), info.size() * sizeof(int),
                                cudaMemcpyDeviceToHost, stream_));
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (int i = 0; i <= H; ++i)
    if (info[i] != 0)
      throw std::runtime_error("RNGD: Cholesky factorisation of the " +
                               (i < H ? "block of hidden neuron " + std::to_string(i)
                                      : std::string("output block")) +
                               " failed (cuSOLVER potrf info " + std::to_string(info[i]) + ")");
  ready_ = true;
}

void RngdCuda::step(const double* grad, double* theta, const OptimizerConfig& config) {
  if (!ready()) throw std::logic_error("RngdCuda::step before a refresh");
  regroup_kernel<<<grid_for(L_.size), kThreads, 0, stream_>>>(L_, grad, theta, config.l2, false, wb_.data(),
                                                              uc_.data());
  TS_CUDA_LAUNCHED(stream_, "regroup_kernel");
  apply_hidden();
  apply_output();
  scatter_update_kernel<<<grid_for(L_.size), kThreads, 0, stream_>>>(L_, wb_.data(), uc_.data(), config,
                                                                     false, theta);
  TS_CUDA_LAUNCHED(stream_, "scatter_update_kernel");
}

void RngdCuda::reserve_rows(int n) {
  rows_reserved_ = std::max(rows_reserved_, n);
  if (B_ > 0) grow(Cb_, static_cast<size_t>(rows_reserved_) * B_);
}

void RngdCuda::recompute_products(const double* W, double l2) {
  if (!(l2 > 0) || !ready()) return;  // P enters the step only as l2·P, K_ref only P's update
  const int B = B_, H = L_.H, E = L_.E;
  // X_ref is x̃ without its ones column: the first E of every E + 1.
  gemm_rm(cublas_, false, true, B, B, E, 1.0, x1_.data(), E + 1, x1_.data(), E + 1, 0.0, Kref_.data(), B);
  gemm_rm(cublas_, false, true, H, B, E, 1.0, W, E, x1_.data(), E + 1, 0.0, Pw_.data(), B);
}

// The CPU's rngd_step (train_cpu.cpp) without its deferred W = γV + C X_ref:
// cuBLAS scales θ inside the GEMM (β), where OpenBLAS takes a separate pass,
// so W is updated in place by the two GEMMs below.
void RngdCuda::step_without_grad_w(int n, const double* X, const double* dA, const double* grad, double* theta,
                                   const OptimizerConfig& config) {
  if (!ready()) throw std::logic_error("RngdCuda::step_without_grad_w before a refresh");
  if (n > rows_reserved_)
    throw std::logic_error("RngdCuda::step_without_grad_w: " + std::to_string(n) + " rows, room for " +
                           std::to_string(rows_reserved_));
  const int B = B_, H = L_.H, E = L_.E;
  const double l2 = config.l2, scale = config.lr / lambda_, one = 1.0, zero = 0.0;
  const double* gb = grad + L_.b;
  double* W = theta + L_.W;
  const int64_t HB = static_cast<int64_t>(H) * B;

  // Q = dAᵀ (X X_refᵀ) + l2·P + ∇b 1ᵀ: n×B×E and H×B×n products, not H×B×E.
  gemm_rm(cublas_, false, true, n, B, E, 1.0, X, E, x1_.data(), E + 1, 0.0, Cb_.data(), B);
  gemm_rm(cublas_, true, false, H, B, n, 1.0, dA, H, Cb_.data(), B, 0.0, T_.data(), B);
  hidden_rhs_kernel<<<grid_for(HB), kThreads, 0, stream_>>>(T_.data(), Pw_.data(), gb, l2, H, B, Q_.data());
  TS_CUDA_LAUNCHED(stream_, "hidden_rhs_kernel");
  // R: row i is M_i q_i (M_i symmetric, so its row-major storage is its column-major one).
  TS_CUBLAS_CHECK(cublasDgemvStridedBatched(cublas_, CUBLAS_OP_N, B, B, &one, hidden_inv_.data(), B,
                                            static_cast<long long>(B) * B, Q_.data(), 1, B, &zero, R_.data(),
                                            1, B, H));
  TS_CUDA_LAUNCHED(stream_, "cublasDgemvStridedBatched (RNGD hidden blocks)");
  hidden_bias_update_kernel<<<grid_for(H), kThreads, 0, stream_>>>(R_.data(), gb, H, B, lambda_, config,
                                                                   theta + L_.b);
  TS_CUDA_LAUNCHED(stream_, "hidden_bias_update_kernel");
  // W ← (1 − lr·l2/λ) W − (lr/λ) dAᵀX + (lr/λ) R X_ref, i.e. W − (lr/λ)(∇W − R X_ref).
  gemm_rm(cublas_, true, false, H, E, n, -scale, dA, H, X, E, 1.0 - scale * l2, W, E);
  gemm_rm(cublas_, false, false, H, E, B, scale, R_.data(), B, x1_.data(), E + 1, 1.0, W, E);
  if (l2 > 0) {  // P ← P − (lr/λ)(T − R K_ref), T = dAᵀCb + l2·P: P = W X_refᵀ for the new W
    gemm_rm(cublas_, false, false, H, B, B, -1.0, R_.data(), B, Kref_.data(), B, 1.0, T_.data(), B);
    subtract_scaled_kernel<<<grid_for(HB), kThreads, 0, stream_>>>(HB, scale, T_.data(), Pw_.data());
    TS_CUDA_LAUNCHED(stream_, "subtract_scaled_kernel (RNGD P)");
  }

  // The output layer as step() applies it: its products are M-wide.
  const int64_t output_size = L_.W + (L_.size - L_.c);
  regroup_kernel<<<grid_for(output_size), kThreads, 0, stream_>>>(L_, grad, theta, l2, true, wb_.data(),
                                                                   uc_.data());
  TS_CUDA_LAUNCHED(stream_, "regroup_kernel (output)");
  apply_output();
  scatter_update_kernel<<<grid_for(output_size), kThreads, 0, stream_>>>(L_, wb_.data(), uc_.data(), config,
                                                                         true, theta);
  TS_CUDA_LAUNCHED(stream_, "scatter_update_kernel (output)");
}

// g = wb (H×(E+1)): Q = g X̃ᵀ (H×B); r_i = M_i q_i = D_i S_i^{-1} D_i q_i; then g ← (g − R X̃) / λ.
void RngdCuda::apply_hidden() {
  const int B = B_, H = L_.H, n = L_.E + 1;
  const double one = 1.0, zero = 0.0;
  gemm_rm(cublas_, false, true, H, B, n, 1.0, wb_.data(), n, x1_.data(), n, 0.0, Q_.data(), B);
  // M_i is symmetric, so its row-major storage is its column-major one.
  TS_CUBLAS_CHECK(cublasDgemvStridedBatched(cublas_, CUBLAS_OP_N, B, B, &one, hidden_inv_.data(), B,
                                            static_cast<long long>(B) * B, Q_.data(), 1, B, &zero, R_.data(),
                                            1, B, H));
  TS_CUDA_LAUNCHED(stream_, "cublasDgemvStridedBatched (RNGD hidden blocks)");
  gemm_rm(cublas_, false, false, H, n, B, -1.0 / lambda_, R_.data(), B, x1_.data(), n, 1.0 / lambda_,
          wb_.data(), n);
}

// g = uc (M×(H+1)): P = g H̃ᵀ (M×B); v_s = L_sᵀ P[:, s] / √B; solve; Y[:, s] = L_s y_s / √B;
// g ← (g − Y H̃) / λ.
void RngdCuda::apply_output() {
  const int B = B_, M = L_.M, n = L_.H + 1, r = B * M;
  const double scale = 1.0 / std::sqrt(static_cast<double>(B)), one = 1.0, zero = 0.0;
  gemm_rm(cublas_, false, true, M, B, n, 1.0, uc_.data(), n, h1_.data(), n, 0.0, P_.data(), B);
  output_project_kernel<<<grid_for(r), kThreads, 0, stream_>>>(Lmat_.data(), P_.data(), B, M, scale,
                                                               v_.data());
  TS_CUDA_LAUNCHED(stream_, "output_project_kernel");
  TS_CUBLAS_CHECK(cublasDgemv(cublas_, CUBLAS_OP_N, r, r, &one, output_inv_.data(), r, v_.data(), 1, &zero,
                              y_.data(), 1));
  TS_CUDA_LAUNCHED(stream_, "cublasDgemv (RNGD output block)");
  output_expand_kernel<<<grid_for(r), kThreads, 0, stream_>>>(Lmat_.data(), y_.data(), B, M, scale,
                                                              Y_.data());
  TS_CUDA_LAUNCHED(stream_, "output_expand_kernel");
  gemm_rm(cublas_, false, false, M, n, B, -1.0 / lambda_, Y_.data(), B, h1_.data(), n, 1.0 / lambda_,
          uc_.data(), n);
}

void RngdCuda::download(std::vector<double>* rows, std::vector<double>* nu, std::vector<double>* h,
                        std::vector<double>* eta) const {
  const size_t B = static_cast<size_t>(B_), H = L_.H, M = L_.M;
  std::vector<int64_t> r(B);
  nu->resize(B * H);
  h->resize(B * H);
  eta->resize(B * M);
  TS_CUDA_CHECK(cudaMemcpyAsync(r.data(), rows_.data(), B * sizeof(int64_t), cudaMemcpyDeviceToHost,
                                stream_));
  TS_CUDA_CHECK(cudaMemcpyAsync(nu->data(), nu_.data(), B * H * sizeof(double), cudaMemcpyDeviceToHost,
                                stream_));
  // σ(a) is h̃ without its ones column.
  TS_CUDA_CHECK(cudaMemcpy2DAsync(h->data(), H * sizeof(double), h1_.data(), (H + 1) * sizeof(double),
                                  H * sizeof(double), B, cudaMemcpyDeviceToHost, stream_));
  TS_CUDA_CHECK(cudaMemcpyAsync(eta->data(), eta_.data(), B * M * sizeof(double),
                                cudaMemcpyDeviceToHost, stream_));
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  rows->assign(r.begin(), r.end());
}

}  // namespace taylorscope::cuda
