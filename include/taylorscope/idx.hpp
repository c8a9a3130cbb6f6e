// IDX files (the MNIST container): big-endian header, magic 0x0000TTDD with
// element type TT and dimension count DD. Read through zlib, so .gz and plain
// files are both accepted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taylorscope {

struct IdxArray {
  std::vector<int64_t> dims;
  int type_code = 0;           // 0x08 ubyte … 0x0E double
  std::vector<double> values;  // converted to float64
};

// Throws InputError: "PATH: bad magic …", "PATH: truncated: …", etc.
IdxArray read_idx(const std::string& path);

}  // namespace taylorscope
