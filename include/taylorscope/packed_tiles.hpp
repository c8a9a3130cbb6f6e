// Packed symmetric storage of an order-n tensor over E indices (n = 1..4),
// walked tile by tile (docs/math.md §6).
//
// Packed storage keeps one element per multiset γ1 ≤ … ≤ γn. A tile fixes the
// prefix γ1 … γ_{n−2} and holds every (γ_{n−1}, γ_n) with L ≤ γ_{n−1} ≤ γ_n < E,
// where L = γ_{n−2} (L = 0 for n ≤ 2): the upper triangle of one (E−L)×(E−L)
// matrix, which is what a GEMM produces. For n = 1 the single tile is the
// vector γ1 ∈ [0, E). An element stands for n!/∏(run lengths)! elements of
// the full tensor, its multiplicity; the multiplicities of one class sum to E^n.
#pragma once

#include <cstdint>
#include <climits>
#include <vector>

#include "taylorscope/hd.hpp"

namespace taylorscope {

constexpr int kMaxTensorOrder = 4;

struct TilePrefix {
  int64_t L = 0;  // γ_{n−2}: the smallest index the tile's pair may take
  int run = 0;    // how many prefix indices equal L (0 for n ≤ 2)
  int64_t g[2] = {0, 0};  // the prefix γ1 … γ_{n−2}
};

// The tiles of order n in a fixed order: prefixes in lexicographic order.
std::vector<TilePrefix> tile_prefixes(int64_t E, int n);

// Distinct elements per class, C(E+n−1, n), as a double (exact below 2^53).
double packed_size(int64_t E, int n);

// ---- tiles shared among the ranks of a run (docs/scaling.md) ----

// The work of a tile relative to the others of its sweep: rows·cols of its
// square, (E − L)² (E for n = 1). Every class GEMM of the tile costs
// 2·rows·cols FLOPs per GEMM row (N rows of data for J, M·H for T), and the
// elements it reduces are ~rows·cols/2 per class, so one number ranks the
// tiles whatever the sources. It depends on the shape alone.
double tile_cost(int64_t E, int n, const TilePrefix& p);

// A contiguous run [begin, end) of the tile order of tile_prefixes(E, n).
// The default is every tile (end is clamped to the count).
struct TileRange {
  int64_t begin = 0;
  int64_t end = INT64_MAX;
};

// The tiles of order n cut into `ranks` contiguous runs in tile order, with
// summed tile_cost as equal as whole tiles allow: boundary r (0 < r < ranks)
// is the tile boundary whose cost before it is nearest r/ranks of the total,
// so each run's cost is within the largest tile's cost of total/ranks.
// Returns ranks + 1 boundaries, 0 first and the tile count last; run r is
// [b_r, b_{r+1}), possibly empty (n ≤ 2 has one tile). It depends on E, n
// and ranks alone, so every rank computes the same cut.
std::vector<int64_t> tile_partition(int64_t E, int n, int ranks);
TileRange tile_share(int64_t E, int n, int rank, int ranks);

TS_HD double small_factorial(int k) {
  double f = 1;
  for (int i = 2; i <= k; ++i) f *= i;
  return f;
}

// Multiplicity of the element (prefix, i, j), L ≤ i ≤ j, of an order-n ≥ 2
// tile whose prefix ends in `run` copies of L. Every other prefix run has
// length 1 for n ≤ 4, so only the run at L and the pair matter.
TS_HD double tile_multiplicity(int n, int run, int64_t L, int64_t i, int64_t j) {
  const int pair_run = i == j ? 2 : 1;  // the run that holds i (j joins it when equal)
  const double div = (run > 0 && i == L) ? small_factorial(run + pair_run)
                                         : small_factorial(run) * small_factorial(pair_run);
  return small_factorial(n) / div;
}

}  // namespace taylorscope
