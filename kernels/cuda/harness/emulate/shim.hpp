// Host emulation of the CUDA constructs the kernels use: one std::thread per
// CUDA thread, blocks one after another, __syncthreads = a block barrier,
// warp collectives through per-warp barriers.
#pragma once
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>
using std::max;
using std::min;
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __shared__ static
#define TS_CUDA_LAUNCHED(...)
inline std::barrier<>* emu_block_barrier = nullptr;
inline std::vector<std::barrier<>*> emu_warp_barriers;
inline double emu_dynamic_smem[1 << 16];
inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }
struct WarpScratch {
  double a[32], b[32], d0[32], d1[32];
};
inline std::vector<WarpScratch> emu_warp_scratch;
inline int emu_warp() { return threadIdx.x / 32; }
inline int emu_lane() { return threadIdx.x % 32; }
// mma.m8n8k4 f64 row.col: A[m][k] in lane 4m+k, B[k][n] in lane 4n+k, D[m][2c+i] in lane 4m+c.
inline void emu_mma(double& d0, double& d1, double a, double b) {
  auto& w = emu_warp_scratch[emu_warp()];
  auto* bar = emu_warp_barriers[emu_warp()];
  const int l = emu_lane();
  w.a[l] = a;
  w.b[l] = b;
  bar->arrive_and_wait();
  const int m = l / 4, c = l % 4;
  double r[2];
  for (int i = 0; i < 2; ++i) {
    const int n = 2 * c + i;
    double s = 0;
    for (int k = 0; k < 4; ++k) s += w.a[4 * m + k] * w.b[4 * n + k];
    r[i] = s;
  }
  bar->arrive_and_wait();
  d0 += r[0];
  d1 += r[1];
}
inline void __syncwarp() { emu_warp_barriers[emu_warp()]->arrive_and_wait(); }
inline double __shfl_down_sync(unsigned, double v, int offset) {
  auto& w = emu_warp_scratch[emu_warp()];
  auto* bar = emu_warp_barriers[emu_warp()];
  const int l = emu_lane();
  w.a[l] = v;
  bar->arrive_and_wait();
  const double r = l + offset < 32 ? w.a[l + offset] : v;
  bar->arrive_and_wait();
  return r;
}
// Runs kernel(args...) over grid × block (1D), blocks in order.
template <class F>
void emu_launch(unsigned grid, unsigned block, F kernel) {
  gridDim.x = grid;
  blockDim.x = block;
  for (unsigned b = 0; b < grid; ++b) {
    std::barrier<> bb(block);
    emu_block_barrier = &bb;
    const unsigned warps = (block + 31) / 32;
    std::vector<std::barrier<>*> wb;
    for (unsigned w = 0; w < warps; ++w) wb.push_back(new std::barrier<>(std::min(32u, block - 32 * w)));
    emu_warp_barriers = wb;
    emu_warp_scratch.assign(warps, WarpScratch{});
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < block; ++t)
      ts.emplace_back([&, t] {
        threadIdx.x = t;
        blockIdx.x = b;
        kernel();
        emu_block_barrier->arrive_and_drop();
        emu_warp_barriers[t / 32]->arrive_and_drop();
      });
    for (auto& t : ts) t.join();
    for (auto* p : wb) delete p;
  }
}
