// The kernels of the CUDA training backend (train_cuda.cu): mini-batch
// gather, the element-wise halves of the forward and backward passes, the
// optimizer updates, and a row-major GEMM over cuBLAS. Every per-element
// formula is the TS_HD code the CPU backend runs (activation.hpp,
// softmax_loss.hpp, optimizer_update.hpp). See train_kernels.cu.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "taylorscope/activation.hpp"
#include "taylorscope/train_backend.hpp"

namespace taylorscope::cuda {

// Element-wise kernels run kThreads a block on grid_for(total) blocks (at
// most kMaxBlocks) and cover their range with grid-stride loops:
//   for (int64_t k = first_index(); k < total; k += grid_stride())
constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;
int grid_for(int64_t total);
__device__ inline int64_t first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Row-major C[rows×cols] = alpha·op(A)·op(B) + beta·C with leading dimensions,
// op(X) = Xᵀ when the flag is set: the call of cpu::gemm, on cuBLAS.
void gemm_rm(cublasHandle_t handle, bool trans_a, bool trans_b, int rows, int cols, int inner,
             double alpha, const double* A, int lda, const double* B, int ldb, double beta, double* C,
             int ldc);

// The offsets of ParamLayout ([U | W | b | c]) as plain numbers for kernels.
struct FlatLayout {
  int M = 0, H = 0, E = 0;
  int64_t W = 0, b = 0, c = 0, size = 0;  // U starts at 0
};
FlatLayout flat_layout(const ParamLayout& L);

// Where a replayed step reads its batch and its step count: batch k of the
// resident order, and step t (Adam's bias correction uses t + 1).
struct StepCounter {
  int64_t batch = 0;
  int64_t step = 0;
};
void set_step_counter(StepCounter* counter, int64_t batch, int64_t step, cudaStream_t stream);
void advance_step_counter(StepCounter* counter, cudaStream_t stream);

// Rows r_s = order[base + s], s < n, base = counter ? counter->batch·stride : 0:
// X[s] = Z[r_s] (E values), y[s] = labels[r_s], rows[s] = r_s.
void gather_batch(const double* Z, const int32_t* labels, int E, const int64_t* order,
                  const StepCounter* counter, int64_t stride, int n, double* X, int32_t* y,
                  int64_t* rows, cudaStream_t stream);

// A ← A + b (per column), Hs = σ(A); A, Hs n×H.
void bias_activation(double* A, const double* b, double* Hs, int n, int H, const Activation& act,
                     cudaStream_t stream);

// Per sample: logits ← logits + c, δ = softmax − onehot(y) (softmax_xent_backward).
// With block_partials (softmax_partials_size(n) doubles of scratch) also
// totals[0] += Σ loss, totals[1] += Σ correct, in a fixed order.
size_t softmax_partials_size(int n);
void softmax_xent(double* logits, const double* c, const int32_t* y, int n, int M, double* delta,
                  double* block_partials, double* totals, cudaStream_t stream);

// out[j] = (accumulate ? out[j] : 0) + Σ_s scale·V[s][j]   (V n×cols)
void column_sums(const double* V, int n, int cols, double scale, bool accumulate, double* out,
                 cudaStream_t stream);
// dA ← dA ∘ σ'(A), then out[i] = (accumulate ? out[i] : 0) + Σ_s dA[s][i]   (n×H)
void activation_backward_sums(double* dA, const double* A, int n, int H, const Activation& act,
                              bool accumulate, double* out, cudaStream_t stream);

// One step of an element-wise optimizer (optimizer.hpp's rule for
// config.kind) on the flat θ with its gradient g; l2·θ is added to g on U
// and W (k < L.b) inside the kernel.
struct UpdateArgs {
  double* theta = nullptr;
  const double* grad = nullptr;
  double* state[2] = {nullptr, nullptr};  // the rule's θ-sized arrays (state_names order)
  const StepCounter* counter = nullptr;   // the step t (Adam: bias corrections at t + 1)
  FlatLayout L;
  OptimizerConfig config;
};
void optimizer_update(const UpdateArgs& args, cudaStream_t stream);

// dst (rows×(cols+1)) = [src | 1]   (src rows×cols)
void append_ones_column(const double* src, int rows, int cols, double* dst, cudaStream_t stream);

}  // namespace taylorscope::cuda
