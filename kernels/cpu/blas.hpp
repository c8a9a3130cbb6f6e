// The one GEMM shape the CPU path needs, C = A Bᵀ with everything row-major,
// as a thin wrapper so call sites read like the formulas (A0 = Z Wᵀ, G = X Uᵀ).
#pragma once

#include <cstdint>

namespace taylorscope::cpu {

// C[rows×cols] = alpha · A[rows×inner] · B[cols×inner]ᵀ + beta · C  (float64, BLAS)
void gemm_abt(int64_t rows, int64_t cols, int64_t inner, const double* A, const double* B,
              double* C, double alpha = 1.0, double beta = 0.0);

}  // namespace taylorscope::cpu
