#include "cpu/lapack.hpp"

#include <cblas.h>

#include <stdexcept>
#include <string>

extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a, const int* lda,
             double* b, const int* ldb, int* info);
}

namespace taylorscope::cpu {

// LAPACK is column-major; a symmetric matrix is its own transpose, and nrhs
// row-major rows of length n are n×nrhs column-major columns.
void cholesky_factor(int64_t n, double* A) {
  const int nn = static_cast<int>(n);
  int info = 0;
  dpotrf_("L", &nn, A, &nn, &info);
  if (info != 0)
    throw std::runtime_error("Cholesky factorisation failed (LAPACK dpotrf info " +
                             std::to_string(info) + ")");
}

void cholesky_solve(int64_t n, int64_t nrhs, const double* factor, double* B) {
  const int nn = static_cast<int>(n), nr = static_cast<int>(nrhs);
  if (nrhs == 1) {
    // L z = b, Lᵀ x = z as two BLAS triangular solves: dpotrs would pack the
    // single right-hand side for a level-3 trsm, which costs more than the
    // solve at the sizes RNGD has (n = B ≈ 50, once per neuron and step).
    cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, nn, factor, nn, B, 1);
    cblas_dtrsv(CblasColMajor, CblasLower, CblasTrans, CblasNonUnit, nn, factor, nn, B, 1);
    return;
  }
  int info = 0;
  dpotrs_("L", &nn, &nr, factor, &nn, B, &nn, &info);
  if (info != 0)
    throw std::runtime_error("Cholesky solve failed (LAPACK dpotrs info " + std::to_string(info) + ")");
}

}  // namespace taylorscope::cpu
