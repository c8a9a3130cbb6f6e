// Draws of the counter-based generator computed on the device, for the GPU
// twin test of include/taylorscope/counter_rng.hpp (and for any command that
// wants a stream's draws on the GPU without writing its own kernel).
#include <vector>

#include "cuda/cuda_check.hpp"
#include "taylorscope/counter_rng.hpp"
#include "taylorscope/cuda_backend.hpp"

namespace taylorscope {
namespace {

__global__ void philox_draws_kernel(double* out, uint64_t count, uint64_t seed, uint64_t stream,
                                    uint64_t first, bool normal) {
  for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < count;
       i += uint64_t{gridDim.x} * blockDim.x)
    out[i] = normal ? philox_normal(seed, stream, first + i) : philox_uniform(seed, stream, first + i);
}

}  // namespace

std::vector<double> philox_draws_on_device(int device, uint64_t seed, uint64_t stream, uint64_t first,
                                           uint64_t count, bool normal) {
  cuda::require_device(device);
  TS_CUDA_CHECK(cudaSetDevice(device));
  std::vector<double> host(count);
  if (count == 0) return host;
  cuda::DeviceBuffer<double> out(count);
  const unsigned blocks = static_cast<unsigned>(count / 256 + 1 < 1024 ? count / 256 + 1 : 1024);
  philox_draws_kernel<<<blocks, 256>>>(out.data(), count, seed, stream, first, normal);
  TS_CUDA_LAUNCHED(0, "philox_draws_kernel");
  TS_CUDA_CHECK(cudaMemcpy(host.data(), out.data(), count * sizeof(double), cudaMemcpyDeviceToHost));
  return host;
}

}  // namespace taylorscope
