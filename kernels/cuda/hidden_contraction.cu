// Stage 1 of the expansion pass (expansion_pass.hpp, docs/math.md §2 and §4): for
// every sample s of a chunk, channel ch and class α
//
//   G[s][ch][α] = Σ_β U_αβ g_ch(a_sβ),     a_sβ = A0[s][β] + b_β,
//   g_ch(a) = a^(ch+1)               for ch < P    (P = K−1 power channels)
//   g_ch(a) = σ(t_{ch−P} · a)        for P ≤ ch < C = P + T.
//
// Per channel this is a GEMM, G_ch (samples × classes) = X_ch (samples × H)
// · Uᵀ (H × classes), with X_ch[s][β] = g_ch(a_sβ). X is never written
// (N·H·C doubles): each lane forms its element of the MMA's A fragment in
// registers and feeds the FP64 tensor cores (mma.sync m8n8k4, DMMA) while
// the FP64 FMA units form the next channel values — two pipes that run side
// by side, where the kernel this replaces did both on the FMA units (review
// S1).
//
// Layout of the work:
//   - a warp owns 8 samples (the m of the MMA); lane l holds sample l/4 and,
//     in each k-step of 4 hidden units, unit l%4: its a value is its own A
//     fragment, whatever the channel. A block is 4 warps, 32 samples.
//   - classes go in NT tiles of 8 (the n of the MMA; M = 10 takes 2 tiles,
//     the 6 padded columns cost tensor-core time only, not FMA-unit time).
//     U is packed on the host in B-fragment order (pack_hidden_contraction_u),
//     so a warp's fragment is 32 consecutive doubles; a tile of 16 hidden
//     units is staged in shared memory (double-buffered, one barrier per
//     tile) and read by the block's 4 warps.
//   - the C channels are cut into `ng` groups of at most JB channels (the
//     accumulators: 2·JB·NT = 48 doubles a lane for M ≤ 16); a block does one group for
//     its 32 samples, and the blocks of one sample block are adjacent in the
//     grid, so the A0 rows they all read come from L2 after the first. Each
//     group gets a contiguous run of powers and every ng-th activation
//     channel, so groups cost alike. A run of powers starts at
//     a^(first+1) = integer_power (binary exponentiation, not a chain of
//     `first` products) and continues by repeated multiplication, as
//     pass_channels does; the activation channels are the CPU path's
//     functions: sigmoid_ladder when the t form a ladder, else activation_value.
//   - a lane's activation values of a k-step go through its own slots of
//     shared memory (written and read by that lane only: no barrier), so
//     activation_value is inlined once, not once per unrolled channel.
// Global traffic per chunk: A0 and b read once from HBM (ng times from
// L2), U once per block from L2, G written once. No atomics: the sum over
// β is in a fixed order (the k-steps in order, the MMA's fixed tree), so a
// run is bitwise reproducible.
#include <cstdint>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "cuda/hidden_contraction.cuh"
#include "taylorscope/pass_channels.hpp"

namespace taylorscope::cuda {
namespace {

constexpr int kWarps = 4;                     // warps per block
constexpr int kSamples = 8 * kWarps;          // samples per block (8 per warp: the MMA's m)
constexpr int kSteps = 4;                     // MMA k-steps per staged tile
constexpr int kTileH = 4 * kSteps;            // hidden units per staged tile (4 per k-step)
constexpr int kThreads = 32 * kWarps;

// Channels per group, JB: 2·JB·NT accumulator doubles a lane, 48 for
// NT ≤ 2 (M ≤ 16) and 32 above, where the B fragments and the staged U
// take NT doubles each (ptxas for sm_90 at 3 blocks an SM, ≤ 168
// registers: no spill at NT = 1, 2; at 48 accumulators NT = 4 and 8
// spilled 100–180 bytes).
constexpr int max_group_channels(int NT) { return NT <= 2 ? 24 / NT : 16 / NT; }

// The class tilings whose kernel has the σ ladder compiled in: at NT = 8
// (M > 32) its registers spilled (ptxas: 76 bytes), and one group holds at
// most 2 channels there, so a ladder would rarely apply anyway.
constexpr bool kLadderTiles(int NT) { return NT < 8; }

// D (8×8) += A (8×4) · B (4×8) on the FP64 tensor cores. Lane l holds
// A[l/4][l%4], B[l%4][l/4], and D[l/4][2(l%4)], D[l/4][2(l%4)+1].
__device__ __forceinline__ void mma_8x8x4(double& d0, double& d1, double a, double b) {
  asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};\n"
               : "+d"(d0), "+d"(d1)
               : "d"(a), "d"(b));
}

