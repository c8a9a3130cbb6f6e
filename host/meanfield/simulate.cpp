// `meanfield --simulate`: P input pairs at a stated q_0 and c_0 through a deep
// random network (kernels/cpu or kernels/cuda), and per layer the measured
// q and c beside the theory (meanfield.hpp).
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "taylorscope/memory_budget.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/meanfield.hpp"

namespace taylorscope {
namespace {

// Pair p's inputs: two Gaussian vectors (streams 0 and 1), made orthogonal
// and scaled so that each member has (1/N)|z|² = q0 exactly and the pair's
// empirical correlation is c0 exactly; layer 0 is then the theory's start,
// not a draw around it.
std::vector<double> pair_inputs(const SimulateConfig& config) {
  const int64_t N = config.width, P = config.pairs;
  const double c0 = config.c0, q0 = config.theory.q0;
  std::vector<double> Z(static_cast<size_t>(2 * P * N));
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < P; ++p) {
    std::vector<double> u(N), v(N);
    for (int64_t i = 0; i < N; ++i) {
      u[i] = philox_normal(config.seed, 0, static_cast<uint64_t>(p * N + i));
      v[i] = philox_normal(config.seed, 1, static_cast<uint64_t>(p * N + i));
    }
    double uu = 0;
    for (double x : u) uu += x * x;
    double uv = 0;
    for (int64_t i = 0; i < N; ++i) uv += u[i] * v[i];
    for (int64_t i = 0; i < N; ++i) v[i] -= uv / uu * u[i];
    double vv = 0;
    for (double x : v) vv += x * x;
    const double scale = std::sqrt(q0 * static_cast<double>(N));
    const double su = scale / std::sqrt(uu), sv = scale / std::sqrt(vv), s = std::sqrt(1 - c0 * c0);
    double* a = Z.data() + 2 * p * N;
    double* b = a + N;
    for (int64_t i = 0; i < N; ++i) {
      a[i] = su * u[i];
      b[i] = c0 * su * u[i] + s * sv * v[i];
    }
  }
  return Z;
}

double mean(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

double sample_sd(const std::vector<double>& x, double m) {
  if (x.size() < 2) return NAN;
  double s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return std::sqrt(s / static_cast<double>(x.size() - 1));
}

}  // namespace

SimulateResult meanfield_simulate(const SimulateConfig& config,
                                  const std::function<void(int64_t, int64_t)>& progress) {
  if (config.depth < 1 || config.depth > 100000)
    throw InputError("--depth must be 1..100000, got " + std::to_string(config.depth));
  if (config.width < 2) throw InputError("--width must be ≥ 2, got " + std::to_string(config.width));
  if (config.pairs < 2) throw InputError("--pairs must be ≥ 2 (the spread over pairs needs two), got " +
                                         std::to_string(config.pairs));
  if (!(config.c0 >= -1 && config.c0 < 1))
    throw InputError("--c0 must be in [-1, 1) (a pair of distinct inputs), got " + std::to_string(config.c0));
  // The GEMMs index with int (cuBLAS) and the buffers are N² and 2PN doubles.
  if (config.width > 46340) throw InputError("--width must be ≤ 46340 (N² fits an int), got " +
                                             std::to_string(config.width));
  if (2 * config.pairs * config.width > (int64_t{1} << 31) - 1)
    throw InputError("--pairs × --width too large: 2PN must fit an int");
  {
    const double n = static_cast<double>(config.width), rows = 2.0 * static_cast<double>(config.pairs);
    // Host: W, Z, φ(Z), the inputs and b (the GPU holds the same on the device).
    check_memory(8.0 * (n * n + 3 * rows * n + n), "--simulate (one layer's W and the 2P inputs, float64)");
  }
  SimulateResult result;
  const GaussHermite rule = gauss_hermite(config.theory.quadrature_points);
  result.point = meanfield_point(config.theory, rule);
  const MeanFieldMaps maps{config.theory.act, config.theory.sigma_w2, config.theory.sigma_b2, rule};
  result.layers = meanfield_theory_layers(maps, config.theory.q0, config.c0, config.depth, config.width);

  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<double> Z0 = pair_inputs(config);
  std::vector<PairSums> sums;
  if (config.device < 0) {
    meanfield_propagate_cpu(config, Z0, sums, progress);
    result.device = "cpu";
  } else {
    meanfield_propagate_cuda(config, Z0, sums, progress);
    result.device = "cuda:" + std::to_string(config.device);
  }
  const double n = static_cast<double>(config.width);
  for (int l = 0; l <= config.depth; ++l) {
    std::vector<double> q, c;
    for (int64_t p = 0; p < config.pairs; ++p) {
      const PairSums& s = sums[static_cast<size_t>(l) * config.pairs + p];
      q.push_back(s.aa / n);
      q.push_back(s.bb / n);
      // A member at exactly 0 (all units dead) has no correlation.
      c.push_back(s.aa > 0 && s.bb > 0 ? s.ab / std::sqrt(s.aa * s.bb) : NAN);
    }
    SimulateLayer& out = result.layers[l];
    out.q_measured = mean(q);
    out.q_sd_observed = sample_sd(q, out.q_measured);
    out.c_measured = mean(c);
    out.c_sd_observed = sample_sd(c, out.c_measured);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace taylorscope
