// KeepCurrentCudaDevice (cuda_backend.hpp): the caller's current device,
// selected again when an engine call is over.
#include <cuda_runtime.h>

#include "taylorscope/cuda_backend.hpp"

namespace taylorscope {

KeepCurrentCudaDevice::KeepCurrentCudaDevice() {
  int device = -1;
  if (cudaGetDevice(&device) == cudaSuccess)
    device_ = device;
  else
    (void)cudaGetLastError();  // no GPU here: nothing to keep, and no error left behind
}

KeepCurrentCudaDevice::~KeepCurrentCudaDevice() {
  if (device_ >= 0 && cudaSetDevice(device_) != cudaSuccess) (void)cudaGetLastError();
}

}  // namespace taylorscope
