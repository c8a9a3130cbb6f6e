// libFuzzer target: the npy reader on arbitrary bytes, as floats (data,
// parameters) and as integers (labels).
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "taylorscope/npy.hpp"

using namespace taylorscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& s = fuzz::scratch();
  const std::string path = s.write("input.npy", {reinterpret_cast<const char*>(data), size});
  fuzz::expect_clean_refusal({path}, [&] {
    const NpyArray a = read_npy_floats(path);
    if (static_cast<uint64_t>(a.size()) != a.values.size()) fuzz::fail("floats do not match the shape");
  });
  fuzz::expect_clean_refusal({path}, [&] {
    std::vector<int64_t> shape;
    const std::vector<int64_t> v = read_npy_integers(path, &shape);
    NpyArray a;
    a.shape = shape;
    if (static_cast<uint64_t>(a.size()) != v.size()) fuzz::fail("integers do not match the shape");
  });
  return 0;
}
