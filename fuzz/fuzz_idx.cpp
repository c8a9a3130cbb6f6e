// libFuzzer target: read_idx on arbitrary bytes (plain or gzip: zlib passes
// plain files through, so one target covers both).
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "taylorscope/idx.hpp"

using namespace taylorscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& s = fuzz::scratch();
  const std::string path = s.write("input.idx", {reinterpret_cast<const char*>(data), size});
  fuzz::expect_clean_refusal({path}, [&] {
    const IdxArray a = read_idx(path);
    // What the loader relies on: the values are exactly the dimensions' product.
    uint64_t count = 1;
    for (int64_t d : a.dims) {
      if (d < 0 || __builtin_mul_overflow(count, static_cast<uint64_t>(d), &count))
        fuzz::fail("accepted dimensions whose product overflows");
    }
    if (count != a.values.size()) fuzz::fail("values do not match the dimensions");
  });
  return 0;
}
