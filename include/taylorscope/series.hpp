// Truncated power series ("jets"): a[0..n) stands for sum_k a[k] t^k mod t^n.
// These recurrences are the exact engine of docs/math.md §2: the CPU path and the
// CUDA kernels both call them per sample, and the host calls them once to get
// an activation's Taylor coefficients at 0. No function here allocates; out
// must not alias an input unless stated.
#pragma once

#include <cmath>

#include "taylorscope/hd.hpp"

namespace taylorscope {

// out = a * b
TS_HD void series_mul(const double* a, const double* b, double* out, int n) {
  for (int k = 0; k < n; ++k) {
    double s = 0.0;
    for (int j = 0; j <= k; ++j) s += a[j] * b[k - j];
    out[k] = s;
  }
}

// out = a / b, b[0] != 0
TS_HD void series_div(const double* a, const double* b, double* out, int n) {
  for (int k = 0; k < n; ++k) {
    double s = a[k];
    for (int j = 1; j <= k; ++j) s -= b[j] * out[k - j];
    out[k] = s / b[0];
  }
}

// e = exp(f):  e_0 = exp(f_0),  k e_k = sum_{j=1..k} j f_j e_{k-j}
TS_HD void jet_exp(const double* f, double* e, int n) {
  if (n <= 0) return;
  e[0] = exp(f[0]);
  for (int k = 1; k < n; ++k) {
    double s = 0.0;
    for (int j = 1; j <= k; ++j) s += j * f[j] * e[k - j];
    e[k] = s / k;
  }
}

// l = ln(s), s_0 > 0:  l_0 = ln s_0,  k s_0 l_k = k s_k - sum_{j=1..k-1} j l_j s_{k-j}
TS_HD void jet_log(const double* s, double* l, int n) {
  if (n <= 0) return;
  l[0] = log(s[0]);
  for (int k = 1; k < n; ++k) {
    double acc = k * s[k];
    for (int j = 1; j < k; ++j) acc -= j * l[j] * s[k - j];
    l[k] = acc / (k * s[0]);
  }
}

// out = c0 + integral_0^t a   (out may not alias a)
TS_HD void series_integrate(const double* a, double c0, double* out, int n) {
  if (n <= 0) return;
  out[0] = c0;
  for (int k = 1; k < n; ++k) out[k] = a[k - 1] / k;
}

// out(t) = a(scale * t)
TS_HD void series_rescale(const double* a, double scale, double* out, int n) {
  double p = 1.0;
  for (int k = 0; k < n; ++k) {
    out[k] = a[k] * p;
    p *= scale;
  }
}

}  // namespace taylorscope
