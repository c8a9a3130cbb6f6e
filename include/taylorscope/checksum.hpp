// zlib's CRC-32, the checksum of checkpoints, parameter manifests and the
// data files a run's identity records (the same value Python's
// zlib.crc32(open(f, 'rb').read()) gives).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace taylorscope {

uint32_t crc32_of(const char* data, size_t n);

struct FileChecksum {
  int64_t bytes = 0;
  uint32_t crc32 = 0;
};

// The file's size and CRC-32, read in 1 MiB chunks. Throws
// std::runtime_error naming the path when it cannot be read.
FileChecksum checksum_file(const std::string& path);

}  // namespace taylorscope
