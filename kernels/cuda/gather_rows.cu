#include "cuda/gather_rows.cuh"

#include <algorithm>

#include "cuda/cuda_check.hpp"

namespace taylorscope::cuda {
namespace {

constexpr int kThreads = 256;
// Enough blocks to fill any current GPU several times over; each walks rows
// with a grid stride, so the grid never depends on N.
constexpr int64_t kMaxBlocks = 8192;

// One row per block at a time: the block's threads read consecutive doubles
// of the source row and write them consecutively (both coalesced).
__global__ void gather_rows_kernel(const double* __restrict__ src, const int64_t* __restrict__ order,
                                   int64_t rows, int64_t E, double* __restrict__ dst) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const double* from = src + order[r] * E;
    double* to = dst + r * E;
    for (int64_t j = threadIdx.x; j < E; j += blockDim.x) to[j] = from[j];
  }
}

}  // namespace

void gather_rows(const double* src, const int64_t* order, int64_t rows, int64_t E, double* dst,
                 cudaStream_t stream) {
  if (rows == 0 || E == 0) return;
  const auto blocks = static_cast<unsigned>(std::min(rows, kMaxBlocks));
  gather_rows_kernel<<<blocks, kThreads, 0, stream>>>(src, order, rows, E, dst);
  TS_CUDA_LAUNCHED(stream, "gather_rows");
}

void gather_rows(const double* src, const std::vector<int64_t>& order, int64_t E, double* dst, cudaStream_t stream) {
  if (order.empty() || E == 0) return;
  DeviceBuffer<int64_t> device_order(order.size());
  TS_CUDA_CHECK(cudaMemcpyAsync(device_order.data(), order.data(), order.size() * sizeof(int64_t),
                                cudaMemcpyHostToDevice, stream));
  gather_rows(src, device_order.data(), static_cast<int64_t>(order.size()), E, dst, stream);
  TS_CUDA_CHECK(cudaStreamSynchronize(stream));  // before device_order is freed
}

}  // namespace taylorscope::cuda
