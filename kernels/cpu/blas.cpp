#include "cpu/blas.hpp"

#include <cblas.h>

#if defined(TS_OPENBLAS_THREADS)
extern "C" {
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
}
#endif

namespace taylorscope::cpu {

void gemm_abt(int64_t rows, int64_t cols, int64_t inner, const double* A, const double* B,
              double* C, double alpha, double beta) {
  if (rows == 0 || cols == 0) return;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
              static_cast<int>(cols), static_cast<int>(inner), alpha, A, static_cast<int>(inner),
              B, static_cast<int>(inner), beta, C, static_cast<int>(cols));
}

void gemm(bool trans_a, bool trans_b, int64_t rows, int64_t cols, int64_t inner, double alpha,
          const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
          int64_t ldc) {
  if (rows == 0 || cols == 0) return;
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(rows), static_cast<int>(cols), static_cast<int>(inner), alpha, A,
              static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

#if defined(TS_OPENBLAS_THREADS)
SingleThreadedBlas::SingleThreadedBlas() : saved_(openblas_get_num_threads()) {
  openblas_set_num_threads(1);
}
SingleThreadedBlas::~SingleThreadedBlas() { openblas_set_num_threads(saved_); }
#else
SingleThreadedBlas::SingleThreadedBlas() = default;
SingleThreadedBlas::~SingleThreadedBlas() = default;
#endif

}  // namespace taylorscope::cpu
