// The element statistics of a tile group (docs/math.md §6), fused with forming J:
// for each packed element e = (k, i, j) of the group's tiles (the upper
// triangle, j ≥ i; the whole row for n = 1) with multiplicity w_e, and each
// class α,
//   J = Σ_α' S_α'(e)/N − S_α(e)/N_α,   T = T_α(e),   J∘T = J·T,
// each stream that is on gets moments_add(acc, x, w_e) — or, in a histogram
// pass, w_e counts in histogram_bin(range, x). The per-element code is
// element_stats.hpp's, the code the CPU reference runs.
//
// Deterministic. The grid is a fixed number of blocks (tile_statistics_blocks)
// walking the group's elements with a grid stride, so block b always sees
// the same elements. Moments: each thread accumulates its elements in order;
// a block merges its threads in a fixed tree (warp shuffles, then warps in
// order) and merges the result into its own slot slots[b] — the same block
// owns the slot in every group, and kernels on one stream run in order, so
// no two writers meet. The host merges the slots in block order at the end.
// Histograms: integer counts, so atomics (per-block shared-memory bins, then
// global) give the same totals in any order.
//
// What is reproducible where: the block count is SMs × resident blocks per
// SM, so which elements a slot merges — and hence the last bits of the
// moments — is fixed per GPU model (and MIG slice), not across models. Runs
// on one model agree bitwise; an H100 and an H200 (both 132 SMs) agree too;
// another SM count agrees to rounding. Histogram counts agree everywhere.
#include <algorithm>

#include "cuda/cuda_check.hpp"
#include "cuda/tile_statistics.cuh"
#include "cuda/warp_shuffle.cuh"

namespace taylorscope::cuda {
namespace {

constexpr int kStatsThreads = 128;
constexpr int kStatsWarps = kStatsThreads / 32;
constexpr int kMaxBlocksPerSm = 8;
constexpr size_t kDefaultSharedBytes = 48 * 1024;  // a block's shared memory without an opt-in
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

template <bool kHistogram>
__global__ void __launch_bounds__(kStatsThreads) tile_statistics_kernel(const TileStatsArgs a, bool shared_hist) {
  extern __shared__ unsigned long long block_hist[];  // 3 × bins, when shared_hist
  // Raw bytes: __shared__ takes no constructors.
  __shared__ alignas(MomentAccumulator) unsigned char warp_raw[kStatsWarps * sizeof(MomentAccumulator)];
  const int64_t total = a.K * a.per_tile;
  const bool write_cache = !kHistogram && !a.from_cache && (a.cache_J || a.cache_T);
  const bool need_total = a.on[kStreamJ] && !a.from_cache;

  if (kHistogram && shared_hist) {
    for (int b = threadIdx.x; b < 3 * a.bins; b += blockDim.x) block_hist[b] = 0;
    __syncthreads();
  }
  MomentAccumulator acc[3];
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    TileElement e;
    if (!tile_element(a, t, e)) continue;
    const double all = need_total ? class_sum_total(a, e) : 0.0;
    for (int alpha = 0; alpha < a.M; ++alpha) {
      double x[3];
      stream_values(a, e, t, alpha, all, x);
      if (write_cache) {
        if (a.cache_J) a.cache_J[cache_index(a, alpha, t)] = x[kStreamJ];
        if (a.cache_T) a.cache_T[cache_index(a, alpha, t)] = x[kStreamT];
      }
#pragma unroll
      for (int s = 0; s < 3; ++s) {
        if (!a.on[s]) continue;
        if constexpr (kHistogram) {
          const int b = s * a.bins + histogram_bin(a.range[s], x[s]);
          atomicAdd(shared_hist ? &block_hist[b] : &a.hist[b], static_cast<unsigned long long>(e.w));
        } else {
          moments_add(acc[s], x[s], e.w);
        }
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
#pragma unroll
    for (int s = 0; s < 3; ++s)
      if (a.on[s]) merge_block_into_slot(acc[s], &a.slots[static_cast<int64_t>(blockIdx.x) * 3 + s], warp_acc);
  }
}

// The dynamic shared memory the histogram kernel may take without
// cudaFuncSetAttribute: the default limit less its static shared memory.
size_t shared_histogram_limit() {
  static const size_t limit = [] {
    cudaFuncAttributes attr{};
    TS_CUDA_CHECK(cudaFuncGetAttributes(&attr, tile_statistics_kernel<true>));
    return attr.sharedSizeBytes < kDefaultSharedBytes ? kDefaultSharedBytes - attr.sharedSizeBytes : size_t{0};
  }();
  return limit;
}

}  // namespace

int tile_statistics_blocks(int device) {
  int sms = 0, per_sm = 0;
  TS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  TS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, tile_statistics_kernel<false>, kStatsThreads, 0));
  return std::max(1, sms) * std::clamp(per_sm, 1, kMaxBlocksPerSm);
}

void tile_statistics(const TileStatsArgs& a, bool histogram, int blocks, cudaStream_t stream) {
  if (a.K * a.per_tile == 0) return;
  if (histogram) {
    const size_t bytes = 3 * static_cast<size_t>(a.bins) * sizeof(unsigned long long);
    const bool shared = bytes <= shared_histogram_limit();
    tile_statistics_kernel<true><<<blocks, kStatsThreads, shared ? bytes : 0, stream>>>(a, shared);
  } else {
    tile_statistics_kernel<false><<<blocks, kStatsThreads, 0, stream>>>(a, false);
  }
  TS_CUDA_LAUNCHED(stream, "tile_statistics_kernel");
}

}  // namespace taylorscope::cuda
