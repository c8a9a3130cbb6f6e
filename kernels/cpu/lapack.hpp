// The two LAPACK calls RNGD needs (Cholesky factor and solve of a symmetric
// positive-definite matrix), wrapped so that a failure is an exception.
#pragma once

#include <cstdint>

namespace taylorscope::cpu {

// Overwrites the n×n symmetric positive-definite A (both triangles given)
// with its Cholesky factor. Throws std::runtime_error if A is not PD.
void cholesky_factor(int64_t n, double* A);

// Solves A X = B in place for nrhs right-hand sides stored as rows of B
// (nrhs×n, row-major), given A's factor from cholesky_factor.
void cholesky_solve(int64_t n, int64_t nrhs, const double* factor, double* B);

}  // namespace taylorscope::cpu