// Group g of ng: jb channels, of which the first np are the powers
// a^(p_begin+1) .. a^(p_begin+np) and the rest the activation channels
// g, g + ng, g + 2ng, … (na of them).
struct Group {
  int jb, np, na, p_begin;
};

__host__ __device__ inline Group group_of(int g, int ng, int P, int T) {
  const int C = P + T;
  Group r;
  r.jb = C / ng + (g < C % ng ? 1 : 0);
  r.na = T / ng + (g < T % ng ? 1 : 0);
  r.np = r.jb - r.na;
  const int channels_before = g * (C / ng) + (g < C % ng ? g : C % ng);
  const int activations_before = g * (T / ng) + (g < T % ng ? g : T % ng);
  r.p_begin = channels_before - activations_before;
  return r;
}

int class_tiles(int M) {
  if (M <= 8) return 1;
  if (M <= 16) return 2;
  if (M <= 32) return 4;
  if (M <= kMaxClasses) return 8;
  throw std::logic_error("hidden_contraction: M > kMaxClasses");
}

template <int NT>
__global__ void __launch_bounds__(kThreads, 3)
    hidden_contraction_kernel(const double* __restrict__ A0, const double* __restrict__ bias,
                              const double* __restrict__ U_packed, const double* __restrict__ t_values,
                              Activation act, SigmoidLadder ladder, int R, int H, int M, int P, int T, int ng,
                              double* __restrict__ G) {
  constexpr int JB = max_group_channels(NT);
  constexpr int kTileU = kSteps * NT * 32;  // packed U doubles per tile
  __shared__ double u_tile[2][kTileU];
  __shared__ double act_slots[kWarps][JB][32];  // a lane's activation values of one k-step
  __shared__ double t_group[JB];

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int row = lane >> 2, col = lane & 3;  // the lane's A-fragment row (sample) and column (unit)
  const int group = static_cast<int>(blockIdx.x % ng);
  const int sblock = static_cast<int>(blockIdx.x / ng);
  const Group grp = group_of(group, ng, P, T);
  const int s = sblock * kSamples + warp * 8 + row;
  const bool row_ok = s < R;
  const double* a_row = A0 + static_cast<size_t>(row_ok ? s : 0) * H;

  if (threadIdx.x < grp.na) t_group[threadIdx.x] = t_values[group + threadIdx.x * ng];

  // The next tile's a (without the bias, added when it is used: adding it
  // here would wait for the load) and its packed U, loaded a tile ahead.
  double a_next[kSteps], b_next[kSteps], u_next[NT];
  const auto load_tile = [&](int tile) {
#pragma unroll
    for (int q = 0; q < kSteps; ++q) {
      const int beta = tile * kTileH + 4 * q + col;
      const bool ok = row_ok && beta < H;  // padding: a = 0 against U = 0 beyond H
      a_next[q] = ok ? a_row[beta] : 0.0;
      b_next[q] = ok ? bias[beta] : 0.0;
    }
    const double* src = U_packed + static_cast<size_t>(tile) * kTileU;
#pragma unroll
    for (int r = 0; r < NT; ++r) u_next[r] = src[threadIdx.x + r * kThreads];
  };

  double acc[JB][NT][2];
#pragma unroll
  for (int l = 0; l < JB; ++l)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) acc[l][nt][0] = acc[l][nt][1] = 0.0;

  const int ntiles = (H + kTileH - 1) / kTileH;  // 0 when H = 0: G = 0, and U_packed is empty
  if (ntiles > 0) {
    load_tile(0);
#pragma unroll
    for (int r = 0; r < NT; ++r) u_tile[0][threadIdx.x + r * kThreads] = u_next[r];
  }
  __syncthreads();  // u_tile[0] and t_group

  for (int tile = 0; tile < ntiles; ++tile) {
    double a[kSteps];
#pragma unroll
    for (int q = 0; q < kSteps; ++q) a[q] = a_next[q] + b_next[q];
    const bool more = tile + 1 < ntiles;
    if (more) load_tile(tile + 1);
    const double* ut = u_tile[tile & 1];

#pragma unroll
    for (int q = 0; q < kSteps; ++q) {
      double b[NT];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) b[nt] = ut[(q * NT + nt) * 32 + lane];
      if (kLadderTiles(NT) && ladder.count > 0) {
        // Every σ channel from one exponential and one division, as the CPU
        // pass forms them (bit for bit). The ladder runs only with one group
        // (hidden_contraction_ladder), so activation channel i is slot i;
        // the slots serve as its scratch, keeping its registers few.
        sigmoid_ladder<kMaxLadder>(ladder, ladder.count, a[q], &act_slots[warp][0][lane], 32);
      } else {
        for (int j = 0; j < grp.na; ++j) act_slots[warp][j][lane] = activation_value(act, t_group[j] * a[q]);
      }
      // activation_value branches per lane (exp's range checks, σ's sign):
      // mma.sync needs the warp converged again.
      __syncwarp();
      double pw = grp.np > 0 ? integer_power(a[q], grp.p_begin + 1) : 0.0;
#pragma unroll
      for (int l = 0; l < JB; ++l) {
        if (l < grp.jb) {  // uniform over the block: every lane reaches each MMA
          const double x = l < grp.np ? pw : act_slots[warp][l < grp.np ? 0 : l - grp.np][lane];
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) mma_8x8x4(acc[l][nt][0], acc[l][nt][1], x, b[nt]);
        }
        pw *= a[q];
      }
    }

    if (more) {
      // u_tile[(tile+1)&1] was last read in tile−1, before the barrier that ended it.
#pragma unroll
      for (int r = 0; r < NT; ++r) u_tile[(tile + 1) & 1][threadIdx.x + r * kThreads] = u_next[r];
    }
    __syncthreads();
  }

  if (!row_ok) return;  // after the last barrier
  const int C = P + T;
  double* out = G + static_cast<size_t>(s) * C * M;
