// The element statistics of a tile group (docs/math.md §6), fused with forming J:
// for each packed element e = (k, i, j) of the group's tiles (the upper
// triangle, j ≥ i; the whole row for n = 1) with multiplicity w_e, and each
// class α,
//   J = Σ_α' S_α'(e)/N − S_α(e)/N_α,   T = T_α(e),   J∘T = J·T,
// each stream that is on gets the element's value into its moments — or, in a
// histogram pass, w_e counts in histogram_bin(range, x). The per-element code
// (j_element, run_moments, moments_merge, histogram_bin) is the CPU
// reference's, from element_stats.hpp and moment_tensors.hpp.
//
// Work per (element, class) (review S2: it was ~200 dependent FP64
// operations with 5 divisions, one Pébay moments_add per stream):
//   - A warp takes a chunk of 32·R consecutive elements (R = 8, or 4 with J
//     and T both on); lane l holds elements base + 32r + l, r < R, so every
//     load of the warp reads consecutive elements. The index arithmetic
//     (tile_element: a 64-bit division, a sqrt, the multiplicity) is done
//     once per element for all M classes, and so is Σ_α S_α.
//   - Per class, the lane's R values are one run: run_moments takes them in
//     two passes (~15 FP64 operations per value, no division), and the run
//     is merged into the lane's accumulator once (one division per R values).
//   - J costs one more division per value (j_element, kept as the CPU forms
//     it, so that the two agree bit for bit); T costs none.
//   - Which streams are on is a template parameter: a J-only or T-only sweep
//     (J^(3), T^(3)) carries one accumulator, not three.
//   - Histograms: lanes whose element falls in the same bin with the same
//     multiplicity find each other (__match_any_sync) and one atomic adds
//     their total, instead of up to 32 colliding 64-bit atomics in the
//     central bins of a heavy-tailed J∘T.
//
// Deterministic. The grid is a fixed number of blocks (tile_statistics_blocks)
// walking the group's elements with a grid stride, so block b always sees
// the same elements, and each lane the same runs in the same order. Moments:
// a block merges its threads in a fixed tree (warp shuffles, then warps in
// order) and merges the result into its own slot slots[b] — the same block
// owns the slot in every group, and kernels on one stream run in order, so
// no two writers meet. The host merges the slots in block order at the end.
// Histograms: integer counts, so atomics (per-block shared-memory bins, then
// global) give the same totals in any order.
//
// What is reproducible where: the block count is SMs × kBlocksPerSm, so which
// elements a slot merges — and hence the last bits of the moments — is
// fixed per GPU model (and MIG slice), not across models. Runs on one model
// agree bitwise; an H100 and an H200 (both 132 SMs) agree too; another SM
// count agrees to rounding. Histogram counts agree everywhere.
#include <algorithm>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "cuda/tile_statistics.cuh"
#include "cuda/warp_shuffle.cuh"

