#include "taylorscope/checksum.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace taylorscope {
namespace {

uLong update(uLong crc, const char* data, size_t n) {
  while (n > 0) {  // zlib takes uInt lengths
    const uInt part = static_cast<uInt>(std::min<size_t>(n, size_t(1) << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), part);
    data += part;
    n -= part;
  }
  return crc;
}

}  // namespace

uint32_t crc32_of(const char* data, size_t n) {
  return static_cast<uint32_t>(update(crc32(0L, Z_NULL, 0), data, n));
}

uint32_t crc32_continue(uint32_t crc, const char* data, size_t n) { return static_cast<uint32_t>(update(crc, data, n)); }

FileChecksum checksum_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open to checksum it: " + std::strerror(errno));
  FileChecksum sum;
  uLong crc = crc32(0L, Z_NULL, 0);
  std::vector<char> chunk(size_t(1) << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<size_t>(in.gcount());
    crc = update(crc, chunk.data(), got);
    sum.bytes += static_cast<int64_t>(got);
  }
  if (in.bad()) throw std::runtime_error(path + ": read error while checksumming it");
  sum.crc32 = static_cast<uint32_t>(crc);
  return sum;
}

}  // namespace taylorscope
