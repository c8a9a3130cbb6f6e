// The kernels of the CUDA training step (train_kernels.cuh). One mini-batch
// of n rows X (n×E), labels y, as in kernels/cpu/train_cpu.cpp:
//   A = X Wᵀ + b,  Hs = σ(A),  logits = Hs Uᵀ + c,  δ = softmax − onehot
//   ∇U = δᵀHs/n,  ∇c = Σ δ/n,  dA = (δU/n) ∘ σ'(A),  ∇W = dAᵀX,  ∇b = Σ dA
// The GEMMs are cuBLAS calls (gemm_rm); these kernels are the element-wise
// parts between them, each fused so that a tensor is read once:
//   bias_activation   A + b and σ in one pass
//   softmax_xent      one thread per sample: + c, softmax, δ, loss, argmax
//   column_sums       ∇c = Σ_s δ/n, and (templated) σ'(A) scaling of dA with ∇b
// and the per-element optimizer updates. Nothing uses atomics: every sum over
// samples has a fixed order, so a step is bitwise reproducible.
#include <cub/block/block_reduce.cuh>

#include <algorithm>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "cuda/train_kernels.cuh"
#include "taylorscope/optimizer.hpp"
#include "taylorscope/softmax_loss.hpp"

namespace taylorscope::cuda {
namespace {

__global__ void set_counter_kernel(StepCounter* counter, int64_t batch, int64_t step) {
  counter->batch = batch;
  counter->step = step;
}

__global__ void advance_counter_kernel(StepCounter* counter) {
  ++counter->batch;
  ++counter->step;
}

__global__ void gather_kernel(const double* __restrict__ Z, const int32_t* __restrict__ labels, int E,
                              const int64_t* __restrict__ order, const StepCounter* counter,
                              int64_t stride, int n, double* __restrict__ X, int32_t* __restrict__ y,
                              int64_t* __restrict__ rows) {
  const int64_t base = counter ? counter->batch * stride : 0;
  for (int64_t s = first_index(); s < n; s += grid_stride()) {
    const int64_t r = order[base + s];
    y[s] = labels[r];
    rows[s] = r;
  }
  for (int64_t k = first_index(); k < static_cast<int64_t>(n) * E; k += grid_stride()) {
    const int64_t s = k / E, g = k - s * E;
    X[k] = Z[order[base + s] * E + g];
  }
}

// The column of k is carried along the grid-stride loop (one 64-bit
// remainder per thread, not per element: review, train kernels).
__global__ void bias_activation_kernel(double* __restrict__ A, const double* __restrict__ b,
                                       double* __restrict__ Hs, int n, int H, Activation act) {
  const int64_t start = first_index(), stride = grid_stride();
  const int step = static_cast<int>(stride % H);
  int col = static_cast<int>(start % H);
  for (int64_t k = start; k < static_cast<int64_t>(n) * H; k += stride) {
    const double a = A[k] + b[col];
    A[k] = a;
    Hs[k] = activation_value(act, a);
    col += step;
    if (col >= H) col -= H;
  }
}

constexpr int kSoftmaxThreads = 128;

// One thread per sample. With block_partials, each block also reduces its
// samples' loss and correct count with cub::BlockReduce (a fixed tree).
__global__ void __launch_bounds__(kSoftmaxThreads)
    softmax_xent_kernel(double* __restrict__ logits, const double* __restrict__ c,
                        const int32_t* __restrict__ y, int n, int M, double* __restrict__ delta,
                        double* __restrict__ block_partials) {
  using BlockReduce = cub::BlockReduce<double, kSoftmaxThreads>;
  __shared__ typename BlockReduce::TempStorage temp;

  const int s = blockIdx.x * kSoftmaxThreads + threadIdx.x;
  double loss = 0.0, correct = 0.0;
  if (s < n) {
    double* lg = logits + static_cast<size_t>(s) * M;
    for (int a = 0; a < M; ++a) lg[a] += c[a];
    int ok = 0;
    loss = softmax_xent_backward(lg, M, y[s], delta + static_cast<size_t>(s) * M, &ok);
    correct = ok;
  }
  if (!block_partials) return;  // the same for every thread of the block
  const double block_loss = BlockReduce(temp).Sum(loss);  // valid in thread 0
  __syncthreads();                                        // temp is reused
  const double block_correct = BlockReduce(temp).Sum(correct);
  if (threadIdx.x == 0) {
    block_partials[2 * blockIdx.x] = block_loss;
    block_partials[2 * blockIdx.x + 1] = block_correct;
  }
}

// totals[comp] += Σ_b block_partials[b][comp], b in increasing order.
__global__ void add_partials_kernel(const double* __restrict__ block_partials, int nblocks,
                                    double* __restrict__ totals) {
  const int comp = threadIdx.x;
  if (comp >= 2) return;
  double total = 0.0;
  for (int b = 0; b < nblocks; ++b) total += block_partials[2 * b + comp];
  totals[comp] += total;
}

// Column sums over n rows: a block of kSumThreads owns `width` adjacent
// columns (blockDim.x, 4 to 32) and its kSumThreads/width rows of threads
// (lanes) stride down the rows, so a warp reads whole 32-byte sectors of
// several rows; then lane 0 adds the lanes' partial sums in lane order
// (fixed, so bitwise reproducible). The width grows from 4 only while
// ⌈cols/width⌉ stays ≥ 512 blocks: 512 blocks at H = 2048 and 3 for
// M = 10, where 32-wide blocks gave 64 and 1 (review S5).
// kBackward scales V by σ'(A) in place first (dA ∘ σ'(A)); otherwise each
// term is scale·V.
constexpr int kSumThreads = 256;

int sum_width(int cols) {
  int width = 4;
  while (width < 32 && cols / (2 * width) >= 512) width *= 2;
  return width;
}

template <bool kBackward>
__global__ void __launch_bounds__(kSumThreads)
    column_sums_kernel(double* __restrict__ V, const double* __restrict__ A, Activation act, int n,
                       int cols, double scale, bool accumulate, double* __restrict__ out) {
  __shared__ double lane_sums[kSumThreads];
  const int width = blockDim.x, lanes = blockDim.y;
  const int j = blockIdx.x * width + threadIdx.x;
  double sum = 0.0;
  if (j < cols) {
    for (int s = threadIdx.y; s < n; s += lanes) {
      const size_t k = static_cast<size_t>(s) * cols + j;
      double v = V[k];
      if constexpr (kBackward) {
        v *= activation_derivative(act, A[k]);
        V[k] = v;
      } else {
        v = scale * v;
      }
      sum += v;
    }
  }
  lane_sums[threadIdx.y * width + threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && j < cols) {
    double total = 0.0;
    for (int r = 0; r < lanes; ++r) total += lane_sums[r * width + threadIdx.x];
    out[j] = accumulate ? out[j] + total : total;
  }
}

// The L2 term of L(θ) decays U and W (flat indices below L.b), not b and c.
// Rule: optimizer.hpp's, the same update the CPU loop runs.
template <class Rule>
__global__ void update_kernel(UpdateArgs args) {
  const OptimizerConfig& cfg = args.config;
  // Per thread from the device step count, so a replayed step needs no host value.
  const StepScalars t = Rule::scalars(cfg, args.counter ? args.counter->step : 0);
  for (int64_t k = first_index(); k < args.L.size; k += grid_stride()) {
    double g = args.grad[k];
    if (cfg.l2 > 0 && k < args.L.b) g += cfg.l2 * args.theta[k];
    double w = args.theta[k];
    double s0 = Rule::states > 0 ? args.state[0][k] : 0.0;
    double s1 = Rule::states > 1 ? args.state[1][k] : 0.0;
    Rule::update(cfg, t, w, g, s0, s1);
    if (Rule::states > 0) args.state[0][k] = s0;
    if (Rule::states > 1) args.state[1][k] = s1;
    args.theta[k] = w;
  }
}

__global__ void append_ones_kernel(const double* __restrict__ src, int rows, int cols,
                                   double* __restrict__ dst) {
  const int width = cols + 1;
  for (int64_t k = first_index(); k < static_cast<int64_t>(rows) * width; k += grid_stride()) {
    const int64_t r = k / width, col = k - r * width;
    dst[k] = col < cols ? src[r * cols + col] : 1.0;
  }
}

}  // namespace

int grid_for(int64_t total) {
  return static_cast<int>(std::clamp<int64_t>((total + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

// Row-major C is column-major Cᵀ, so C = op(A)·op(B) is Cᵀ = op(B)ᵀ·op(A)ᵀ:
// cuBLAS gets B first, with the same transpose flags, and m = cols, n = rows.
void gemm_rm(cublasHandle_t handle, bool trans_a, bool trans_b, int rows, int cols, int inner,
             double alpha, const double* A, int lda, const double* B, int ldb, double beta, double* C,
             int ldc) {
  TS_CUBLAS_CHECK(cublasDgemm(handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                              trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, cols, rows, inner, &alpha, B, ldb,
                              A, lda, &beta, C, ldc));
  cudaStream_t stream = nullptr;
  TS_CUBLAS_CHECK(cublasGetStream(handle, &stream));
  TS_CUDA_LAUNCHED(stream, "cublasDgemm (gemm_rm)");
}

FlatLayout flat_layout(const ParamLayout& L) {
  FlatLayout f;
  f.M = static_cast<int>(L.M);
  f.H = static_cast<int>(L.H);
  f.E = static_cast<int>(L.E);
  f.W = L.W();
  f.b = L.b();
  f.c = L.c();
  f.size = L.size();
  return f;
}

void set_step_counter(StepCounter* counter, int64_t batch, int64_t step, cudaStream_t stream) {
  set_counter_kernel<<<1, 1, 0, stream>>>(counter, batch, step);
  TS_CUDA_LAUNCHED(stream, "set_counter_kernel");
}

void advance_step_counter(StepCounter* counter, cudaStream_t stream) {
  advance_counter_kernel<<<1, 1, 0, stream>>>(counter);
  TS_CUDA_LAUNCHED(stream, "advance_counter_kernel");
}

void gather_batch(const double* Z, const int32_t* labels, int E, const int64_t* order,
                  const StepCounter* counter, int64_t stride, int n, double* X, int32_t* y,
                  int64_t* rows, cudaStream_t stream) {
  gather_kernel<<<grid_for(static_cast<int64_t>(n) * std::max(E, 1)), kThreads, 0, stream>>>(
      Z, labels, E, order, counter, stride, n, X, y, rows);
  TS_CUDA_LAUNCHED(stream, "gather_kernel");
}

void bias_activation(double* A, const double* b, double* Hs, int n, int H, const Activation& act,
                     cudaStream_t stream) {
  bias_activation_kernel<<<grid_for(static_cast<int64_t>(n) * H), kThreads, 0, stream>>>(A, b, Hs, n,
                                                                                        H, act);
  TS_CUDA_LAUNCHED(stream, "bias_activation_kernel");
}

size_t softmax_partials_size(int n) {
  return 2 * static_cast<size_t>((n + kSoftmaxThreads - 1) / kSoftmaxThreads);
}

void softmax_xent(double* logits, const double* c, const int32_t* y, int n, int M, double* delta,
                  double* block_partials, double* totals, cudaStream_t stream) {
  if (n == 0) return;
  const int nblocks = (n + kSoftmaxThreads - 1) / kSoftmaxThreads;
  softmax_xent_kernel<<<nblocks, kSoftmaxThreads, 0, stream>>>(logits, c, y, n, M, delta,
                                                               block_partials);
  TS_CUDA_LAUNCHED(stream, "softmax_xent_kernel");
  if (!block_partials) return;
  add_partials_kernel<<<1, 32, 0, stream>>>(block_partials, nblocks, totals);
  TS_CUDA_LAUNCHED(stream, "add_partials_kernel");
}

void column_sums(const double* V, int n, int cols, double scale, bool accumulate, double* out,
                 cudaStream_t stream) {
  const int width = sum_width(cols);
  const dim3 block(width, kSumThreads / width);
  // The forward instance only reads V; the kernel's V is non-const for the backward one.
  column_sums_kernel<false><<<(cols + width - 1) / width, block, 0, stream>>>(
      const_cast<double*>(V), nullptr, Activation{}, n, cols, scale, accumulate, out);
  TS_CUDA_LAUNCHED(stream, "column_sums_kernel");
}

void activation_backward_sums(double* dA, const double* A, int n, int H, const Activation& act,
                              bool accumulate, double* out, cudaStream_t stream) {
  const int width = sum_width(H);
  const dim3 block(width, kSumThreads / width);
  column_sums_kernel<true><<<(H + width - 1) / width, block, 0, stream>>>(dA, A, act, n, H, 1.0,
                                                                               accumulate, out);
  TS_CUDA_LAUNCHED(stream, "column_sums_kernel (activation backward)");
}

void optimizer_update(const UpdateArgs& args, cudaStream_t stream) {
  const int grid = grid_for(args.L.size);
  visit_optimizer(args.config.kind, [&](auto rule) {
    using Rule = decltype(rule);
    if (Rule::preconditioned)  // its step applies the blocks first: RngdCuda::step
      throw std::logic_error(std::string("optimizer_update: ") + Rule::name + " steps go through its preconditioner");
    update_kernel<Rule><<<grid, kThreads, 0, stream>>>(args);
  });
  TS_CUDA_LAUNCHED(stream, "update_kernel");
}

void append_ones_column(const double* src, int rows, int cols, double* dst, cudaStream_t stream) {
  append_ones_kernel<<<grid_for(static_cast<int64_t>(rows) * (cols + 1)), kThreads, 0, stream>>>(
      src, rows, cols, dst);
  TS_CUDA_LAUNCHED(stream, "append_ones_kernel");
}

}  // namespace taylorscope::cuda
