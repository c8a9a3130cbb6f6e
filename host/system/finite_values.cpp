#include "taylorscope/finite_values.hpp"

#include <cmath>

#include "taylorscope/errors.hpp"

namespace taylorscope {

int64_t count_nonfinite(const double* values, size_t n) {
  int64_t bad = 0;
  for (size_t i = 0; i < n; ++i) bad += std::isfinite(values[i]) ? 0 : 1;
  return bad;
}

void require_finite(const double* values, size_t n, const std::string& file, const std::string& array) {
  const int64_t bad = count_nonfinite(values, n);
  if (bad > 0)
    throw InputError(file + ": " + array + " holds " + std::to_string(bad) + " non-finite value" +
                     (bad == 1 ? "" : "s") + " (NaN or Inf) of " + std::to_string(n));
}

}  // namespace taylorscope
