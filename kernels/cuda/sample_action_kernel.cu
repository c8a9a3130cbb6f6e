// Stage 2 of the expansion pass (expansion_pass.hpp, docs/math.md §2): for every
// sample s of a chunk, from its hidden contractions G[s][ch][α],
//
//   jet_k(s)    = l_k − f_{m,k},   k = 0..K   (accumulate_sample_jets)
//   direct_i(s) = −ln q_m(z_s; t_i θ)          (sample_loss_at_t on channel P+i)
//
// and sums += Σ_s (jet(s), direct(s)). The mathematics is the TS_HD code of
// sample_action.hpp and series.hpp, the CPU path's, taken apart where the
// CPU runs it in one loop per sample:
//   1. a thread per (sample, class): the logits jet f (sample_logits_jet)
//      and e = exp(f) (jet_exp);
//   2. a thread per (sample, order k): s_k = Σ_α e_αk, in class order from
//      0.0, the CPU's order (so the same bits);
//   3. a thread per sample: l = ln s (jet_log);
//   4. a thread per component: the block's running total += l_k − f_{m,k}
//      (or the direct loss) of each sample in order.
// The jets live in shared memory, SB samples (≤ 128 (sample, class) pairs)
// at a time, each jet at an odd stride of doubles (conflict-free); the
// kernel this replaces kept 4·65 doubles per thread in local memory (2.6 KB
// a thread, ≈ 0.7 GB reserved on an H100) and read G with one thread per
// sample, C·M doubles apart (review S3). Here a warp's reads of G are
// runs of M consecutive doubles.
//
// Built with -fmad=false (sources.cmake): every jet rounds as the CPU's.
// Deterministic, no atomics: each block adds its kGroups·SB samples in
// order, then one warp per component adds the block partials (a fixed
// stride and shuffle tree) into the running total. SB depends on K, M and
// T only, never on the device.
#include <algorithm>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "cuda/sample_action_kernel.cuh"
#include "taylorscope/sample_action.hpp"

namespace taylorscope::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kGroups = 4;                    // groups of SB samples per block, one after another
constexpr size_t kSmemLimit = size_t{96} << 10;  // below every sm_80+ opt-in limit (99 KB on sm_86/89)

struct Shape {
  int SB = 0;      // samples per group
  int ks = 0;      // stride of one jet in shared memory: K+1 rounded up to odd
  int ncomp = 0;   // K+1+T
  size_t smem = 0; // dynamic shared memory bytes
  int blocks = 0;
};

size_t smem_bytes(int SB, int M, int ks, int ncomp) {
  // f and e per (sample, class); s and l per sample; the running totals.
  return sizeof(double) * (static_cast<size_t>(SB) * M * 2 * ks + static_cast<size_t>(SB) * 2 * ks + ncomp);
}

Shape shape_of(int R, int K, int M, int T) {
  Shape sh;
  sh.ks = (K + 1) | 1;
  sh.ncomp = K + 1 + T;
  sh.SB = std::clamp(kThreads / std::max(M, 1), 1, 32);
  while (sh.SB > 1 && smem_bytes(sh.SB, M, sh.ks, sh.ncomp) > kSmemLimit) sh.SB = (sh.SB + 1) / 2;
  sh.smem = smem_bytes(sh.SB, M, sh.ks, sh.ncomp);
  if (sh.smem > kSmemLimit)
    throw std::logic_error("sample_action: K, M and T need more shared memory than one block has");
  const int64_t per_block = static_cast<int64_t>(kGroups) * sh.SB;
  sh.blocks = static_cast<int>((static_cast<int64_t>(R) + per_block - 1) / per_block);
  return sh;
}

