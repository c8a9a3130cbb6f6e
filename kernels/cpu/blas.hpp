// Thin row-major wrappers over BLAS so call sites read like the formulas
// (A0 = Z Wᵀ, G = X Uᵀ, ∇W = δᵀ X).
#pragma once

#include <cstdint>

namespace taylorscope::cpu {

// C[rows×cols] = alpha · A[rows×inner] · B[cols×inner]ᵀ + beta · C  (float64, BLAS)
void gemm_abt(int64_t rows, int64_t cols, int64_t inner, const double* A, const double* B,
              double* C, double alpha = 1.0, double beta = 0.0);

// C[rows×cols] = alpha · op(A) · op(B) + beta · C, row-major with leading
// dimensions; op(X) = Xᵀ when the flag is set. For strided views (a block
// of columns of a wider matrix).
void gemm(bool trans_a, bool trans_b, int64_t rows, int64_t cols, int64_t inner, double alpha,
          const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
          int64_t ldc);

// While alive, BLAS calls run on the calling thread alone. The CPU pass gives
// each OpenMP thread its own rows and its own GEMMs: with a threaded BLAS
// beside OpenMP, the two thread pools spin against each other on few cores
// (measured on 2 cores: 1.6 s instead of 1.2 s for the H = 256 pass). Only
// OpenBLAS exposes the switch; other BLAS libraries are left as they are.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int saved_ = 0;
};

}  // namespace taylorscope::cpu
