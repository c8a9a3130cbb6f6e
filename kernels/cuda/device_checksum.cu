// crc32_on_device (checksum.hpp): the CRC-32 of a caller's array in a GPU's
// memory, so that a training run on a CUDA tensor records its data's
// identity as a run on host arrays does (fingerprint_arrays): a resumed run
// refuses different values of the same shape. zlib's CRC runs on the host;
// the values come over in chunks, never all at once.
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "taylorscope/checksum.hpp"
#include "taylorscope/cuda_backend.hpp"

namespace taylorscope {

uint32_t crc32_on_device(const void* data, size_t n, int device) {
  constexpr size_t kChunkBytes = size_t{8} << 20;
  uint32_t crc = crc32_of(nullptr, 0);
  if (n == 0) return crc;
  cuda::require_device(device);
  const KeepCurrentCudaDevice keep;
  TS_CUDA_CHECK(cudaSetDevice(device));
  std::vector<char> chunk(std::min(n, kChunkBytes));
  const char* from = static_cast<const char*>(data);
  for (size_t at = 0; at < n; at += chunk.size()) {
    const size_t part = std::min(chunk.size(), n - at);
    TS_CUDA_CHECK(cudaMemcpy(chunk.data(), from + at, part, cudaMemcpyDeviceToHost));
    crc = crc32_continue(crc, chunk.data(), part);
  }
  return crc;
}

}  // namespace taylorscope
