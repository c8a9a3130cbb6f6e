// count_nonfinite_on_device (finite_values.hpp): how many of n doubles in a
// GPU's memory are NaN or ±Inf. The data checks of a borrowed device array
// (a CUDA tensor handed to expand(), docs/python.md) run where the values
// are, so refusing non-finite data never copies them to the host. The
// per-element test is is_finite_value, the one the host count uses.
#include <cub/device/device_reduce.cuh>
#include <cuda/std/functional>

#include <cstdint>
#include <string>

#include "cuda/cuda_check.hpp"
#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/finite_values.hpp"

namespace taylorscope {
namespace {

struct NonfiniteIndicator {
  __device__ int64_t operator()(double x) const { return is_finite_value(x) ? 0 : 1; }
};

}  // namespace

int64_t count_nonfinite_on_device(const double* values, size_t n, int device) {
  if (n == 0) return 0;
  cuda::require_device(device);
  const KeepCurrentCudaDevice keep;
  // The first read of a caller's device array: a pointer that is not in
  // this device's memory (a wrong DLPack device id) would fault in the
  // reduction, and a fault poisons the whole process's CUDA context, the
  // caller's framework's included. The runtime can say so first.
  cudaPointerAttributes where{};
  TS_CUDA_CHECK(cudaPointerGetAttributes(&where, values));
  if (!((where.type == cudaMemoryTypeDevice || where.type == cudaMemoryTypeManaged) && where.device == device))
    throw InputError("the values handed to the engine as cuda:" + std::to_string(device) +
                     " data are not in that device's memory");
  TS_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t stream = nullptr;
  TS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  void* scratch = nullptr;
  int64_t* count = nullptr;
  size_t scratch_bytes = 0;
  int64_t bad = 0;
  // Free what was allocated whether or not a call below throws.
  auto release = [&] {
    if (scratch) cudaFree(scratch);
    if (count) cudaFree(count);
    cudaStreamDestroy(stream);
  };
  try {
    TS_CUDA_CHECK(cub::DeviceReduce::TransformReduce(nullptr, scratch_bytes, values, count, n,
                                                     ::cuda::std::plus<int64_t>{}, NonfiniteIndicator{},
                                                     int64_t{0}, stream));
    TS_CUDA_CHECK(cudaMalloc(&scratch, scratch_bytes));
    TS_CUDA_CHECK(cudaMalloc(&count, sizeof(int64_t)));
    TS_CUDA_CHECK(cub::DeviceReduce::TransformReduce(scratch, scratch_bytes, values, count, n,
                                                     ::cuda::std::plus<int64_t>{}, NonfiniteIndicator{},
                                                     int64_t{0}, stream));
    TS_CUDA_LAUNCHED(stream, "count of non-finite values");
    TS_CUDA_CHECK(cudaMemcpyAsync(&bad, count, sizeof bad, cudaMemcpyDeviceToHost, stream));
    TS_CUDA_CHECK(cudaStreamSynchronize(stream));
  } catch (...) {
    release();
    throw;
  }
  release();
  return bad;
}

}  // namespace taylorscope
