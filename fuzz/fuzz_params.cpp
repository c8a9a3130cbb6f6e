// libFuzzer target: load_params on a directory whose U.npy, W.npy, b.npy,
// c.npy and manifest params.json are the input's parts between separators
// (fuzz_support.hpp); parts the input does not reach are missing files (a set
// without a manifest is a numpy-written one, which loads too).
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "taylorscope/params.hpp"

using namespace taylorscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& s = fuzz::scratch();
  static const char* const kNames[] = {"U.npy", "W.npy", "b.npy", "c.npy", "params.json"};
  const auto parts = fuzz::split_files(data, size);
  for (size_t k = 0; k < 5; ++k) {
    if (k < parts.size()) s.write(kNames[k], parts[k]);
    else s.remove(kNames[k]);
  }
  fuzz::expect_clean_refusal({s.dir()}, [&] {
    const Params p = load_params(s.dir());
    // What every consumer of θ relies on: shapes agree with M, H, E.
    if (p.M <= 0 || p.H <= 0 || p.E <= 0) fuzz::fail("accepted an empty dimension");
    if (p.U.size() != static_cast<size_t>(p.M) * static_cast<size_t>(p.H) ||
        p.W.size() != static_cast<size_t>(p.H) * static_cast<size_t>(p.E) ||
        p.b.size() != static_cast<size_t>(p.H) || p.c.size() != static_cast<size_t>(p.M))
      fuzz::fail("accepted arrays that do not match M, H, E");
  });
  return 0;
}
