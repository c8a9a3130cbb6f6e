// The per-element updates of the optimizers of docs/math.md §9, written once for
// the CPU loops and the CUDA kernels. `g` is the gradient of the training
// objective S_T + (l2/2)(|U|² + |W|²) at the current parameters.
#pragma once

#include <cmath>

#include "taylorscope/hd.hpp"

namespace taylorscope {

// w ← w − lr·g
TS_HD void sgd_update(double& w, double g, double lr) { w -= lr * g; }

// Heavy ball exactly as seed 002 writes it, with g = ∇L(W⁽ⁿ⁾):
//   W⁽ⁿ⁺¹⁾ = W⁽ⁿ⁾ − V⁽ⁿ⁾,   V⁽ⁿ⁺¹⁾ = α g + β V⁽ⁿ⁾.
// With V⁽⁰⁾ = 0 the first step leaves W where it is and every gradient acts
// one step later — the seed's form, not PyTorch's.
TS_HD void momentum_update(double& w, double& v, double g, double lr, double beta) {
  w -= v;
  v = lr * g + beta * v;
}

// Adam (Kingma & Ba, Algorithm 1) at step t ≥ 1; bias1 = 1 − β1^t and
// bias2 = 1 − β2^t are computed once per step by the caller.
TS_HD void adam_update(double& w, double& m, double& v, double g, double lr, double beta1,
                       double beta2, double eps, double bias1, double bias2) {
  m = beta1 * m + (1.0 - beta1) * g;
  v = beta2 * v + (1.0 - beta2) * g * g;
  w -= lr * (m / bias1) / (sqrt(v / bias2) + eps);
}

}  // namespace taylorscope
