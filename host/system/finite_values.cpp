#include "taylorscope/finite_values.hpp"

#include "taylorscope/errors.hpp"

namespace taylorscope {

namespace {

void refuse_nonfinite(int64_t bad, size_t n, const std::string& file, const std::string& array) {
  if (bad > 0)
    throw InputError(file + ": " + array + " holds " + std::to_string(bad) + " non-finite value" +
                     (bad == 1 ? "" : "s") + " (NaN or Inf) of " + std::to_string(n));
}

}  // namespace

int64_t count_nonfinite(const double* values, size_t n) {
  int64_t bad = 0;
  for (size_t i = 0; i < n; ++i) bad += is_finite_value(values[i]) ? 0 : 1;
  return bad;
}

void require_finite(const double* values, size_t n, const std::string& file, const std::string& array) {
  refuse_nonfinite(count_nonfinite(values, n), n, file, array);
}

void require_finite(const DataValues& values, const std::string& file, const std::string& array) {
  const int64_t bad = values.on_device()
                          ? count_nonfinite_on_device(values.device_data(), values.size(), values.device())
                          : count_nonfinite(values.data(), values.size());
  refuse_nonfinite(bad, values.size(), file, array);
}

}  // namespace taylorscope
