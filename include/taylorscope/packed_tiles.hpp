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
