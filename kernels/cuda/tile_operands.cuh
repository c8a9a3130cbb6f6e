// The GEMM operands of the tensor tiles that are not the inputs themselves
// (tile_plan.hpp): the scaled rows Y of a group, and T's class-weighted
// rows UW. See tile_operands.cu.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/tile_plan.hpp"
#include "taylorscope/hd.hpp"

namespace taylorscope::cuda {

// Y[r][k·c0 + j] = y_kr · X[r][L0 + j] with y_kr = X[r][g0] (n = 3) or
// X[r][g0]·X[r][g1] (n = 4) of prefix k: the products in the order the CPU
// reference forms them (class_block in moment_tensors_cpu.cpp).
TS_HD double scaled_entry(const double* x_row, int n, const PrefixEntry& p, int L0, int j) {
  double y = x_row[p.g0];
  if (n == 4) y *= x_row[p.g1];
  return y * x_row[L0 + j];
}

// Y (R × ldy) for the K = `count` prefixes of a group, for n ≥ 3; X is R×E.
void scale_rows_by_prefix(const double* X, int64_t R, int E, int n, const PrefixEntry* prefixes, int count, int L0,
                          int c0, double* Y, int ldy, cudaStream_t stream);

// UW[α][h][e] = U[α][h] · W[h][e]: M×H×E from U (M×H) and W (H×E).
void class_weighted_rows(const double* U, const double* W, int M, int64_t H, int64_t E, double* UW,
                         cudaStream_t stream);

}  // namespace taylorscope::cuda
