// Stage 1 of the expansion pass on the GPU (expansion_pass.hpp):
//   G[s][ch][α] = Σ_β U_αβ g_ch(A0[s][β] + b_β)
// for one chunk of rows. See hidden_contraction.cu.
#pragma once

#include <cuda_runtime.h>

#include "taylorscope/activation.hpp"

namespace taylorscope::cuda {

// Classes are padded to 16, 32 or 64 (the kernel's register tile); larger M
// is refused by the backend.
constexpr int kMaxClasses = 64;

// The padded class count for M ≤ kMaxClasses: 16, 32 or 64.
int hidden_contraction_maxm(int M);

struct HiddenContractionArgs {
  const double* A0 = nullptr;        // R×H, row-major: Z Wᵀ without the bias
  const double* bias = nullptr;      // H
  const double* U_padded = nullptr;  // H×maxm: U_padded[β][α] = U_αβ, 0 for α ≥ M
  const double* t_values = nullptr;  // T
  Activation act;
  int R = 0;           // rows in this chunk
  int H = 0;           // hidden units
  int M = 0;           // classes
  int maxm = 0;        // hidden_contraction_maxm(M)
  int powers = 0;      // power channels a^1..a^powers (PassPlan::power_channels())
  int T = 0;           // activation channels σ(t a)
  double* G = nullptr;  // R×(powers+T)×M, row-major
};

void hidden_contraction(const HiddenContractionArgs& args, cudaStream_t stream);

}  // namespace taylorscope::cuda
