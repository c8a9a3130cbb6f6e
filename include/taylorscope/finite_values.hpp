// NaN and Inf are never results: every array that comes from a file (data,
// θ, a checkpoint) is checked once on load, and the refusal names the file,
// the array and how many values are not finite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace taylorscope {

int64_t count_nonfinite(const double* values, size_t n);

// Throws InputError "FILE: ARRAY holds K non-finite values (NaN or Inf) of N"
// when any value is NaN or ±Inf.
void require_finite(const double* values, size_t n, const std::string& file, const std::string& array);
inline void require_finite(const std::vector<double>& values, const std::string& file, const std::string& array) {
  require_finite(values.data(), values.size(), file, array);
}

}  // namespace taylorscope
