// How the CUDA tensor sweep (moment_tensors_cuda.cu) walks the tiles of
// packed_tiles.hpp: the plan is plain host code, so that its index
// arithmetic is the same wherever it is checked.
//
// Groups. The prefixes of the shape's tile range (all, or a rank's share:
// a contiguous run of the tile order) are taken in order of L (for n = 4 the prefixes that
// share L are then consecutive) and cut into groups. A group computes one
// padded square per prefix: columns L0..E−1 of X, where L0 is the group's
// smallest L rounded down to kAlign (aligned GEMM operands), so the K
// prefixes of a group share one GEMM shape; prefix k's real tile is the
// sub-square from d_k = L_k − L0. A group grows while
//   • its padding stays small: L_k − L0 ≤ max(kAlign − 1, c0/16), so a padded
//     square costs at most ~1/8 more than the tile it holds;
//   • its GEMM work is below kGroupFlops (big tiles go alone: they fill the
//     GPU by themselves; small ones are batched until they do);
//   • its tiles and scaled operands fit in the memory budget.
//
// GEMMs. In cuBLAS's column-major terms a tile is C = A·Bᵀ with
//   A (c0 × R): the unscaled columns L0.. of X (lda E), or for T those of
//               UW_α = diag(U_α) W — the class weight goes into A, so the
//               scaled operand does not depend on α;
//   B (K·c0 × R): the scaled rows Y = [diag(y_k) X_{L0} | k < K] side by side
//               (ldb ldy), or X_{L0} itself for n = 2 (no prefix);
// so one GEMM C_α (c0 × K·c0) holds the K tiles of class α, tile k from
// column k·c0. T's classes are one strided batch over α (B shared, stride 0);
// J's classes have their own row ranges, so each run of classes with equal
// counts is one strided batch (a balanced data set: one call).
// Only the upper triangle is read, so a group of one prefix computes the
// square in column panels: panel [j0, j1) needs rows 0..j1−1 only. With P
// panels the GEMM work is (P+1)/(2P) of the square's.
//
// Layout of the tile buffers: tile (α, k) at (α·K + k)·tile_stride, element
// (i, j) of it at j·ld + i (i < rows, j < c0). For n = 1 a tile is the row
// 1 × E (ld = 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "taylorscope/packed_tiles.hpp"

namespace taylorscope::cuda {

constexpr int kAlign = 4;                   // doubles: 32-byte aligned L0, ld, ldy
constexpr double kGroupFlops = 2e10;        // GEMM work at which a group stops growing (~0.4 ms)
constexpr int kMaxGroupPrefixes = 8192;
constexpr int kMaxPanels = 3;
constexpr int kPanelTile = 128;             // cuBLAS's output tile, for the panel heuristic

// One prefix as the kernels read it (E < 2^31): L, the run of L in the
// prefix, and the prefix indices (g1 unused for n = 3, both for n ≤ 2).
struct PrefixEntry {
  int L, run, g0, g1;
};

struct SweepShape {
  int n = 0;                         // order 1..4
  int64_t E = 0;
  int M = 0;
  bool J = false, T = false;         // which tensors
  std::vector<int64_t> class_begin;  // M+1 offsets into the sorted rows (J)
  int64_t H = 0;                     // hidden units (T)
  TileRange tiles;                   // the run of tile_prefixes(E, n) to sweep (a rank's share)
};

struct TileGroup {
  int64_t first = 0;         // into SweepPlan::prefixes
  int K = 0;                 // prefixes in the group
  int L0 = 0;                // first column of the padded square
  int c0 = 0;                // columns E − L0
  int rows = 0;              // c0, or 1 for n = 1
  int ld = 0;                // column stride of a tile: round_up(c0, kAlign), or 1 for n = 1
  int64_t tile_stride = 0;   // ld·c0 doubles
  int ldy = 0;               // row stride of the scaled operand Y (n ≥ 3)
  int64_t elements = 0;      // K·(elements walked per tile: c0(c0+1)/2, or E for n = 1)
  int64_t cache_offset = 0;  // this group's M·elements in the element cache
};

struct SweepPlan {
  std::vector<PrefixEntry> prefixes;  // in processing order (by L)
  std::vector<TileGroup> groups;
  size_t tile_doubles = 0;            // largest M·K·tile_stride (per tensor)
  size_t yJ_doubles = 0, yT_doubles = 0;  // largest scaled operands (n ≥ 3)
  int64_t cache_elements = 0;         // Σ over groups of M·elements (per stream)
};

// `budget_bytes` bounds one group's tiles and scaled operands; a single
// prefix is always allowed.
SweepPlan plan_sweep(const SweepShape& shape, size_t budget_bytes);

// C_b = A_b · B_bᵀ for b < batch: cublasDgemmStridedBatched(N, T) with these
// arguments (column-major, leading dimensions and strides in doubles).
struct GemmCall {
  int m = 0, n = 0, k = 0;
  const double* A = nullptr;
  int lda = 0;
  int64_t strideA = 0;
  const double* B = nullptr;
  int ldb = 0;
  int64_t strideB = 0;
  double* C = nullptr;
  int ldc = 0;
  int64_t strideC = 0;
  int batch = 0;
  double flops() const { return 2.0 * m * n * k * batch; }
};

// Where the operands of the GEMMs lie (device pointers in the backend).
struct TileOperands {
  const double* Zs = nullptr;    // J: N×E, rows sorted by class
  const double* ones = nullptr;  // J, n = 1: the largest class count of 1.0
  const double* U = nullptr;     // T, n = 1: M×H
  const double* W = nullptr;     // T: H×E
  const double* UW = nullptr;    // T, n ≥ 2: M×H×E, UW[α][h][e] = U[α][h]·W[h][e]
  const double* YJ = nullptr;    // n ≥ 3: N×ldy scaled rows of Z
  const double* YT = nullptr;    // n ≥ 3: H×ldy scaled rows of W
  double* S = nullptr;           // J: the class sums, M·K tiles
  double* T = nullptr;           // T: M·K tiles
};

// The GEMMs that fill group g's tiles of J's class sums and of T.
// `sms` (the device's multiprocessors) steers the panel count.
std::vector<GemmCall> tile_gemms(const SweepShape& shape, const TileGroup& g, const TileOperands& op, int sms);

}  // namespace taylorscope::cuda
