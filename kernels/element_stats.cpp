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

double tile_cost(int64_t E, int n, const TilePrefix& p) {
  const double cols = static_cast<double>(E - p.L);
  return (n == 1 ? 1.0 : cols) * cols;
}

std::vector<int64_t> tile_partition(int64_t E, int n, int ranks) {
  if (ranks < 1) throw std::invalid_argument("tile_partition: ranks must be ≥ 1");
  const std::vector<TilePrefix> tiles = tile_prefixes(E, n);
  const int64_t count = static_cast<int64_t>(tiles.size());
  // before[t]: the cost of tiles 0..t−1. Sums of integers below 2^53: exact,
  // so the cut is the same on every rank and every machine.
  std::vector<double> before(count + 1, 0.0);
  for (int64_t t = 0; t < count; ++t) before[t + 1] = before[t] + tile_cost(E, n, tiles[t]);
  std::vector<int64_t> bounds(ranks + 1, 0);
  bounds[ranks] = count;
  for (int r = 1; r < ranks; ++r) {
    const double target = before[count] * r / ranks;
    // The first boundary at or past the target, or the one before it when
    // that is nearer (ties: the earlier); never before the previous cut.
    int64_t b = std::lower_bound(before.begin() + bounds[r - 1], before.end(), target) - before.begin();
    if (b > bounds[r - 1] && target - before[b - 1] <= before[b] - target) --b;
    bounds[r] = b;
  }
  return bounds;
}

TileRange tile_share(int64_t E, int n, int rank, int ranks) {
  if (rank < 0 || rank >= ranks) throw std::invalid_argument("tile_share: rank outside 0..ranks−1");
  const std::vector<int64_t> b = tile_partition(E, n, ranks);
  return {b[rank], b[rank + 1]};
}

double packed_size(int64_t E, int n) {
  double c = 1;  // C(E+n−1, n) = Π_{i=1..n} (E−1+i)/i, exact in doubles for our sizes
  for (int i = 1; i <= n; ++i) c = c * static_cast<double>(E - 1 + i) / i;
  return std::round(c);
}

}  // namespace taylorscope
