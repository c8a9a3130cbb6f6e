// Stage 2 of the expansion pass (expansion_pass.hpp, docs/math.md §2): for every
// sample s of a chunk, from its hidden contractions G[s][ch][α],
//
//   jet_k(s)    = l_k − f_{m,k},   k = 0..K   (accumulate_sample_jets)
//   direct_i(s) = −ln q_m(z_s; t_i θ)          (sample_loss_at_t on channel P+i)
//
// and sums += Σ_s (jet(s), direct(s)). The per-sample mathematics is the
// TS_HD code of sample_action.hpp, the same the CPU path runs.
//
// Deterministic, no atomics: one thread per sample; each block reduces its
// samples per component with cub::BlockReduce (a fixed tree for a fixed
// block size) into block_partials[block][comp]; then one thread per
// component adds the block partials in block order to the running total.
#include <cub/block/block_reduce.cuh>

#include "cuda/cuda_check.hpp"
#include "cuda/sample_action_kernel.cuh"
#include "taylorscope/sample_action.hpp"

namespace taylorscope::cuda {
namespace {

constexpr int kThreads = 128;

__global__ void __launch_bounds__(kThreads)
    sample_action_kernel(const double* __restrict__ G, const int32_t* __restrict__ labels,
                         const double* __restrict__ c_shift, const double* __restrict__ c,
                         const double* __restrict__ taylor, const double* __restrict__ t_values,
                         int R, int K, int M, int P, int T, double* __restrict__ block_partials) {
  using BlockReduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;

  const int s = blockIdx.x * kThreads + threadIdx.x;
  const bool valid = s < R;
  const int C = P + T;
  const int ncomp = K + 1 + T;
  const double* gs = G + static_cast<size_t>(valid ? s : 0) * C * M;
  const int label = valid ? labels[s] : 0;

  double jet[kMaxOrder + 1];
  for (int k = 0; k <= K; ++k) jet[k] = 0.0;
  if (valid) accumulate_sample_jets(gs, c_shift, taylor, K, M, label, jet);

  for (int comp = 0; comp < ncomp; ++comp) {
    double v = 0.0;
    if (valid) {
      if (comp <= K) {
        v = jet[comp];
      } else {
        const int i = comp - (K + 1);
        v = sample_loss_at_t(gs + static_cast<size_t>(P + i) * M, c, t_values[i], M, label);
      }
    }
    const double total = BlockReduce(temp).Sum(v);  // valid in thread 0
    if (threadIdx.x == 0) block_partials[static_cast<size_t>(blockIdx.x) * ncomp + comp] = total;
    __syncthreads();  // temp is reused by the next component
  }
}

// sums[comp] += Σ_b block_partials[b][comp], b in increasing order.
__global__ void add_block_partials_kernel(const double* __restrict__ block_partials, int nblocks,
                                          int ncomp, double* __restrict__ sums) {
  const int comp = blockIdx.x * blockDim.x + threadIdx.x;
  if (comp >= ncomp) return;
  double total = 0.0;
  for (int b = 0; b < nblocks; ++b) total += block_partials[static_cast<size_t>(b) * ncomp + comp];
  sums[comp] += total;
}

int blocks_for(int R) { return (R + kThreads - 1) / kThreads; }

}  // namespace

size_t sample_action_partials_size(int R, int K, int T) {
  return static_cast<size_t>(blocks_for(R)) * (K + 1 + T);
}

void sample_action(const SampleActionArgs& a, cudaStream_t stream) {
  if (a.R == 0) return;
  const int nblocks = blocks_for(a.R);
  const int ncomp = a.K + 1 + a.T;
  sample_action_kernel<<<nblocks, kThreads, 0, stream>>>(a.G, a.labels, a.c_shift, a.c, a.taylor,
                                                         a.t_values, a.R, a.K, a.M, a.powers,
                                                         a.T, a.block_partials);
  TS_CUDA_LAUNCHED(stream, "sample_action_kernel");
  add_block_partials_kernel<<<(ncomp + 63) / 64, 64, 0, stream>>>(a.block_partials, nblocks,
                                                                  ncomp, a.sums);
  TS_CUDA_LAUNCHED(stream, "add_block_partials_kernel");
}

}  // namespace taylorscope::cuda
