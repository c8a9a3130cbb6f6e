// Stage 1 of the expansion pass (expansion_pass.hpp, docs/math.md §2 and §4): for
// every sample s of a chunk, channel ch and class α
//
//   G[s][ch][α] = Σ_β U_αβ g_ch(a_sβ),     a_sβ = A0[s][β] + b_β,
//   g_ch(a) = a^(ch+1)               for ch < P    (P = K−1 power channels)
//   g_ch(a) = σ(t_{ch−P} · a)        for P ≤ ch < C = P + T.
//
// The channel values g_ch(a_sβ) (N×H×C numbers) are never written: they are
// formed in registers and contracted with U on the spot.
//
// Layout of the work:
//   - a block owns kSamples = 32 samples; lane x of every warp is sample x.
//   - warp y of the block owns one channel group of JB channels, and keeps
//     acc[JB][MAXM] in registers: JB·MAXM = 64 doubles whatever MAXM is
//     (MAXM 16 → 4 channels, 32 → 2, 64 → 1). Classes are padded to MAXM
//     with zero rows of U, so the inner loops have compile-time bounds.
//   - β is walked in tiles of kTileH = 32 hidden units: a tile of a (32×32,
//     bias added on load) and of U (32×MAXM) is staged in shared memory and
//     read by every warp of the block. Up to 4 warps (groups) per block;
//     more groups go to blockIdx.y, which re-reads the tiles.
//   - the channel values are pass_channels.hpp's, the CPU path's: powers of
//     a group start from a^(first+1) by repeated multiplication.
// Global traffic per chunk: A0 read ceil(groups/4) times, G written once.
#include "cuda/cuda_check.hpp"
#include "cuda/hidden_contraction.cuh"
#include "taylorscope/pass_channels.hpp"

namespace taylorscope::cuda {
namespace {

constexpr int kSamples = 32;        // samples per block = lanes of a warp
constexpr int kTileH = 32;          // hidden units per shared-memory tile
constexpr int kMaxWarps = 4;        // channel groups (warps) per block
constexpr int kAccDoubles = 64;     // JB·MAXM accumulators per thread

template <int MAXM>
__global__ void __launch_bounds__(kSamples* kMaxWarps)
    hidden_contraction_kernel(const double* __restrict__ A0, const double* __restrict__ bias,
                              const double* __restrict__ U_padded,
                              const double* __restrict__ t_values, Activation act, int R, int H,
                              int M, int P, int C, double* __restrict__ G) {
  constexpr int JB = kAccDoubles / MAXM;
  // +1 column: the transposing store a_tile[hl][sl] hits distinct banks.
  __shared__ double a_tile[kTileH][kSamples + 1];
  alignas(16) __shared__ double u_tile[kTileH][MAXM];

  const int lane = threadIdx.x;  // sample within the block
  const int tid = threadIdx.y * kSamples + threadIdx.x;
  const int nthreads = kSamples * blockDim.y;
  const int s0 = blockIdx.x * kSamples;
  const int s = s0 + lane;
  const int first = (blockIdx.y * blockDim.y + threadIdx.y) * JB;  // first channel of the warp
  const bool has_work = first < C;                                 // uniform per warp

  double t[JB];
#pragma unroll
  for (int j = 0; j < JB; ++j) {
    const int ch = first + j;
    t[j] = (ch >= P && ch < C) ? t_values[ch - P] : 0.0;
  }

  double acc[JB][MAXM];
#pragma unroll
  for (int j = 0; j < JB; ++j)
#pragma unroll
    for (int al = 0; al < MAXM; ++al) acc[j][al] = 0.0;

  for (int h0 = 0; h0 < H; h0 += kTileH) {
    const int nh = min(kTileH, H - h0);
    // a_tile[hl][sl] = A0[s0+sl][h0+hl] + b[h0+hl]: consecutive threads read
    // consecutive hidden units of one row (coalesced). Zero outside the chunk.
    for (int i = tid; i < kTileH * kSamples; i += nthreads) {
      const int hl = i % kTileH, sl = i / kTileH;
      double v = 0.0;
      if (hl < nh && s0 + sl < R) v = A0[static_cast<size_t>(s0 + sl) * H + h0 + hl] + bias[h0 + hl];
      a_tile[hl][sl] = v;
    }
    // u_tile = rows h0..h0+nh of U_padded: one contiguous block of memory.
    for (int i = tid; i < kTileH * MAXM; i += nthreads) {
      const int hl = i / MAXM;
      u_tile[hl][i % MAXM] = hl < nh ? U_padded[static_cast<size_t>(h0) * MAXM + i] : 0.0;
    }
    __syncthreads();

    if (has_work) {
      for (int hl = 0; hl < nh; ++hl) {
        double g[JB];
        pass_channels(a_tile[hl][lane], first, JB, P, C, t, act, g);  // JB constant: unrolled
#pragma unroll
        for (int al = 0; al < MAXM; ++al) {
          const double u = u_tile[hl][al];  // same address in every lane: a broadcast
#pragma unroll
          for (int j = 0; j < JB; ++j) acc[j][al] = fma(u, g[j], acc[j][al]);
        }
      }
    }
    __syncthreads();
  }

  if (!has_work || s >= R) return;
  double* out = G + static_cast<size_t>(s) * C * M;
#pragma unroll
  for (int j = 0; j < JB; ++j) {
    const int ch = first + j;
    if (ch >= C) break;
#pragma unroll
    for (int al = 0; al < MAXM; ++al)
      if (al < M) out[static_cast<size_t>(ch) * M + al] = acc[j][al];
  }
}

template <int MAXM>
void launch(const HiddenContractionArgs& a, cudaStream_t stream) {
  constexpr int JB = kAccDoubles / MAXM;
  const int C = a.powers + a.T;
  const int groups = (C + JB - 1) / JB;
  const int warps = groups < kMaxWarps ? groups : kMaxWarps;
  const dim3 block(kSamples, warps);
  const dim3 grid((a.R + kSamples - 1) / kSamples, (groups + warps - 1) / warps);
  hidden_contraction_kernel<MAXM><<<grid, block, 0, stream>>>(
      a.A0, a.bias, a.U_padded, a.t_values, a.act, a.R, a.H, a.M, a.powers, C, a.G);
  TS_CUDA_LAUNCHED(stream, "hidden_contraction_kernel");
}

}  // namespace

int hidden_contraction_maxm(int M) {
  if (M <= 16) return 16;
  if (M <= 32) return 32;
  if (M <= 64) return 64;
  throw std::logic_error("hidden_contraction_maxm: M > kMaxClasses");
}

void hidden_contraction(const HiddenContractionArgs& a, cudaStream_t stream) {
  if (a.R == 0 || a.powers + a.T == 0) return;  // nothing to write
  switch (a.maxm) {
    case 16: launch<16>(a, stream); break;
    case 32: launch<32>(a, stream); break;
    case 64: launch<64>(a, stream); break;
    default: throw std::logic_error("hidden_contraction: maxm must be 16, 32 or 64");
  }
}

}  // namespace taylorscope::cuda