namespace taylorscope::cuda {
namespace {

constexpr int kStatsThreads = 128;
constexpr int kStatsWarps = kStatsThreads / 32;
// Blocks per SM in the grid, whatever the occupancy the build's register
// allocation gives: a count that depends on the device alone keeps the
// moments' bits fixed per GPU model. nvcc 13 for sm_90 gives the moments
// variants 153 (T), 192 (J) and 241 (J and T) registers: 3, 2 and 2 resident
// blocks of 128 threads per SM, which 6 divides into whole waves of equal
// blocks; the histogram variants (92–126) hold 4–5.
constexpr int kBlocksPerSm = 6;
constexpr size_t kDefaultSharedBytes = 48 * 1024;  // a block's shared memory without an opt-in
constexpr unsigned kFullWarp = 0xffffffffu;

// The block's accumulators merged in a fixed tree, then into *slot. Every
// thread of the block calls it (it synchronises the block).
__device__ void merge_block_into_slot(MomentAccumulator acc, MomentAccumulator* slot, MomentAccumulator* warp_acc) {
  // Lane l takes lane l + offset; lane 0 ends with the whole warp. Lanes
  // whose partner is outside the warp merge a copy of themselves: unused.
  // Every field travels (shfl_down_struct shuffles the whole struct).
  for (int offset = 16; offset > 0; offset /= 2) {
    const MomentAccumulator other = shfl_down_struct(acc, offset);
    moments_merge(acc, other);
  }
  if (threadIdx.x % 32 == 0) warp_acc[threadIdx.x / 32] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    MomentAccumulator block = warp_acc[0];
    for (int w = 1; w < kStatsWarps; ++w) moments_merge(block, warp_acc[w]);
    MomentAccumulator total = *slot;
    moments_merge(total, block);
    *slot = total;
  }
  __syncthreads();  // warp_acc is reused by the next stream
}

// hist[bin] += w, the multiplicity of this lane's element (0: no element),
// with one atomic per distinct (bin, w) in the warp: the lanes holding the
// same pair find each other and the lowest adds w × their number. Every
// lane of the warp must call it, with the same `hist`.
__device__ __forceinline__ void add_to_bin(unsigned long long* hist, int bin, double w) {
  const unsigned count = static_cast<unsigned>(w);  // an integer multiplicity ≤ 4! = 24
  const unsigned long long key = (static_cast<unsigned long long>(static_cast<unsigned>(bin)) << 32) | count;
  const unsigned peers = __match_any_sync(kFullWarp, key);
  if (count != 0 && static_cast<int>(threadIdx.x % 32) == __ffs(peers) - 1)
    atomicAdd(&hist[bin], static_cast<unsigned long long>(count) * static_cast<unsigned long long>(__popc(peers)));
}

template <bool kJ, bool kT, bool kHistogram>
__global__ void __launch_bounds__(kStatsThreads) tile_statistics_kernel(const TileStatsArgs a, bool shared_hist) {
  constexpr bool kJT = kJ && kT;
  constexpr int R = stats_run_length(kJ, kT);
  constexpr int64_t kChunk = 32 * R;  // elements a warp takes at a time
  extern __shared__ unsigned long long block_hist[];  // 3 × bins, when shared_hist
  // Raw bytes: __shared__ takes no constructors.
  __shared__ alignas(MomentAccumulator) unsigned char warp_raw[kStatsWarps * sizeof(MomentAccumulator)];
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const int64_t total = a.K * a.per_tile;
  const int64_t class_tiles = a.K * a.tile_stride;  // doubles from class α's tiles to α + 1's
  const bool write_cache = !kHistogram && !a.from_cache && (a.cache_J || a.cache_T);
  const bool need_total = kJ && !a.from_cache;
  unsigned long long* hist = kHistogram ? (shared_hist ? block_hist : a.hist) : nullptr;

  if (kHistogram && shared_hist) {
    for (int b = threadIdx.x; b < 3 * a.bins; b += blockDim.x) block_hist[b] = 0;
    __syncthreads();
  }
  MomentAccumulator acc[3];
  // Warp-uniform: every lane runs the same iterations, so the whole warp
  // reaches each __match_any_sync.
  for (int64_t base = (static_cast<int64_t>(blockIdx.x) * kStatsWarps + warp) * kChunk; base < total;
       base += static_cast<int64_t>(gridDim.x) * kStatsWarps * kChunk) {
    double w[R];      // multiplicity; 0 past the group's end and for the padding of a square
    int64_t at[R];    // offset in a class's tiles (0, a readable one, where w = 0)
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int64_t t = base + 32 * r + lane;
      TileElement e;
      const bool in = t < total && tile_element(a, t, e);
      w[r] = in ? e.w : 0.0;
      at[r] = in ? e.offset : 0;
    }
    // Σ_α S_α in class order, as the CPU reference sums it.
    double all[R];
#pragma unroll
    for (int r = 0; r < R; ++r) all[r] = 0;
    if (need_total)
      for (int alpha = 0; alpha < a.M; ++alpha)
#pragma unroll
        for (int r = 0; r < R; ++r) all[r] += a.S[alpha * class_tiles + at[r]];

    for (int alpha = 0; alpha < a.M; ++alpha) {
      const int64_t tiles = alpha * class_tiles;
      const double count = need_total ? a.class_count[alpha] : 1.0;
      double xJ[R], xT[R];  // 0 where w = 0
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int64_t t = base + 32 * r + lane;
        const bool in = w[r] != 0;
        xJ[r] = xT[r] = 0.0;
        if constexpr (kJ) {
          if (a.from_cache) {
            if (in) xJ[r] = a.cache_J[cache_index(a, alpha, t)];
          } else {
            const double v = j_element(all[r], a.N, a.S[tiles + at[r]], count);
            xJ[r] = in ? v : 0.0;
          }
        }
        if constexpr (kT) {
          if (in) xT[r] = a.from_cache ? a.cache_T[cache_index(a, alpha, t)] : a.T[tiles + at[r]];
        }
        if (write_cache && in) {
          if (kJ && a.cache_J) a.cache_J[cache_index(a, alpha, t)] = xJ[r];
          if (kT && a.cache_T) a.cache_T[cache_index(a, alpha, t)] = xT[r];
        }
      }
      // J∘T rounded as the CPU rounds it: a product, never fused into what
      // follows (an element on a histogram edge must fall alike).
      double xJT[R];
#pragma unroll
      for (int r = 0; r < R; ++r) xJT[r] = kJT ? __dmul_rn(xJ[r], xT[r]) : 0.0;
      if constexpr (kHistogram) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          if constexpr (kJ) add_to_bin(hist, kStreamJ * a.bins + histogram_bin(a.range[kStreamJ], xJ[r]), w[r]);
          if constexpr (kT) add_to_bin(hist, kStreamT * a.bins + histogram_bin(a.range[kStreamT], xT[r]), w[r]);
          if constexpr (kJT) add_to_bin(hist, kStreamJT * a.bins + histogram_bin(a.range[kStreamJT], xJT[r]), w[r]);
        }
      } else {
        if constexpr (kJ) moments_merge(acc[kStreamJ], run_moments(xJ, w));
        if constexpr (kT) moments_merge(acc[kStreamT], run_moments(xT, w));
        if constexpr (kJT) moments_merge(acc[kStreamJT], run_moments(xJT, w));
      }
    }
  }

  if constexpr (kHistogram) {
    if (shared_hist) {
      __syncthreads();
      for (int b = threadIdx.x; b < 3 * a.bins; b += blockDim.x)
        if (block_hist[b] != 0) atomicAdd(&a.hist[b], block_hist[b]);
    }
  } else {
    MomentAccumulator* warp_acc = reinterpret_cast<MomentAccumulator*>(warp_raw);
    MomentAccumulator* slots = a.slots + static_cast<int64_t>(blockIdx.x) * 3;
    if constexpr (kJ) merge_block_into_slot(acc[kStreamJ], &slots[kStreamJ], warp_acc);
    if constexpr (kT) merge_block_into_slot(acc[kStreamT], &slots[kStreamT], warp_acc);
    if constexpr (kJT) merge_block_into_slot(acc[kStreamJT], &slots[kStreamJT], warp_acc);
  }
}

