#include "cpu/blas.hpp"

#include <cblas.h>

namespace taylorscope::cpu {

void gemm_abt(int64_t rows, int64_t cols, int64_t inner, const double* A, const double* B,
              double* C, double alpha, double beta) {
  if (rows == 0 || cols == 0) return;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
              static_cast<int>(cols), static_cast<int>(inner), alpha, A, static_cast<int>(inner),
              B, static_cast<int>(inner), beta, C, static_cast<int>(cols));
}

}  // namespace taylorscope::cpu
