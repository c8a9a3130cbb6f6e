// Small synthetic data sets and a naive forward pass for the tests: the
// reference is deliberately plain loops, sharing no code with the backends
// except activation_value.
#pragma once

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "taylorscope/activation.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/params.hpp"
#include "taylorscope/training.hpp"

namespace taylorscope::testing {

inline double gaussian(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(1e-12, 1.0);
  return std::sqrt(-2.0 * std::log(u(rng))) * std::cos(2.0 * 3.14159265358979323846 * u(rng));
}

// A pass plan: `activation` at order K with the t values, class power sums
// up to the P-th power.
inline PassPlan make_plan(const std::string& activation, int K, std::vector<double> t_values, int P) {
  PassPlan plan;
  plan.act = parse_activation(activation);
  plan.order = K;
  plan.taylor = activation_taylor(plan.act, std::max(K, 1));
  plan.max_power = P;
  plan.t_values = std::move(t_values);
  return plan;
}

// A short training run's settings: H = 8, silu, SGD at lr 0.1, batch 10,
// 3 epochs.
inline TrainConfig small_train_config() {
  TrainConfig c;
  c.hidden = 8;
  c.act = parse_activation("silu");
  c.opt.lr = 0.1;
  c.batch = 10;
  c.epochs = 3;
  return c;
}

// counts[α] samples of class α; features have a class-dependent mean so the
// J tensors are not zero. Labels are interleaved, not sorted.
inline Dataset synthetic_data(const std::vector<int64_t>& counts, int64_t E, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Dataset d;
  d.spec = "synthetic";
  d.M = static_cast<int>(counts.size());
  d.E = E;
  std::vector<double> centre(d.M * E);
  for (double& v : centre) v = 0.5 * gaussian(rng);
  std::vector<int64_t> left = counts;
  for (bool any = true; any;) {
    any = false;
    for (int a = 0; a < d.M; ++a) {
      if (left[a] == 0) continue;
      --left[a];
      any = true;
      d.labels.push_back(a);
      for (int64_t g = 0; g < E; ++g) d.Z.push_back(centre[a * E + g] + 0.7 * gaussian(rng));
    }
  }
  d.N = static_cast<int64_t>(d.labels.size());
  count_classes(d);
  return d;
}

inline Params random_params(int64_t M, int64_t H, int64_t E, double scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Params p;
  p.M = M;
  p.H = H;
  p.E = E;
  auto fill = [&](std::vector<double>& v, size_t n) {
    v.resize(n);
    for (double& x : v) x = scale * gaussian(rng);
  };
  fill(p.U, M * H);
  fill(p.W, H * E);
  fill(p.b, H);
  fill(p.c, M);
  return p;
}

// S(tθ) = mean over samples of −ln softmax_m(t U σ(t (W z + b)) + t c).
inline double naive_action(const Dataset& d, const Params& p, const Activation& act, double t) {
  double total = 0;
  std::vector<double> h(p.H), f(p.M);
  for (int64_t s = 0; s < d.N; ++s) {
    for (int64_t b = 0; b < p.H; ++b) {
      double a = p.b[b];
      for (int64_t g = 0; g < p.E; ++g) a += p.W[b * p.E + g] * d.Z[s * d.E + g];
      h[b] = activation_value(act, t * a);
    }
    double mx = -INFINITY;
    for (int64_t a = 0; a < p.M; ++a) {
      double v = p.c[a];
      for (int64_t b = 0; b < p.H; ++b) v += p.U[a * p.H + b] * h[b];
      f[a] = t * v;
      mx = std::max(mx, f[a]);
    }
    double z = 0;
    for (double v : f) z += std::exp(v - mx);
    total += mx + std::log(z) - f[d.labels[s]];
  }
  return total / static_cast<double>(d.N);
}

}  // namespace taylorscope::testing
