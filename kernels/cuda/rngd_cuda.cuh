// RNGD's preconditioner on one GPU: the twin of cpu/rngd_blocks.{hpp,cpp}
// (docs/math.md §9, docs/rngd.md), with the same Woodbury systems — per hidden
// neuron i the B×B matrix S_i = λI + D_i K D_i, for the output layer the
// BM×BM matrix S = λI + (ΛᵀΛ) ∘ (Kh/B blockwise) — factorised by cuSOLVER
// and applied with cuBLAS. See rngd_cuda.cu.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/train_kernels.cuh"
#include "taylorscope/activation.hpp"

namespace taylorscope::cuda {

class RngdCuda {
 public:
  void bind(cublasHandle_t cublas, cusolverDnHandle_t cusolver, cudaStream_t stream);
  // A model of this shape, no batch yet (init, restore).
  void configure(const FlatLayout& L, double damping);
  bool ready() const { return ready_; }
  // Device memory that refreshes on batches of n rows need: H·B² doubles of
  // hidden blocks and (B·M)² of the output block dominate (B = 1024 at
  // H = 2048 is 17 GB). Throws InputError, one line naming the batch size,
  // when more than the device has free (counting what is held already), so
  // a large batch is refused before its first step instead of failing in
  // cudaMalloc halfway through a refresh.
  void require_fits(int n, const std::string& device_name) const;
  int batch_size() const { return B_; }
  // Changes whenever step() would run with other buffers or another batch
  // size, i.e. whenever a captured step() has gone stale.
  uint64_t generation() const { return generation_; }

  // Refreshes the blocks from the n-row mini-batch just passed forward:
  // inputs X (n×E), pre-activations A and σ(A) (n×H), δ = softmax − onehot
  // (n×M), labels y and train-set rows (n). Synchronises the stream to check
  // the factorisations; throws std::runtime_error if a block is not PD.
  void refresh(int n, const double* X, const double* A, const double* Hs, const double* delta,
               const int32_t* y, const int64_t* rows, const Activation& act, double omega);
  // Refreshes from a checkpoint's batch: X and rows on the device, h = σ(a)
  // on the device (n×H), ν (n×H) and η (n×M) from the host.
  void refresh_from(int n, const double* X, const double* h, const std::vector<double>& nu,
                    const std::vector<double>& eta, const int64_t* rows);

  // θ ← θ − lr·(G + λI)^{-1}(g + l2·(U, W)) block by block (lr, l2 of config), g the flat
  // gradient (ParamLayout). Only cuBLAS calls and kernels, so it can be
  // captured into a CUDA graph. The data-parallel path's step: g is the
  // all-reduced gradient, ∇W included.
  void step(const double* grad, double* theta, const OptimizerConfig& config);

  // The single-process step without ∇W (docs/rngd.md, "The GPU's step
  // without ∇W"): X (n×E) the batch, dA (n×H) its back-propagated pre-activation
  // gradient (σ' applied, 1/n in it), grad the flat gradient of which only
  // ∇U, ∇b and ∇c are read. Q = dAᵀ(X X_refᵀ) + l2·P + ∇b 1ᵀ replaces
  // ∇W X̃_refᵀ, and W moves by two GEMMs into θ (β on the first),
  //   W ← (1 − lr·l2/λ) W − (lr/λ) dAᵀX + (lr/λ) R X_ref,
  // the same update as step() up to rounding. P = W X_refᵀ is kept current
  // with l2 > 0 only (it enters Q as l2·P). Capturable as step() is; the
  // batch may have more or fewer rows than the refresh batch, up to those
  // reserve_rows() was given.
  void step_without_grad_w(int n, const double* X, const double* dA, const double* grad, double* theta,
                           const OptimizerConfig& config);
  // Room for steps of up to n rows in step_without_grad_w (outside any capture).
  void reserve_rows(int n);
  // P = W X_refᵀ and K_ref = X_ref X_refᵀ exactly (with l2 > 0; nothing
  // otherwise): after each refresh and restore, and at each evaluation, so
  // that a run resumed from a checkpoint (taken after an evaluation) tracks
  // the P the uninterrupted run tracked, bit for bit.
  void recompute_products(const double* W, double l2);

