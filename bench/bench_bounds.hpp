// The physical bound printed beside every benchmark time: FLOPs over the
// device's DGEMM rate. The CPU rate is measured (a 2048³ DGEMM, best of 3);
// the GPU rate is the datasheet FP64 tensor-core peak of the named device
// (nominal, and labelled so).
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "cpu/blas.hpp"

namespace taylorscope::bench {

inline double measured_cpu_dgemm_gflops() {
  static const double rate = [] {
    const int n = 2048;
    std::vector<double> A(size_t(n) * n, 1.0 / 3), B(size_t(n) * n, 0.5), C(size_t(n) * n);
    cpu::gemm_abt(n, n, n, A.data(), B.data(), C.data());  // warm-up
    double best = 0;
    for (int i = 0; i < 3; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      cpu::gemm_abt(n, n, n, A.data(), B.data(), C.data());
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2.0 * n * n * n / s / 1e9);
    }
    return best;
  }();
  return rate;
}

// FP64 tensor-core peaks from NVIDIA's datasheets (SXM parts).
inline double nominal_gpu_dgemm_gflops(const std::string& name) {
  if (name.find("H100") != std::string::npos || name.find("H200") != std::string::npos) return 67000;
  if (name.find("A100") != std::string::npos) return 19500;
  return 0;
}

}  // namespace taylorscope::bench
