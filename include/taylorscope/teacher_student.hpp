// The two-layer ReLU teacher–student objective of Safran & Shamir (MATH.md
// §10), written once for the CPU study (kernels/cpu/spurious_cpu.cpp) and the
// CUDA one (kernels/cuda/spurious_cuda.cu): one neuron's share of F and of
// ∇F, the Xavier initial point drawn from the shared Philox streams, and a
// forward-mode dual number so that the exact Hessian is the derivative of
// the closed-form gradient (forward over reverse), not a finite difference.
//
//   F(W) = ½ [ Σ_{i,i'} g(w_i, w_i') − 2 Σ_{i,j} g(w_i, v_j) + Σ_{j,j'} g(v_j, v_j') ],
//   g(u, w) = ‖u‖‖w‖ (sin φ + (π − φ) cos φ) / (2π),   v_j = e_j ∈ R^k,
//   ∇_{w_i} F = w_i/2 + Σ_{i'≠i} ∂g/∂u(w_i, w_i') − Σ_j ∂g/∂u(w_i, e_j),
//   ∂g/∂u(u, w) = (‖w‖ sin φ · u/‖u‖ + (π − φ) w) / (2π).
//
// W is n×k row-major (row i is w_i); everything is float64.
#pragma once

#include <cmath>
#include <cstdint>

#include "taylorscope/counter_rng.hpp"
#include "taylorscope/hd.hpp"