#pragma unroll
  for (int l = 0; l < JB; ++l) {
    if (l >= grp.jb) break;
    const int ch = l < grp.np ? grp.p_begin + l : P + group + (l - grp.np) * ng;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int alpha = 8 * nt + 2 * col + i;
        if (alpha < M) out[static_cast<size_t>(ch) * M + alpha] = acc[l][nt][i];
      }
  }
}

template <int NT>
void launch(const HiddenContractionArgs& a, cudaStream_t stream) {
  const ChannelGroups cg = hidden_contraction_groups(a.M, a.powers, a.T);
  const int64_t sblocks = (static_cast<int64_t>(a.R) + kSamples - 1) / kSamples;
  const int64_t blocks = sblocks * cg.groups;
  if (blocks > INT32_MAX) throw std::logic_error("hidden_contraction: too many rows for one launch");
  hidden_contraction_kernel<NT><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      a.A0, a.bias, a.U_packed, a.t_values, a.act, hidden_contraction_ladder(a), a.R, a.H, a.M, a.powers, a.T,
      cg.groups, a.G);
  TS_CUDA_LAUNCHED(stream, "hidden_contraction_kernel");
}

}  // namespace

int hidden_contraction_class_tiles(int M) { return class_tiles(M); }

SigmoidLadder hidden_contraction_ladder(const HiddenContractionArgs& a) {
  const bool runs = kLadderTiles(class_tiles(a.M)) && hidden_contraction_groups(a.M, a.powers, a.T).groups == 1;
  return runs ? a.ladder : SigmoidLadder{};
}

size_t hidden_contraction_u_size(int M, int64_t H) {
  const int64_t tiles = (H + kTileH - 1) / kTileH;
  return static_cast<size_t>(tiles) * kSteps * class_tiles(M) * 32;
}

void pack_hidden_contraction_u(const double* U, int M, int64_t ldu, int64_t h_begin, int64_t H, double* out) {
  const int NT = class_tiles(M);
  const size_t n = hidden_contraction_u_size(M, H);
  const int64_t steps = static_cast<int64_t>(n) / (NT * 32);
  for (int64_t q = 0; q < steps; ++q)
    for (int nt = 0; nt < NT; ++nt)
      for (int l = 0; l < 32; ++l) {
        const int alpha = 8 * nt + l / 4;
        const int64_t h = 4 * q + l % 4;
        out[(static_cast<size_t>(q) * NT + nt) * 32 + l] =
            alpha < M && h < H ? U[static_cast<size_t>(alpha) * ldu + h_begin + h] : 0.0;
      }
}

ChannelGroups hidden_contraction_groups(int M, int powers, int T) {
  const int C = powers + T;
  ChannelGroups cg;
  if (C == 0) return cg;
  const int most = max_group_channels(class_tiles(M));
  cg.groups = (C + most - 1) / most;
  cg.max_channels = (C + cg.groups - 1) / cg.groups;
  return cg;
}

void hidden_contraction(const HiddenContractionArgs& a, cudaStream_t stream) {
  if (a.R == 0 || a.powers + a.T == 0) return;  // nothing to write
  switch (class_tiles(a.M)) {
    case 1: launch<1>(a, stream); break;
    case 2: launch<2>(a, stream); break;
    case 4: launch<4>(a, stream); break;
    case 8: launch<8>(a, stream); break;
    default: throw std::logic_error("hidden_contraction: unexpected class tile count");
  }
}

}  // namespace taylorscope::cuda
