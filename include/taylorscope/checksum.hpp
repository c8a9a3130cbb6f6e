// zlib's CRC-32, the checksum of checkpoints, parameter manifests and the
// data files a run's identity records (the same value Python's
// zlib.crc32(open(f, 'rb').read()) gives).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace taylorscope {

uint32_t crc32_of(const char* data, size_t n);
// The CRC-32 of what was checksummed to `crc` followed by data[0, n): chunks
// checksummed in turn give the whole's crc32_of.
uint32_t crc32_continue(uint32_t crc, const char* data, size_t n);
// crc32_of n bytes in CUDA device `device`'s memory, copied to the host in
// chunks (kernels/cuda/device_checksum.cu). Throws InputError in a build
// without CUDA.
uint32_t crc32_on_device(const void* data, size_t n, int device);

struct FileChecksum {
  int64_t bytes = 0;
  uint32_t crc32 = 0;
};

// The file's size and CRC-32, read in 1 MiB chunks. Throws
// std::runtime_error naming the path when it cannot be read.
FileChecksum checksum_file(const std::string& path);

}  // namespace taylorscope
