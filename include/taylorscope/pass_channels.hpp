// The channels of stage 1 of the expansion pass (expansion_pass.hpp,
// docs/math.md §2 and §4), written once for the CPU loop and the CUDA kernel:
//   g_ch(a) = a^(ch+1)          for ch < P      (P = K−1 power channels)
//   g_ch(a) = σ(t_{ch−P} · a)   for P ≤ ch < C  (one per t of S(tθ))
// Powers are built by repeated multiplication, a·a·…·a, the same products on
// both backends, so G's powers round alike wherever they are formed.
#pragma once

#include <cstdint>

#include "taylorscope/activation.hpp"
#include "taylorscope/hd.hpp"

namespace taylorscope {

// a^n for n ≥ 1 by binary exponentiation: ≤ 2·log2(n) products, so a kernel
// that starts a run of power channels at a^(first+1) does not rebuild it by
// a chain of `first` dependent multiplications (review S1). It rounds
// differently from the chain of pass_channels (each is within ~n ulp of
// a^n; the backends agree to the tolerance of tests/test_cuda_vs_cpu.cpp,
// not bit for bit, as GEMMs in another order already make them).
TS_HD double integer_power(double a, int n) {
  double result = a, base = a;
  --n;  // result holds a^1
  while (n > 0) {
    if (n & 1) result *= base;
    n >>= 1;
    if (n > 0) base *= base;
  }
  return result;
}

// g[j·stride] = g_{first+j}(a) for j < count; channels at or past C are 0.
// t_of[j] is the t of channel first+j where that channel is an activation
// channel (unread for power channels): the caller's table, so a kernel can
// keep it in registers.
TS_HD void pass_channels(double a, int first, int count, int P, int C, const double* t_of,
                         const Activation& act, double* g, int64_t stride = 1) {
  double p = a;  // becomes a^(first+1) when the group starts among the powers
  if (first < P)
    for (int i = 0; i < first; ++i) p *= a;
  for (int j = 0; j < count; ++j) {
    const int ch = first + j;
    if (ch < P) {
      g[j * stride] = p;
      p *= a;
    } else if (ch < C) {
      g[j * stride] = activation_value(act, t_of[j] * a);
    } else {
      g[j * stride] = 0.0;
    }
  }
}

// The same channels for n units at once, channel-major: g[ch·n + u] =
// g_ch(a[u]) for ch < C (t_of[ch] is the t of activation channel ch; t_of
// is indexed by channel here, as pass_channels' is with first = 0). The
// operations per element are pass_channels' — the same chain of products
// for the powers, activation_value for σ — arranged so that every loop runs
// over units and vectorises (the CPU pass); Kind fixes σ at compile time so
// activation_value's switch folds away inside the loop. Host only (the
// CUDA kernels call pass_channels per thread).
#if !defined(__CUDACC__)
template <ActivationKind Kind>
void pass_channels_block(const double* a, int64_t n, int P, int C, const double* t_of, const Activation& act,
                         double* g) {
  const Activation fixed{Kind, act.omega, act.iota};
  if (P > 0) {
#pragma omp simd
    for (int64_t u = 0; u < n; ++u) g[u] = a[u];
  }
  for (int ch = 1; ch < P; ++ch) {
    const double* prev = g + (ch - 1) * n;
    double* out = g + ch * n;
#pragma omp simd
    for (int64_t u = 0; u < n; ++u) out[u] = prev[u] * a[u];
  }
  for (int ch = P; ch < C; ++ch) {
    const double t = t_of[ch];
    double* out = g + ch * n;
#pragma omp simd
    for (int64_t u = 0; u < n; ++u) out[u] = activation_value(fixed, t * a[u]);
  }
}

inline void pass_channels_block(const double* a, int64_t n, int P, int C, const double* t_of, const Activation& act,
                                double* g) {
  switch (act.kind) {
#define TS_CHANNELS_CASE(k) \
  case ActivationKind::k: return pass_channels_block<ActivationKind::k>(a, n, P, C, t_of, act, g);
    TS_CHANNELS_CASE(silu)
    TS_CHANNELS_CASE(relu)
    TS_CHANNELS_CASE(tanh)
    TS_CHANNELS_CASE(sigmoid)
    TS_CHANNELS_CASE(gelu)
    TS_CHANNELS_CASE(softplus)
    TS_CHANNELS_CASE(elu)
    TS_CHANNELS_CASE(relu_omega)
#undef TS_CHANNELS_CASE
  }
}
#endif

}  // namespace taylorscope
