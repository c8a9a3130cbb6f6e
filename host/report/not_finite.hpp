// How the reports show a number that is not finite. Data and θ are checked
// finite on load (and by expand()), so a non-finite result is float64
// overflowing on the way: a table prints kOverflowMark in its place, the JSON
// null, and the report's `warnings` list names the keys with kNotFinite.
#pragma once

#include <cmath>
#include <string>
#include <vector>

namespace taylorscope {

inline constexpr const char* kOverflowMark = "overflow";
inline constexpr const char* kNotFinite = "not finite (overflow in float64)";

// "3..8", "1, 2, 5..7": ascending indices as a reader scans them.
inline std::string index_list(const std::vector<int>& k) {
  std::string s;
  for (size_t i = 0; i < k.size();) {
    size_t j = i;
    while (j + 1 < k.size() && k[j + 1] == k[j] + 1) ++j;
    if (!s.empty()) s += ", ";
    s += std::to_string(k[i]);
    if (j > i) s += (j == i + 1 ? ", " : "..") + std::to_string(k[j]);
    i = j + 1;
  }
  return s;
}

// The positions of v, counted from `first`, that hold NaN or ±Inf.
inline std::vector<int> nonfinite_indices(const std::vector<double>& v, int first = 0) {
  std::vector<int> k;
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) k.push_back(first + static_cast<int>(i));
  return k;
}

}  // namespace taylorscope
