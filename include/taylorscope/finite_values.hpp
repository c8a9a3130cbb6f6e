// NaN and Inf are never results: every array that comes from a file (data,
// θ, a checkpoint) is checked once on load, and the refusal names the file,
// the array and how many values are not finite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "taylorscope/data_values.hpp"
#include "taylorscope/hd.hpp"

namespace taylorscope {

// NaN or ±Inf, from the exponent bits: the same answer on host and device,
// and under any floating-point flags (-ffinite-math-only would fold a
// std::isfinite to true).
TS_HD bool is_finite_value(double x) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  return (bits & 0x7ff0000000000000ULL) != 0x7ff0000000000000ULL;
}

int64_t count_nonfinite(const double* values, size_t n);
// The same count of n values in CUDA device `device`'s memory (a CUB
// reduction of is_finite_value; kernels/cuda/finite_values_cuda.cu). Throws
// InputError in a build without CUDA.
int64_t count_nonfinite_on_device(const double* values, size_t n, int device);

// Throws InputError "FILE: ARRAY holds K non-finite values (NaN or Inf) of N"
// when any value is NaN or ±Inf.
void require_finite(const double* values, size_t n, const std::string& file, const std::string& array);
inline void require_finite(const std::vector<double>& values, const std::string& file, const std::string& array) {
  require_finite(values.data(), values.size(), file, array);
}
// The same check of a data set's values wherever they are (host memory, or
// a GPU's for a borrowed device array), with the same message.
void require_finite(const DataValues& values, const std::string& file, const std::string& array);

}  // namespace taylorscope
