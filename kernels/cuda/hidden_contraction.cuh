// Stage 1 of the expansion pass on the GPU (expansion_pass.hpp):
//   G[s][ch][α] = Σ_β U_αβ g_ch(A0[s][β] + b_β)
// for one chunk of rows. See hidden_contraction.cu.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "taylorscope/activation.hpp"
#include "taylorscope/pass_channels.hpp"

namespace taylorscope::cuda {

// Classes go in tiles of 8 (the n of the FP64 tensor-core MMA m8n8k4):
// 1, 2, 4 or 8 tiles; larger M is refused by the backend.
constexpr int kMaxClasses = 64;

// The class tiles for M ≤ kMaxClasses: 1, 2, 4 or 8 (8 · tiles ≥ M).
int hidden_contraction_class_tiles(int M);

// Doubles in U packed for the kernel (pack_hidden_contraction_u) for M
// classes and H hidden units.
size_t hidden_contraction_u_size(int M, int64_t H);

// Packs units [h_begin, h_begin + H) of U (row-major M×ldu) into the order
// the kernel reads its MMA B fragments: for each step of 4 hidden units q,
// class tile nt and lane l, out[(q·NT + nt)·32 + l] = U[8nt + l/4][h_begin +
// 4q + l%4], zero for classes ≥ M and units ≥ H (out holds
// hidden_contraction_u_size(M, H) doubles).
void pack_hidden_contraction_u(const double* U, int M, int64_t ldu, int64_t h_begin, int64_t H, double* out);

struct HiddenContractionArgs {
  const double* A0 = nullptr;      // R×H, row-major: Z Wᵀ without the bias
  const double* bias = nullptr;    // H
  const double* U_packed = nullptr;  // pack_hidden_contraction_u(U, M, …, H)
  const double* t_values = nullptr;  // T
  Activation act;
  // make_sigmoid_ladder(act, t_values, T): its count is T when the σ
  // channels share one exponential and division (pass_channels.hpp), 0 when
  // each is activation_value. The kernel uses it only where all channels
  // are one group (hidden_contraction_ladder).
  SigmoidLadder ladder;
  int R = 0;       // rows in this chunk
  int H = 0;       // hidden units
  int M = 0;       // classes
  int powers = 0;  // power channels a^1..a^powers (PassPlan::power_channels())
  int T = 0;       // activation channels σ(t a)
  double* G = nullptr;  // R×(powers+T)×M, row-major
};

void hidden_contraction(const HiddenContractionArgs& args, cudaStream_t stream);

// How the kernel splits the C = powers + T channels into groups (one per
// block column; exposed for the harness's accounting): the group count and
// the most channels in one group.
struct ChannelGroups {
  int groups = 0, max_channels = 0;
};
ChannelGroups hidden_contraction_groups(int M, int powers, int T);

// The ladder the kernel runs: a.ladder when the channels are one group (at
// M = 10 up to 12 channels: K ≤ 8 with the default five t) and M ≤ 32,
// else none. With
// several groups each would form every σ channel of the ladder to keep its
// own, costing more than T separate activation_value calls split among the
// groups; the σ channels then round as activation_value does, within the
// ladder's tolerance of the CPU's (tests/test_expansion.cpp), not bit for bit.
SigmoidLadder hidden_contraction_ladder(const HiddenContractionArgs& a);

}  // namespace taylorscope::cuda
