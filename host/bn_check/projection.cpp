// bn-check part 1: BN's Jacobian kills f and 1, and its back-propagated
// gradient is (1/std)·P⊥_{f,1} g (MATH.md §12), for random batches.
#include <algorithm>
#include <cmath>
#include <vector>

#include "bn_check/streams.hpp"
#include "taylorscope/batch_norm.hpp"
#include "taylorscope/bn_check.hpp"
#include "taylorscope/counter_rng.hpp"

namespace taylorscope {
namespace {

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double a : v) m = std::max(m, std::fabs(a));
  return m;
}

// One trial: a batch x = offset + scale·z, z standard normal, with scale
// log-uniform in [1e-3, 1e3] and |offset| up to 100·scale, so the checks
// cover batches far from unit scale and far from zero mean; g standard
// normal.
ProjectionTrial run_trial(const ProjectionConfig& c, int64_t t) {
  const uint64_t uniforms = bn_streams::projection_uniforms(t), normals = bn_streams::projection_normals(t);
  const int B = 2 + static_cast<int>(philox_uniform(c.seed, uniforms, 0) * (c.max_batch - 1));
  const double scale = std::pow(10.0, -3 + 6 * philox_uniform(c.seed, uniforms, 1));
  const double offset = scale * (200 * philox_uniform(c.seed, uniforms, 2) - 100);
  std::vector<double> x(B), g(B), f(B), ones(B, 1.0);
  for (int i = 0; i < B; ++i) x[i] = offset + scale * philox_normal(c.seed, normals, i);
  for (int i = 0; i < B; ++i) g[i] = philox_normal(c.seed, normals, B + i);

  ProjectionTrial r;
  r.trial = t;
  r.batch = B;
  r.mean = bn_mean(x.data(), B);
  const double s = bn_forward(x.data(), B, f.data());
  r.std = s;
  if (!(s > 0)) {  // B ≥ 2 normal draws are never all equal; if they were, BN is undefined
    r.max_abs_Jf = r.max_abs_J1 = r.max_abs_grad_diff = r.max_abs_jacobian_diff = std::nan("");
    return r;
  }

  std::vector<double> J(static_cast<size_t>(B) * B), Jf(B, 0.0), J1(B, 0.0);
  bn_jacobian(f.data(), s, B, J.data());
  for (int i = 0; i < B; ++i)
    for (int k = 0; k < B; ++k) {
      Jf[i] += J[static_cast<size_t>(i) * B + k] * f[k];
      J1[i] += J[static_cast<size_t>(i) * B + k];
    }
  r.max_abs_Jf = s * max_abs(Jf) / max_abs(f);
  r.max_abs_J1 = s * max_abs(J1);

  std::vector<double> formula(B), by_ops(B);
  bn_backward(f.data(), s, g.data(), B, formula.data());
  bn_backward_by_ops(x.data(), g.data(), B, by_ops.data());
  double d = 0;
  for (int i = 0; i < B; ++i) d = std::max(d, std::fabs(by_ops[i] - formula[i]));
  r.max_abs_grad_diff = s * d / max_abs(g);

  // Column k of the forward's Jacobian is its derivative along e_k.
  std::vector<double> e(B, 0.0), column(B);
  d = 0;
  for (int k = 0; k < B; ++k) {
    e[k] = 1;
    bn_jvp_by_ops(x.data(), e.data(), B, column.data());
    e[k] = 0;
    for (int i = 0; i < B; ++i) d = std::max(d, std::fabs(column[i] - J[static_cast<size_t>(i) * B + k]));
  }
  r.max_abs_jacobian_diff = s * d;
  return r;
}

}  // namespace

std::vector<ProjectionTrial> check_projection(const ProjectionConfig& config, const BnCheckProgress& progress) {
  std::vector<ProjectionTrial> trials(config.trials);
  int64_t done = 0;
  // Trials are independent and each is a pure function of (seed, trial):
  // the result does not depend on the thread count.
#pragma omp parallel for schedule(dynamic)
  for (int64_t t = 0; t < config.trials; ++t) {
    trials[t] = run_trial(config, t);
    if (progress) {
#pragma omp critical(bn_projection_progress)
      progress(++done, config.trials);
    }
  }
  return trials;
}

}  // namespace taylorscope
