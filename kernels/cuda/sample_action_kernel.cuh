// Stage 2 of the expansion pass on the GPU (expansion_pass.hpp): per-sample
// jets and direct losses from G, summed over the chunk's samples into a
// running total. See sample_action_kernel.cu.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace taylorscope::cuda {

struct SampleActionArgs {
  const double* G = nullptr;         // R×(powers+T)×M, from hidden_contraction
  const int32_t* labels = nullptr;   // R
  const double* c_shift = nullptr;   // M: c_α + σ(0) Σ_β U_αβ
  const double* c = nullptr;         // M
  const double* taylor = nullptr;    // K: σ^(k)(0)/k!
  const double* t_values = nullptr;  // T
  int R = 0, K = 0, M = 0, powers = 0, T = 0;
  double* block_partials = nullptr;  // sample_action_partials_size(R, K, M, T) doubles of scratch
  double* sums = nullptr;            // K+1+T running totals: jet[0..K], then direct[0..T)
};

// A function of the shape alone (never of the device), so the reduction
// order, and with it the bits of the sums, is the same on any GPU.
size_t sample_action_partials_size(int R, int K, int M, int T);

// sums += Σ_{s<R} (jet_s[0..K], direct_s[0..T)), in a fixed order.
void sample_action(const SampleActionArgs& args, cudaStream_t stream);

}  // namespace taylorscope::cuda