namespace taylorscope::teacher_student {

constexpr double kPi = 3.141592653589793238462643;

// ---- a dual number a + b ε (ε² = 0): the tangent b carries one directional
// derivative through the same arithmetic as the value.
struct Dual {
  double v = 0, d = 0;
  TS_HD Dual() = default;
  TS_HD Dual(double value, double tangent = 0) : v(value), d(tangent) {}
};
TS_HD Dual operator+(Dual a, Dual b) { return {a.v + b.v, a.d + b.d}; }
TS_HD Dual operator-(Dual a, Dual b) { return {a.v - b.v, a.d - b.d}; }
TS_HD Dual operator-(Dual a) { return {-a.v, -a.d}; }
TS_HD Dual operator*(Dual a, Dual b) { return {a.v * b.v, a.d * b.v + a.v * b.d}; }
TS_HD Dual operator/(Dual a, Dual b) { return {a.v / b.v, (a.d * b.v - a.v * b.d) / (b.v * b.v)}; }
TS_HD Dual& operator+=(Dual& a, Dual b) { return a = a + b; }
TS_HD Dual& operator-=(Dual& a, Dual b) { return a = a - b; }

TS_HD double value(double x) { return x; }
TS_HD double value(Dual x) { return x.v; }

TS_HD double ts_sqrt(double x) { return std::sqrt(x); }
TS_HD double ts_acos(double x) { return std::acos(x); }
TS_HD double ts_sin(double x) { return std::sin(x); }
TS_HD double ts_cos(double x) { return std::cos(x); }
TS_HD double ts_atan2(double y, double x) { return std::atan2(y, x); }
// √ at 0 has an infinite slope, but the only zeros taken here are a norm of
// a vector that is exactly 0 together with its tangent (two rows exactly
// parallel, as at W = V: ‖û − ŵ‖² = 0 and its derivative 2(û − ŵ)·d = 0), or
// a whole row exactly 0, which the callers branch around. In the first case
// φ multiplies (‖w‖ û − w) = 0 in ∂g/∂u, so any finite tangent gives the
// Hessian's true value; 0 is taken (0/0 would poison the matrix with NaN).
TS_HD Dual ts_sqrt(Dual x) {
  const double r = std::sqrt(x.v);
  return {r, r > 0 ? x.d / (2 * r) : 0.0};
}
TS_HD Dual ts_acos(Dual x) { return {std::acos(x.v), -x.d / std::sqrt(1 - x.v * x.v)}; }
TS_HD Dual ts_sin(Dual x) { return {std::sin(x.v), x.d * std::cos(x.v)}; }
TS_HD Dual ts_cos(Dual x) { return {std::cos(x.v), -x.d * std::sin(x.v)}; }
TS_HD Dual ts_atan2(Dual y, Dual x) {
  const double r2 = x.v * x.v + y.v * y.v;
  return {std::atan2(y.v, x.v), r2 > 0 ? (x.v * y.d - y.v * x.d) / r2 : 0.0};
}

// ---- the angle φ ∈ [0, π] between two rows and sin φ.
template <class T>
struct Angle {
  T phi, sin_phi, cos_phi;
};

// Below |cos φ| = 0.9 the angle is taken as acos(cos φ): its rounding error
// is ε/sin φ ≤ 2.3ε there. Nearer ±1 acos and √(1 − cos²φ) lose half the
// digits (cos φ carries an absolute error ~ε, so φ and sin φ err by ~√ε ≈
// 1e-8), which would keep ‖∇F‖ from ever reaching 1e-12 where two rows are
// (anti)parallel — as at every global minimum (w_i = e_j) and at the split
// neurons of n > k. There φ = 2 atan2(‖û − ŵ‖, ‖û + ŵ‖) (Kahan), accurate to
// a few ulps at every angle. The cosine is still clamped to [−1, 1] before
// acos, although |cos φ| < 0.9 there: a row pair with a NaN or an overflowed
// norm must not turn into a silent acos domain error here.
constexpr double kAcosBelow = 0.9;

template <class T>
TS_HD Angle<T> angle_from_unit_gap(T gap2, T sum2) {
  const T phi = T(2.0) * ts_atan2(ts_sqrt(gap2), ts_sqrt(sum2));
  return {phi, ts_sin(phi), ts_cos(phi)};
}

template <class T>
TS_HD Angle<T> angle_from_cos(T c) {
  if (value(c) > 1) c = T(1.0);
  if (value(c) < -1) c = T(-1.0);
  return {ts_acos(c), ts_sqrt(T(1.0) - c * c), c};
}

// Angle between rows u and w (norms nu, nw > 0, dot = u·w).
template <class T>
TS_HD Angle<T> row_angle(const T* u, T nu, const T* w, T nw, T dot, int k) {
  const T c = dot / (nu * nw);
  if (std::fabs(value(c)) < kAcosBelow) return angle_from_cos(c);
  T gap2 = 0.0, sum2 = 0.0;
  for (int q = 0; q < k; ++q) {
    const T a = u[q] / nu, b = w[q] / nw;
    gap2 += (a - b) * (a - b);
    sum2 += (a + b) * (a + b);
  }
  return angle_from_unit_gap(gap2, sum2);
}

// Angle between row u (norm nu > 0) and the teacher e_j.
template <class T>
TS_HD Angle<T> teacher_angle(const T* u, T nu, int j, int k) {
  const T c = u[j] / nu;
  if (std::fabs(value(c)) < kAcosBelow) return angle_from_cos(c);
  T gap2 = 0.0, sum2 = 0.0;
  for (int q = 0; q < k; ++q) {
    const T a = u[q] / nu;
    const T b = q == j ? T(1.0) : T(0.0);
    gap2 += (a - b) * (a - b);
    sum2 += (a + b) * (a + b);
  }
  return angle_from_unit_gap(gap2, sum2);
}

template <class T>
TS_HD T row_norm(const T* u, int k) {
  T s = 0.0;
  for (int q = 0; q < k; ++q) s += u[q] * u[q];
  return ts_sqrt(s);
}

// The constant Σ_{j,j'} g(v_j, v_j') for orthonormal teachers: k on the
// diagonal (‖v‖²/2 each) and 1/(2π) off it (φ = π/2).
TS_HD double teacher_constant(int k) { return 0.5 * k + k * (k - 1.0) / (2 * kPi); }

// Row i's share of F: ‖w_i‖²/4 + ½ Σ_{i'≠i} g(w_i, w_i') − Σ_j g(w_i, e_j),
// so that F = Σ_i share_i + teacher_constant(k)/2. A row exactly 0 has g = 0
// with everything (‖u‖ multiplies g).
template <class T>
TS_HD T neuron_objective(int i, int n, int k, const T* W, const T* norms) {
  const T* u = W + static_cast<int64_t>(i) * k;
  const T nu = norms[i];
  T s = 0.25 * nu * nu;
  if (value(nu) == 0) return s;
  T cross = 0.0, teach = 0.0;
  for (int i2 = 0; i2 < n; ++i2) {
    if (i2 == i || value(norms[i2]) == 0) continue;
    const T* w = W + static_cast<int64_t>(i2) * k;
    T dot = 0.0;
    for (int q = 0; q < k; ++q) dot += u[q] * w[q];
    const Angle<T> a = row_angle(u, nu, w, norms[i2], dot, k);
    cross += norms[i2] * (a.sin_phi + (kPi - a.phi) * a.cos_phi);
  }
  for (int j = 0; j < k; ++j) {
    const Angle<T> a = teacher_angle(u, nu, j, k);
    teach += a.sin_phi + (kPi - a.phi) * a.cos_phi;
  }
  return s + nu * (0.5 * cross - teach) / (2 * kPi);
}

// Row i's gradient ∇_{w_i} F into grad[0..k). A row exactly 0 (never drawn
// by Xavier, but GD may drive a surplus row there when n > k) has no angle:
// F is not differentiable there, and the value taken is the average of
// ∂g/∂u over the directions of u, (π/2) w/(2π) = w/4 — the sin φ · û term
// averages to 0. A partner row exactly 0 contributes nothing (‖w‖ and w
// multiply ∂g/∂u).
template <class T>
TS_HD void neuron_gradient(int i, int n, int k, const T* W, const T* norms, T* grad) {
  const T* u = W + static_cast<int64_t>(i) * k;
  const T nu = norms[i];
  const bool zero_row = value(nu) == 0;
  T along_u = 0.0;  // the coefficient of u, Σ ‖w‖ sin φ / ‖u‖
  for (int q = 0; q < k; ++q) grad[q] = 0.0;
  for (int i2 = 0; i2 < n; ++i2) {
    if (i2 == i || value(norms[i2]) == 0) continue;
    const T* w = W + static_cast<int64_t>(i2) * k;
    if (zero_row) {
      for (int q = 0; q < k; ++q) grad[q] += 0.5 * kPi * w[q];
      continue;
    }
    T dot = 0.0;
    for (int q = 0; q < k; ++q) dot += u[q] * w[q];
    const Angle<T> a = row_angle(u, nu, w, norms[i2], dot, k);
    along_u += norms[i2] * a.sin_phi / nu;
    const T weight = kPi - a.phi;
    for (int q = 0; q < k; ++q) grad[q] += weight * w[q];
  }
  for (int j = 0; j < k; ++j) {
    if (zero_row) {
      grad[j] -= 0.5 * kPi;
      continue;
    }
    const Angle<T> a = teacher_angle(u, nu, j, k);
    along_u -= a.sin_phi / nu;
    grad[j] -= kPi - a.phi;
  }
  for (int q = 0; q < k; ++q) grad[q] = 0.5 * u[q] + (along_u * u[q] + grad[q]) / (2 * kPi);
}

// ---- the initial point: Xavier (Glorot) for a layer of fan-in k and
// fan-out n, uniform w_iq ~ U(−a, a), a = √(6/(k + n)), or normal of the same
// variance 2/(k + n) (the study's default, spurious.hpp), so E‖w_i‖² =
// 2k/(k + n). The uniform draws are bitwise the same on host and device; the
// normal ones agree to a few ulps (philox_normal). Run r of (k, n) reads
// the Philox stream (k << 48) | (n << 32) | r, draw i·k + q for w_iq: every
// run is replayable alone from (seed, r), and two configurations never share
// a stream (k, n < 2^16, r < 2^32).
TS_HD uint64_t init_stream(int k, int n, uint64_t run) {
  return (static_cast<uint64_t>(k) << 48) | (static_cast<uint64_t>(n) << 32) | run;
}
// `scale` multiplies a (1: Xavier; other values probe how the share of
// spurious runs depends on the initial scale, docs/spurious.md).
TS_HD double xavier_weight(uint64_t seed, int k, int n, uint64_t run, int i, int q, double scale = 1.0) {
  const double a = scale * std::sqrt(6.0 / (k + n));
  const double u = philox_uniform(seed, init_stream(k, n, run), static_cast<uint64_t>(i) * k + q);
  return a * (2 * u - 1);
}

// Xavier-normal: w_iq ~ N(0, 2/(k + n)), the same variance as the uniform
// one, but rotation invariant — the uniform cube is aligned with the
// teachers e_j, the Gaussian is not (docs/spurious.md, "Initialisation").
// Host and device agree to a few ulps only (philox_normal's log, sin, cos).
TS_HD double xavier_normal_weight(uint64_t seed, int k, int n, uint64_t run, int i, int q, double scale = 1.0) {
  const double sd = scale * std::sqrt(2.0 / (k + n));
  return sd * philox_normal(seed, init_stream(k, n, run), static_cast<uint64_t>(i) * k + q);
}

// The initial weight of the chosen kind (normal: Xavier-normal, else uniform).
TS_HD double initial_weight(bool normal, uint64_t seed, int k, int n, uint64_t run, int i, int q, double scale) {
  return normal ? xavier_normal_weight(seed, k, n, run, i, q, scale) : xavier_weight(seed, k, n, run, i, q, scale);
}

}  // namespace taylorscope::teacher_student
