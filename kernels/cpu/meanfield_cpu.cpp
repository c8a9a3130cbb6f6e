// The random network of `meanfield --simulate` on the CPU: per layer the
// weights and biases drawn from the shared Philox streams (meanfield.hpp,
// OpenMP over rows), φ applied, one BLAS GEMM for all 2P inputs, and the
// pair sums the statistics need.
#include <cmath>
#include <vector>

#include "cpu/blas.hpp"
#include "taylorscope/meanfield.hpp"

namespace taylorscope {
namespace {

void pair_sums(const std::vector<double>& Z, int64_t pairs, int64_t width, PairSums* out) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pairs; ++p) {
    const double* a = Z.data() + (2 * p) * width;
    const double* b = a + width;
    PairSums s;
    for (int64_t i = 0; i < width; ++i) {
      s.aa += a[i] * a[i];
      s.bb += b[i] * b[i];
      s.ab += a[i] * b[i];
    }
    out[p] = s;
  }
}

}  // namespace

void meanfield_propagate_cpu(const SimulateConfig& config, const std::vector<double>& Z0,
                             std::vector<PairSums>& sums, const std::function<void(int64_t, int64_t)>& progress) {
  const int64_t N = config.width, P = config.pairs, rows = 2 * P;
  const double sigma_w = std::sqrt(config.theory.sigma_w2), sigma_b = std::sqrt(config.theory.sigma_b2);
  const Activation act = config.theory.act;
  const uint64_t seed = config.seed;
  std::vector<double> Z = Z0, A(rows * N), W(N * N), b(N);
  sums.assign(static_cast<size_t>(config.depth + 1) * P, PairSums{});
  pair_sums(Z, P, N, sums.data());
  for (int l = 1; l <= config.depth; ++l) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t j = 0; j < N; ++j) W[i * N + j] = meanfield_weight(seed, l, N, i, j, sigma_w);
      b[i] = meanfield_bias(seed, l, i, sigma_b);
    }
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < rows * N; ++k) A[k] = activation_value(act, Z[k]);
    // Z = φ(Z_{l−1}) Wᵀ: row r of Z is W φ(z_r).
    cpu::gemm_abt(rows, N, N, A.data(), W.data(), Z.data());
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < N; ++i) Z[r * N + i] += b[i];
    pair_sums(Z, P, N, sums.data() + static_cast<size_t>(l) * P);
    if (progress) progress(l, config.depth);
  }
}

}  // namespace taylorscope
