// libFuzzer target: load_dataset, the spec-to-rows path behind --data. The
// first input byte chooses the scheme and the options (bits below), the
// second the --limit/--classes values, the rest splits into the images (or
// embeddings) file and the labels file at a separator (fuzz_support.hpp).
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>

#include "fuzz_support.hpp"
#include "taylorscope/dataset.hpp"

using namespace taylorscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto& s = fuzz::scratch();
  const uint8_t bits = data[0], values = data[1];
  const auto parts = fuzz::split_files(data + 2, size - 2);
  const bool npy = bits & 1;
  const std::string images = s.write(npy ? "z.npy" : "images", parts[0]);
  const std::string labels =
      s.write(npy ? "y.npy" : "labels", parts.size() > 1 ? parts[1] : std::string_view());
  DataOptions o;
  o.scale = (bits >> 1) % 3 - 1;  // default, off, on
  o.standardize = bits & 8;
  o.pad32 = bits & 16;
  o.limit = bits & 32 ? 1 + values % 4 : 0;
  o.classes = bits & 64 ? values / 4 % 12 : 0;
  o.flag = bits & 128 ? "--eval" : "--data";
  const std::string spec = (npy ? "npy:" : "idx:") + images + "," + labels;
  fuzz::expect_clean_refusal({images, labels, "--classes"}, [&] {
    const Dataset d = load_dataset(spec, o);
    // What the engine relies on once a set is accepted.
    if (d.N <= 0 || d.E <= 0 || d.M < 2) fuzz::fail("accepted an empty or one-class set");
    if (d.Z.size() != static_cast<size_t>(d.N) * static_cast<size_t>(d.E) ||
        d.labels.size() != static_cast<size_t>(d.N))
      fuzz::fail("rows do not match N and E");
    for (double z : d.Z)
      if (!std::isfinite(z)) fuzz::fail("accepted a non-finite value");
    int64_t total = 0;
    for (int64_t n : d.class_counts) {
      if (n <= 0) fuzz::fail("accepted an empty class");
      total += n;
    }
    if (total != d.N) fuzz::fail("class counts do not add up to N");
    if (d.sources.size() != 2 ||
        d.sources[0].bytes != static_cast<int64_t>(std::filesystem::file_size(images)))
      fuzz::fail("sources do not describe the files read");
  });
  return 0;
}