__global__ void __launch_bounds__(kThreads)
    sample_action_kernel(const double* __restrict__ G, const int32_t* __restrict__ labels,
                         const double* __restrict__ c_shift, const double* __restrict__ c,
                         const double* __restrict__ taylor, const double* __restrict__ t_values,
                         int R, int K, int M, int P, int T, int SB, int ks,
                         double* __restrict__ block_partials) {
  extern __shared__ double smem[];
  const int n = K + 1, C = P + T, ncomp = n + T, pairs = SB * M;
  double* f_all = smem;                   // [pair][ks], pair = i·M + α
  double* e_all = f_all + pairs * ks;     // [pair][ks]
  double* s_all = e_all + pairs * ks;     // [i][ks]
  double* l_all = s_all + SB * ks;        // [i][ks]
  double* totals = l_all + SB * ks;       // [ncomp], comp owned by thread comp % kThreads
  const int tid = threadIdx.x;

  for (int comp = tid; comp < ncomp; comp += kThreads) totals[comp] = 0.0;
  const int64_t block_first = static_cast<int64_t>(blockIdx.x) * kGroups * SB;
  for (int group = 0; group < kGroups; ++group) {
    const int64_t first = block_first + static_cast<int64_t>(group) * SB;
    if (first >= R) break;  // uniform over the block
    const int count = static_cast<int>(min(static_cast<int64_t>(SB), R - first));
    const double* g_first = G + static_cast<size_t>(first) * C * M;

    for (int p = tid; p < count * M; p += kThreads) {
      const int i = p / M, a = p % M;
      double* f = f_all + static_cast<size_t>(p) * ks;
      sample_logits_jet(g_first + static_cast<size_t>(i) * C * M, c_shift, taylor, K, M, a, f);
      jet_exp(f, e_all + static_cast<size_t>(p) * ks, n);
    }
    __syncthreads();
    for (int q = tid; q < count * n; q += kThreads) {
      const int i = q / n, k = q % n;
      double sum = 0.0;
      for (int a = 0; a < M; ++a) sum += e_all[static_cast<size_t>(i * M + a) * ks + k];
      s_all[i * ks + k] = sum;
    }
    __syncthreads();
    for (int i = tid; i < count; i += kThreads) jet_log(s_all + i * ks, l_all + i * ks, n);
    __syncthreads();
    for (int comp = tid; comp < ncomp; comp += kThreads) {
      double total = totals[comp];
      for (int i = 0; i < count; ++i) {
        const int label = labels[first + i];
        double v;
        if (comp < n) {
          // accumulate_sample_jets into a zero jet: (0 − f_{m,k}) + l_k.
          v = (0.0 - f_all[static_cast<size_t>(i * M + label) * ks + comp]) + l_all[i * ks + comp];
        } else {
          const int j = comp - n;
          v = sample_loss_at_t(g_first + static_cast<size_t>(i) * C * M + static_cast<size_t>(P + j) * M, c,
                               t_values[j], M, label);
        }
        total += v;
      }
      totals[comp] = total;
    }
    __syncthreads();  // the next group overwrites f, e, s, l
  }
  for (int comp = tid; comp < ncomp; comp += kThreads)
    block_partials[static_cast<size_t>(blockIdx.x) * ncomp + comp] = totals[comp];
}

// sums[comp] += Σ_b block_partials[b][comp]: one warp per component, lane l
// adding blocks l, l+32, … in order, then a fixed shuffle tree.
constexpr int kReduceWarps = 4;
__global__ void __launch_bounds__(32 * kReduceWarps)
    add_block_partials_kernel(const double* __restrict__ block_partials, int nblocks, int ncomp,
                              double* __restrict__ sums) {
  const int comp = blockIdx.x * kReduceWarps + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (comp >= ncomp) return;  // the whole warp
  double total = 0.0;
  for (int b = lane; b < nblocks; b += 32) total += block_partials[static_cast<size_t>(b) * ncomp + comp];
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) total += __shfl_down_sync(0xffffffffu, total, offset);
  if (lane == 0) sums[comp] += total;
}

}  // namespace

size_t sample_action_partials_size(int R, int K, int M, int T) {
  const Shape sh = shape_of(R, K, M, T);
  return static_cast<size_t>(sh.blocks) * sh.ncomp;
}

void sample_action(const SampleActionArgs& a, cudaStream_t stream) {
  if (a.R == 0) return;
  const Shape sh = shape_of(a.R, a.K, a.M, a.T);
  if (sh.smem > (size_t{48} << 10))
    TS_CUDA_CHECK(cudaFuncSetAttribute(sample_action_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(sh.smem)));
  sample_action_kernel<<<sh.blocks, kThreads, sh.smem, stream>>>(a.G, a.labels, a.c_shift, a.c, a.taylor,
                                                                  a.t_values, a.R, a.K, a.M, a.powers, a.T,
                                                                  sh.SB, sh.ks, a.block_partials);
  TS_CUDA_LAUNCHED(stream, "sample_action_kernel");
  add_block_partials_kernel<<<(sh.ncomp + kReduceWarps - 1) / kReduceWarps, 32 * kReduceWarps, 0, stream>>>(
      a.block_partials, sh.blocks, sh.ncomp, a.sums);
  TS_CUDA_LAUNCHED(stream, "add_block_partials_kernel");
}

}  // namespace taylorscope::cuda