// The dynamic shared memory a histogram kernel may take without
// cudaFuncSetAttribute: the default limit less its static shared memory
// (the same in every variant: the warp accumulators).
size_t shared_histogram_limit() {
  static const size_t limit = [] {
    cudaFuncAttributes attr{};
    TS_CUDA_CHECK(cudaFuncGetAttributes(&attr, tile_statistics_kernel<true, true, true>));
    return attr.sharedSizeBytes < kDefaultSharedBytes ? kDefaultSharedBytes - attr.sharedSizeBytes : size_t{0};
  }();
  return limit;
}

template <bool kHistogram>
void launch(const TileStatsArgs& a, int blocks, size_t shared_bytes, bool shared, cudaStream_t stream) {
  const bool J = a.on[kStreamJ], T = a.on[kStreamT];
  if (J && T)
    tile_statistics_kernel<true, true, kHistogram><<<blocks, kStatsThreads, shared_bytes, stream>>>(a, shared);
  else if (J)
    tile_statistics_kernel<true, false, kHistogram><<<blocks, kStatsThreads, shared_bytes, stream>>>(a, shared);
  else
    tile_statistics_kernel<false, true, kHistogram><<<blocks, kStatsThreads, shared_bytes, stream>>>(a, shared);
}

}  // namespace

int tile_statistics_blocks(int device) {
  int sms = 0;
  TS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return std::max(1, sms) * kBlocksPerSm;
}

void tile_statistics(const TileStatsArgs& a, bool histogram, int blocks, cudaStream_t stream) {
  if (a.on[kStreamJT] != (a.on[kStreamJ] && a.on[kStreamT]))
    throw std::logic_error("tile_statistics: J∘T is streamed exactly when J and T both are");
  if (a.K * a.per_tile == 0 || !(a.on[kStreamJ] || a.on[kStreamT])) return;
  if (histogram) {
    const size_t bytes = 3 * static_cast<size_t>(a.bins) * sizeof(unsigned long long);
    const bool shared = bytes <= shared_histogram_limit();
    launch<true>(a, blocks, shared ? bytes : 0, shared, stream);
  } else {
    launch<false>(a, blocks, 0, false, stream);
  }
  TS_CUDA_LAUNCHED(stream, "tile_statistics_kernel");
}

}  // namespace taylorscope::cuda
