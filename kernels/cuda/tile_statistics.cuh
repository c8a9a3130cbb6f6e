// The element statistics of one tile group (docs/math.md §6) on the GPU: every
// packed element of the group's tiles, with its multiplicity, into the
// moments or the histograms of J, T and J∘T. See tile_statistics.cu; the
// per-element index arithmetic is here, shared with any host check of it.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "cuda/tile_plan.hpp"
#include "taylorscope/element_stats.hpp"
#include "taylorscope/hd.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/packed_tiles.hpp"

namespace taylorscope::cuda {

struct TileStatsArgs {
  int n = 0, M = 0, K = 0;   // order, classes, prefixes in the group
  int c0 = 0, ld = 0, L0 = 0;  // the group's squares (TileGroup)
  int64_t per_tile = 0;      // elements walked per tile: c0(c0+1)/2, or c0 for n = 1
  int64_t tile_stride = 0;   // doubles from tile (α, k) to the next
  const PrefixEntry* prefixes = nullptr;  // the group's K prefixes
  const double* S = nullptr;  // J's class sums, M·K tiles (null without J or from the cache)
  const double* T = nullptr;  // T, M·K tiles (null without T or from the cache)
  const double* class_count = nullptr;  // M counts as doubles (J)
  double N = 0;                         // Σ counts (J)
  bool on[3] = {false, false, false};   // streams J, T, J∘T
  // The group's part of the element cache: M·K·per_tile values per stream,
  // value (α, t) at α·K·per_tile + t. Written by a moments pass that has one,
  // read instead of S and T when from_cache.
  double* cache_J = nullptr;
  double* cache_T = nullptr;
  bool from_cache = false;
  // Moments: the running totals of each block, gridDim.x × 3 (block-major).
  MomentAccumulator* slots = nullptr;
  // Histograms: 3 × bins counts; equal-width bins over range[s].
  HistogramRange range[3];
  int bins = 0;
  unsigned long long* hist = nullptr;
};

// Element t < K·per_tile of a group: tile k, position (i, j) in the padded
// square, its offset in a class's K tiles and its multiplicity w.
struct TileElement {
  int k = 0, i = 0, j = 0;
  int64_t offset = 0;
  double w = 0;
};

// Walk order: tile by tile; within a tile the upper triangle column by column
// (t = j(j+1)/2 + i, i ≤ j), so consecutive t are consecutive in memory.
// False for the padding of a square: rows i < d_k = L_k − L0 of prefix k
// (and, as j ≥ i, the columns before d_k) are not elements of its tile.
TS_HD bool tile_element(const TileStatsArgs& a, int64_t t, TileElement& e) {
  e.k = static_cast<int>(t / a.per_tile);
  const int64_t rem = t - e.k * a.per_tile;
  if (a.n == 1) {  // the row 1 × E, one prefix
    e.i = 0;
    e.j = static_cast<int>(rem);
    e.w = 1.0;
    e.offset = e.k * a.tile_stride + rem;
    return true;
  }
  int64_t j = static_cast<int64_t>((sqrt(8.0 * static_cast<double>(rem) + 1.0) - 1.0) / 2.0);
  while (j * (j + 1) / 2 > rem) --j;  // exact whatever sqrt rounded to
  while ((j + 1) * (j + 2) / 2 <= rem) ++j;
  const int64_t i = rem - j * (j + 1) / 2;
  const PrefixEntry p = a.prefixes[e.k];
  if (i < p.L - a.L0) return false;
  e.i = static_cast<int>(i);
  e.j = static_cast<int>(j);
  e.w = tile_multiplicity(a.n, p.run, p.L, a.L0 + i, a.L0 + j);
  e.offset = e.k * a.tile_stride + j * a.ld + i;
  return true;
}

// Elements a lane takes into one run (run_moments, element_stats.hpp): its
// values stay in registers, three streams' worth when J and T are both on,
// hence fewer then.
constexpr int stats_run_length(bool J, bool T) { return J && T ? 4 : 8; }

// Where value (α, t) of a stream lies in the group's cache.
TS_HD int64_t cache_index(const TileStatsArgs& a, int alpha, int64_t t) { return alpha * (a.K * a.per_tile) + t; }

// Blocks of the statistics kernels on `device`: the slots a moments sweep
// needs (×3 accumulators). SMs × a constant: fixed per GPU model (and MIG
// slice) whatever the build's register allocation, so moments are bitwise
// reproducible on one model, equal to rounding across.
int tile_statistics_blocks(int device);

// The group's elements into the running per-block moments (histogram =
// false) or into the histograms; also fills the group's cache when the
// arguments carry one and from_cache is false. The streams that are on must
// be J, T or both with J∘T (what a sweep streams); anything else throws.
void tile_statistics(const TileStatsArgs& args, bool histogram, int blocks, cudaStream_t stream);

}  // namespace taylorscope::cuda
