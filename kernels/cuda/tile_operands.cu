// The operands of the tile GEMMs that the sweep builds (tile_plan.hpp):
//
//   Y[r][k·c0 + j] = (Π_{g ∈ prefix k} X[r][g]) · X[r][L0 + j]   (n ≥ 3, once per group)
//   UW[α][h][e]    = U[α][h] · W[h][e]                           (T, once per upload)
//
// Both are memory-bound element-wise maps. Y is written row by row with
// consecutive threads on consecutive columns (coalesced); a thread keeps
// one column and walks rows with a stride of gridDim.y.
#include "cuda/cuda_check.hpp"
#include "cuda/tile_operands.cuh"

#include <algorithm>

namespace taylorscope::cuda {
namespace {

constexpr int kOperandThreads = 256;
constexpr int64_t kOperandBlocks = 8192;  // enough blocks to fill the GPU; the rest loop

__global__ void __launch_bounds__(kOperandThreads)
    scale_rows_kernel(const double* __restrict__ X, int64_t R, int E, int n,
                      const PrefixEntry* __restrict__ prefixes, int count, int L0, int c0,
                      double* __restrict__ Y, int ldy) {
  const int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // column of Y
  if (q >= static_cast<int64_t>(count) * c0) return;
  const int k = static_cast<int>(q / c0), j = static_cast<int>(q - static_cast<int64_t>(k) * c0);
  const PrefixEntry p = prefixes[k];
  for (int64_t r = blockIdx.y; r < R; r += gridDim.y)
    Y[r * ldy + q] = scaled_entry(X + r * E, n, p, L0, j);
}

__global__ void class_weighted_rows_kernel(const double* __restrict__ U, const double* __restrict__ W,
                                           int64_t H, int64_t E, int64_t total, double* __restrict__ UW) {
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = idx / E, e = idx - row * E;  // row = α·H + h
    UW[idx] = U[row] * W[(row % H) * E + e];
  }
}

}  // namespace

void scale_rows_by_prefix(const double* X, int64_t R, int E, int n, const PrefixEntry* prefixes, int count, int L0,
                          int c0, double* Y, int ldy, cudaStream_t stream) {
  const int64_t columns = static_cast<int64_t>(count) * c0;
  if (R == 0 || columns == 0) return;
  const int64_t bx = (columns + kOperandThreads - 1) / kOperandThreads;
  const int64_t by = std::clamp<int64_t>(kOperandBlocks / bx, 1, std::min<int64_t>(R, 65535));
  scale_rows_kernel<<<dim3(static_cast<unsigned>(bx), static_cast<unsigned>(by)), kOperandThreads, 0, stream>>>(
      X, R, E, n, prefixes, count, L0, c0, Y, ldy);
  TS_CUDA_LAUNCHED(stream, "scale_rows_kernel");
}

void class_weighted_rows(const double* U, const double* W, int M, int64_t H, int64_t E, double* UW,
                         cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(M) * H * E;
  if (total == 0) return;
  const int64_t blocks = std::min<int64_t>((total + kOperandThreads - 1) / kOperandThreads, kOperandBlocks);
  class_weighted_rows_kernel<<<static_cast<unsigned>(blocks), kOperandThreads, 0, stream>>>(U, W, H, E, total, UW);
  TS_CUDA_LAUNCHED(stream, "class_weighted_rows_kernel");
}

}  // namespace taylorscope::cuda
