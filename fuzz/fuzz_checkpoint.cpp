// libFuzzer target: the training checkpoint reader. The input is a
// checkpoint without its trailing CRC-32; the harness appends the right one,
// so mutations reach the header and array parsing instead of dying at the
// checksum (a random flip fails the CRC, which the tests already cover).
#include <zlib.h>

#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "training/checkpoint.hpp"

using namespace taylorscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& s = fuzz::scratch();
  std::string bytes(reinterpret_cast<const char*>(data), size);
  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), data, static_cast<uInt>(size)));
  for (int k = 0; k < 4; ++k) bytes += static_cast<char>((crc >> (8 * k)) & 0xFF);
  const std::string path = s.write("checkpoint.bin", bytes);
  fuzz::expect_clean_refusal({path}, [&] {
    const Checkpoint ck = read_checkpoint(path);
    (void)ck;
  });
  return 0;
}
