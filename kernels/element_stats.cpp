// Finishing the streamed moments of element_stats.hpp into the reported
// statistics, and the tile walk of packed_tiles.hpp.
#include "taylorscope/element_stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/packed_tiles.hpp"

namespace taylorscope {

ElementStats finish_stats(const MomentAccumulator& a) {
  ElementStats s;
  s.count = a.n;
  s.sum = a.sum;
  s.nonfinite = a.nonfinite;
  if (a.n <= 0) return s;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (a.nonfinite > 0) {
    s.min = s.max = s.mean = s.std = s.skewness = s.excess_kurtosis = s.frac_negative = s.frac_zero = nan;
    return s;
  }
  s.min = a.min;
  s.max = a.max;
  s.mean = a.mean;
  const double var = a.M2 / a.n;
  s.std = std::sqrt(var);
  s.skewness = var > 0 ? (a.M3 / a.n) / (var * s.std) : nan;
  s.excess_kurtosis = var > 0 ? (a.M4 / a.n) / (var * var) - 3.0 : nan;
  s.frac_negative = a.negative / a.n;
  s.frac_zero = a.zero / a.n;
  return s;
}

HistogramRange histogram_range(const ElementStats& s, int bins) {
  if (s.max > s.min && std::isfinite(s.max - s.min)) return {s.min, s.max, bins};
  if (!std::isfinite(s.min)) return {0.0, 0.0, bins};  // no histogram: every element lands in bin 0
  // Every element equal (or none): a range around the value, so edges still
  // increase and the one occupied bin sits in the middle.
  const double pad = 0.5 * std::max(1.0, std::fabs(s.min));
  return {s.min - pad, s.min + pad, bins};
}

const char* stream_name(int stream) {
  switch (stream) {
    case kStreamJ: return "J";
    case kStreamT: return "T";
    case kStreamJT: return "JT";
  }
  throw std::invalid_argument("stream_name: no stream " + std::to_string(stream));
}

std::vector<TilePrefix> tile_prefixes(int64_t E, int n) {
  if (n < 1 || n > kMaxTensorOrder) throw std::invalid_argument("tile_prefixes: order must be 1..4");
  std::vector<TilePrefix> out;
  if (n <= 2) {
    out.push_back({});
  } else if (n == 3) {
    for (int64_t g = 0; g < E; ++g) out.push_back({g, 1, {g, 0}});
  } else {
    for (int64_t g1 = 0; g1 < E; ++g1)
      for (int64_t g2 = g1; g2 < E; ++g2) out.push_back({g2, g1 == g2 ? 2 : 1, {g1, g2}});
  }
  return out;
}

double packed_size(int64_t E, int n) {
  double c = 1;  // C(E+n−1, n) = Π_{i=1..n} (E−1+i)/i, exact in doubles for our sizes
  for (int i = 1; i <= n; ++i) c = c * static_cast<double>(E - 1 + i) / i;
  return std::round(c);
}

}  // namespace taylorscope
