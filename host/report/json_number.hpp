// Numbers in the reports' JSON and tables, shared by every report writer.
#pragma once

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace taylorscope {

// JSON has no inf/NaN: write null so readers fail loudly instead of parsing garbage.
inline nlohmann::json json_number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

// |a − b| / max(|a|, |b|); NaN when either is not finite (no difference to report).
inline double rel_diff(double a, double b) {
  if (!std::isfinite(a) || !std::isfinite(b)) return std::nan("");
  const double scale = std::max(std::fabs(a), std::fabs(b));
  return scale > 0 ? std::fabs(a - b) / scale : 0.0;
}

}  // namespace taylorscope
