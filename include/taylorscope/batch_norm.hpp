// BatchNorm of one node over a batch (MATH.md §12; seed 004, Thm 5): the
// forward, its exact Jacobian, and the gradient it back-propagates, written
// once for host and device.
//
//   f = (x − mean(x)) / std(x),   std(x) = sqrt((1/B) Σ (x_i − mean)²),
//
// the population standard deviation (1/B, not 1/(B−1)), so that 1ᵀf = 0 and
// fᵀf = B as MATH.md states, and with NO ε under the root: with ε the
// identities J·1 = J·f = 0 hold only up to O(ε/var), and this module exists
// to check them exactly. (Frameworks add ε to survive a constant node; here
// a node with std = 0 is refused by the caller.) The affine sublayer
// γ·f + β comes after and is the caller's.
//
// The Jacobian J_ik = ∂f_i/∂x_k = (δ_ik − 1/B − f_i f_k / B) / std is
// symmetric, so the gradient g_x = Jᵀ g = J g = (1/std) · P⊥_{f,1} g with
// P⊥_{f,1} = I − 11ᵀ/B − f fᵀ/B (1 and f/√B are orthonormal).
//
// The *_by_ops functions differentiate the forward's own operations step by
// step (forward mode for J·v, reverse mode for Jᵀ·g) without using the
// closed form: they are the independent oracles bn-check and the tests set
// beside the formula.
#pragma once

#include <cmath>

#include "taylorscope/hd.hpp"

namespace taylorscope {

// mean(x), by two passes: the second adds the mean of the residuals x − m,
// which removes the first pass's rounding to first order. The centred values
// then sum to O(ε·std·√B) rather than O(ε·|mean|·B), which is what keeps
// 1ᵀf (and so J·1) at rounding level when |mean| ≫ std.
TS_HD double bn_mean(const double* x, int B) {
  double m = 0;
  for (int i = 0; i < B; ++i) m += x[i];
  m /= B;
  double r = 0;
  for (int i = 0; i < B; ++i) r += x[i] - m;
  return m + r / B;
}

// f = (x − mean)/std; returns std (population, no ε). When std is 0 (a
// constant node) f is left untouched and 0 is returned: BN is undefined
// there, and the caller decides.
TS_HD double bn_forward(const double* x, int B, double* f) {
  const double m = bn_mean(x, B);
  double v = 0;
  for (int i = 0; i < B; ++i) v += (x[i] - m) * (x[i] - m);
  const double s = std::sqrt(v / B);
  if (!(s > 0)) return 0;
  for (int i = 0; i < B; ++i) f[i] = (x[i] - m) / s;
  return s;
}

// The closed-form Jacobian, row-major B×B: J[i·B + k] = ∂f_i/∂x_k.
TS_HD void bn_jacobian(const double* f, double s, int B, double* J) {
  for (int i = 0; i < B; ++i)
    for (int k = 0; k < B; ++k) J[i * B + k] = ((i == k ? 1.0 : 0.0) - 1.0 / B - f[i] * f[k] / B) / s;
}

// Seed 004's Thm 5: g_x = (1/std) · (g − (1ᵀg/B)·1 − (fᵀg/B)·f). In place
// (gx == g) is allowed.
TS_HD void bn_backward(const double* f, double s, const double* g, int B, double* gx) {
  double g1 = 0, gf = 0;
  for (int i = 0; i < B; ++i) {
    g1 += g[i];
    gf += f[i] * g[i];
  }
  g1 /= B;
  gf /= B;
  for (int i = 0; i < B; ++i) gx[i] = (g[i] - g1 - gf * f[i]) / s;
}

// Forward mode through m = Σx/B, c = x − m, v = Σc²/B, s = √v, f = c/s:
// out = J·dx, where ṁ = Σdx/B, ċ = dx − ṁ, v̇ = 2Σcċ/B, ṡ = v̇/(2s),
// ḟ = ċ/s − c·ṡ/s². `out` must not alias dx.
TS_HD void bn_jvp_by_ops(const double* x, const double* dx, int B, double* out) {
  const double m = bn_mean(x, B);
  double v = 0, dm = 0;
  for (int i = 0; i < B; ++i) {
    v += (x[i] - m) * (x[i] - m);
    dm += dx[i];
  }
  dm /= B;
  const double s = std::sqrt(v / B);
  double dv = 0;
  for (int i = 0; i < B; ++i) dv += 2 * (x[i] - m) * (dx[i] - dm);
  dv /= B;
  const double ds = dv / (2 * s);
  for (int i = 0; i < B; ++i) out[i] = (dx[i] - dm) / s - (x[i] - m) * ds / (s * s);
}

// Reverse mode through the same operations, adjoints in the reverse order:
// c̄ = g/s; s̄ = −Σ g c / s²; v̄ = s̄/(2s); c̄ += 2c·v̄/B; m̄ = −Σc̄;
// x̄ = c̄ + m̄/B. `gx` must not alias g.
TS_HD void bn_backward_by_ops(const double* x, const double* g, int B, double* gx) {
  const double m = bn_mean(x, B);
  double v = 0;
  for (int i = 0; i < B; ++i) v += (x[i] - m) * (x[i] - m);
  const double s = std::sqrt(v / B);
  double s_bar = 0;
  for (int i = 0; i < B; ++i) s_bar -= g[i] * (x[i] - m) / (s * s);
  const double v_bar = s_bar / (2 * s);
  double m_bar = 0;
  for (int i = 0; i < B; ++i) {
    gx[i] = g[i] / s + 2 * (x[i] - m) * v_bar / B;  // c̄_i
    m_bar -= gx[i];
  }
  for (int i = 0; i < B; ++i) gx[i] += m_bar / B;
}

}  // namespace taylorscope