  // The statistics of the last refresh, for OptimizerState.
  void download(std::vector<double>* rows, std::vector<double>* nu, std::vector<double>* h,
                std::vector<double>* eta) const;

 private:
  template <class T>
  void grow(DeviceBuffer<T>& buffer, size_t n);
  static size_t bytes_for(const FlatLayout& L, int n);
  size_t bytes_held() const;
  void prepare(int n);
  void factorize();
  void apply_hidden();
  void apply_output();

  cublasHandle_t cublas_ = nullptr;
  cusolverDnHandle_t cusolver_ = nullptr;
  cudaStream_t stream_ = nullptr;
  FlatLayout L_;
  double lambda_ = 0;
  int B_ = 0;  // rows of the last refresh's batch
  bool ready_ = false;
  uint64_t generation_ = 0;

  // The batch of the last refresh.
  DeviceBuffer<double> x1_;      // B×(E+1): x̃_s = (z_s, 1)
  DeviceBuffer<double> h1_;      // B×(H+1): h̃_s = (σ(a_s), 1)
  DeviceBuffer<double> nu_;      // B×H  ν(a_si)
  DeviceBuffer<double> eta_;     // B×M  softmax
  DeviceBuffer<int64_t> rows_;   // B
  // Factors.
  DeviceBuffer<double> d_;       // H×B: sqrt(ν_si / B), neuron-major
  DeviceBuffer<double> K_;       // B×B: X̃X̃ᵀ, then H̃H̃ᵀ
  DeviceBuffer<double> hidden_;  // H × B×B Cholesky factors of λI + D_i K D_i (lower)
  // H × B×B: M_i = D_i S_i^{-1} D_i, symmetrised, as the CPU's
  // (rngd_blocks.hpp): formed at refresh by two batched triangular solves
  // with B right-hand sides each (L Z = I, Lᵀ X = Z), applied per step by
  // one strided-batched GEMV (review S4: H single-column trsm calls are B
  // dependent stages each, latency-bound inside the graph).
  DeviceBuffer<double> hidden_inv_;
  DeviceBuffer<double*> hidden_ptrs_, inv_ptrs_;  // H: factor i, inverse i
  DeviceBuffer<double> Lmat_;    // B × M×M: L_s = (I − η_s 1ᵀ) diag(√η_s)
  DeviceBuffer<double> Lambda_;  // M × BM: [L_1 … L_B]
  DeviceBuffer<double> output_;  // (BM)² Cholesky factor of λI + ΦᵀΦ (lower)
  DeviceBuffer<double> output_inv_;  // (BM)²: its inverse, symmetrised (one GEMV per step)
  DeviceBuffer<double> work_;    // cuSOLVER potrf workspace
  DeviceBuffer<int> info_;       // H + 1 potrf infos
  // step() workspace.
  DeviceBuffer<double> wb_;      // H×(E+1): rows (∂W_i, ∂b_i)
  DeviceBuffer<double> uc_;      // M×(H+1): rows (∂U_α, ∂c_α)
  DeviceBuffer<double> Q_, R_;   // H×B: Q = g X̃ᵀ, rows r_i = M_i q_i
  DeviceBuffer<double> P_, Y_;   // M×B
  DeviceBuffer<double> v_, y_;   // BM: v = Φᵀ g (output), y = S^{-1} v
  // step_without_grad_w() workspace (docs/rngd.md).
  int rows_reserved_ = 0;
  DeviceBuffer<double> Cb_;      // rows×B: X X_refᵀ of the step's batch
  DeviceBuffer<double> T_;       // H×B: dAᵀ Cb + l2·P (Q without ∇b), then T − R K_ref
  DeviceBuffer<double> Pw_;      // H×B: P = W X_refᵀ, kept current with l2 > 0
  DeviceBuffer<double> Kref_;    // B×B: X_ref X_refᵀ (no ones column)
};

}  // namespace taylorscope::cuda
