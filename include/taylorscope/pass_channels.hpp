// The channels of stage 1 of the expansion pass (expansion_pass.hpp,
// docs/math.md §2 and §4), written once for the CPU loop and the CUDA kernel:
//   g_ch(a) = a^(ch+1)          for ch < P      (P = K−1 power channels)
//   g_ch(a) = σ(t_{ch−P} · a)   for P ≤ ch < C  (one per t of S(tθ))
// Powers are built by repeated multiplication, a·a·…·a, the same products on
// both backends, so G's powers round alike wherever they are formed. The σ
// channels of silu and sigmoid share one exponential and one division when
// their t form a ladder (SigmoidLadder below), on both backends alike.
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

// The σ(t·a) channels of silu and sigmoid when every t is an integer
// multiple m_j·t0 of one t0 > 0 (m_j ≤ kMaxLadderMultiple), as the default
// t = 0.25, 0.5, 1, 1.5, 2 are of 0.25 (m = 1, 2, 4, 6, 8). Then e^{−|t_j a|} = e0^{m_j} with
// e0 = e^{−t0|a|}, and the T reciprocals 1/(1 + e_j) come from one division
// of their product (prefix products forward, one reciprocal, peeled off
// backward). Per unit that is 1 exponential and 1 division for all T
// channels instead of T of each. The exponentials and divisions were most
// of the σ channels' time, themselves the largest cost of the CPU pass after
// its GEMM (bench/RESULTS.md, issue 11). The price is rounding: e0^m is
// within ~m ulp of e^{−|t_j a|} and each reciprocal within ~2T ulp, so a σ
// channel is within 64 ulp + |t_j·a| ulp of activation_value(t_j·a), the
// second term being activation_value's own rounding of t·a before its exp
// (tests/test_expansion.cpp), far inside what the pass's sums round anyway.
// The CPU pass and the CUDA kernel, where it runs the ladder
// (hidden_contraction_ladder), compute every channel by the same operations
// in the same order (sigmoid_ladder below): the same bits.
constexpr int kMaxLadder = 8;           // σ channels: registers of a CUDA lane
constexpr int kMaxLadderMultiple = 8;   // e0^m from e0, e0², e0⁴, e0⁸: e0⁸ underflows no sooner than e_max
struct SigmoidLadder {
  int count = 0;  // σ channels on the ladder; 0: each by activation_value
  int silu = 0;  // 1: x·σ(x), 0: σ(x) (an int: a bool field stops GCC vectorising the loop that reads it)
  double t0 = 0;
  double t[kMaxLadder] = {};
  int m[kMaxLadder] = {};
};

// The ladder of t[0..T) under `act`, or count = 0 when there is none: another
// activation, fewer than 2 or more than kMaxLadder values, a t ≤ 0 or not
// finite, or no t0 = min(t)/q (q = 1..4) of which every t is an exact
// multiple ≤ kMaxLadderMultiple.
inline SigmoidLadder make_sigmoid_ladder(const Activation& act, const double* t, int T) {
  SigmoidLadder none;
  if (act.kind != ActivationKind::silu && act.kind != ActivationKind::sigmoid) return none;
  if (T < 2 || T > kMaxLadder) return none;
  double tmin = t[0];
  for (int j = 0; j < T; ++j) {
    if (!(t[j] > 0) || !(t[j] < 1e300)) return none;
    tmin = t[j] < tmin ? t[j] : tmin;
  }
  for (int q = 1; q <= 4; ++q) {
    SigmoidLadder l;
    l.count = T;
    l.silu = act.kind == ActivationKind::silu;
    l.t0 = tmin / q;
    bool ok = l.t0 > 0;
    for (int j = 0; j < T && ok; ++j) {
      const double m = t[j] / l.t0;
      // The range first: only then is the conversion to int defined.
      ok = m >= 1 && m <= kMaxLadderMultiple && m == static_cast<double>(static_cast<int>(m)) && m * l.t0 == t[j];
      l.t[j] = t[j];
      l.m[j] = ok ? static_cast<int>(m) : 0;
    }
    if (ok) return l;
  }
  return none;
}

// out[j·stride] = σ-channel j of the ladder at a, j < n (n = L.count ≤ N).
// out doubles as the scratch of the prefix products (prefix_j goes into
// out[j] on the way up and is read back on the way down before channel j
// replaces it), and e0^m_j is formed again on the way down, so a CUDA lane
// holds only e0's squares and two running products in registers beside its
// accumulators; out can be its slots in shared memory. The loops run to the
// compile-time N with j < n inside (N = kMaxLadder on the GPU). The CPU's
// ladder_channels_block does the same operations for a run of units.
template <int N>
TS_HD void sigmoid_ladder(const SigmoidLadder& L, int n, double a, double* out, int64_t stride = 1) {
  // e0 = e^{−t0|a|}; the sign of t_j·a is a's (t_j > 0), so σ's numerator is
  // 1 for a ≥ 0 and e_j below, as in sigmoid_value.
  const double e0 = exp_nonpositive(-fabs(L.t0 * a));
  const bool nonnegative = a >= 0;
  // e0^m_j as the product of the squares its bits select, the squarings
  // shared by all channels; m_j is the same in every lane of a warp, so the
  // selects never diverge. Above |t_max·a| ≈ 708, e_j is subnormal or 0
  // where exp_nonpositive would stop at 2^−1021: σ is then e_j·r either
  // way, below 1e−307.
  const double sq1 = e0 * e0, sq2 = sq1 * sq1, sq3 = sq2 * sq2;
  const auto power = [&](int m) {
    double p = (m & 1) ? e0 : 1.0;
    p = (m & 2) ? p * sq1 : p;
    p = (m & 4) ? p * sq2 : p;
    return (m & 8) ? p * sq3 : p;
  };
  double total = 1.0;
  TS_UNROLL
  for (int j = 0; j < N; ++j) {
    if (j < n) {
      total *= 1.0 + power(L.m[j]);  // from 1.0: the first product is exact
      out[j * stride] = total;
    }
  }
  double inv = 1.0 / total;  // 1/(d_0 ⋯ d_{n−1}), d_j = 1 + e_j, a product ≤ 2^kMaxLadder
  TS_UNROLL
  for (int j = N - 1; j >= 0; --j) {
    if (j < n) {
      const double e = power(L.m[j]);
      const double r = j > 0 ? inv * out[(j - 1) * stride] : inv;  // 1/d_j
      inv *= 1.0 + e;
      const double sigma = (nonnegative ? 1.0 : e) * r;
      out[j * stride] = L.silu ? (L.t[j] * a) * sigma : sigma;
    }
  }
}

// g[j·stride] = g_{first+j}(a) for j < count; channels at or past C are 0.
// t_of[j] is the t of channel first+j where that channel is an activation
// channel (unread for power channels): the caller's table, so a kernel can
// keep it in registers. With a ladder (ladder.count = C − P), the activation
// channels are the ladder's, all computed once however many are kept.
TS_HD void pass_channels(double a, int first, int count, int P, int C, const double* t_of,
                         const Activation& act, double* g, int64_t stride = 1,
                         const SigmoidLadder& ladder = SigmoidLadder{}) {
  double p = a;  // becomes a^(first+1) when the group starts among the powers
  if (first < P)
    for (int i = 0; i < first; ++i) p *= a;
  double rung[kMaxLadder];
  if (ladder.count > 0 && first + count > P) sigmoid_ladder<kMaxLadder>(ladder, ladder.count, a, rung);
  for (int j = 0; j < count; ++j) {
    const int ch = first + j;
    if (ch < P) {
      g[j * stride] = p;
      p *= a;
    } else if (ch < C) {
      g[j * stride] = ladder.count > 0 ? rung[ch - P] : activation_value(act, t_of[j] * a);
    } else {
      g[j * stride] = 0.0;
    }
  }
}

#if !defined(__CUDACC__)
// sigmoid_ladder's operations for a run of units, in its order per unit,
// with the loops turned inside out: the per-channel choices (which squares
// make e0^m_j, silu or sigmoid) are taken once per channel outside the loops
// over units instead of as per-lane selects inside them, so the unit loops
// are short straight vector code over small arrays in L1. Units go in
// chunks of kChunk so the arrays live on the stack.
template <int N>
void ladder_channels_block(const double* a, int64_t n, const SigmoidLadder& L, double* g) {
  constexpr int64_t kChunk = 64;
  alignas(64) double sq[4][kChunk], e[N][kChunk], prefix[N][kChunk], inv[kChunk], ones[kChunk];
  for (double& one : ones) one = 1.0;
  const double t0 = L.t0;
  for (int64_t u0 = 0; u0 < n; u0 += kChunk) {
    const int64_t len = n - u0 < kChunk ? n - u0 : kChunk;
    const double* au = a + u0;
#pragma omp simd
    for (int64_t u = 0; u < len; ++u) {
      const double e0 = exp_nonpositive(-fabs(t0 * au[u]));
      sq[0][u] = e0;
      sq[1][u] = e0 * e0;
      sq[2][u] = sq[1][u] * sq[1][u];
      sq[3][u] = sq[2][u] * sq[2][u];
    }
    for (int j = 0; j < N; ++j) {
      // e0^m as sigmoid_ladder forms it: the selected squares multiplied in
      // order, the first taken as it is (1.0·x there is x).
      const double* f[4];
      int k = 0;
      for (int bit = 0; bit < 4; ++bit)
        if (L.m[j] & (1 << bit)) f[k++] = sq[bit];
      double* ej = e[j];
      double* pj = prefix[j];
      // prefix_j = prefix_{j−1}·(1 + e_j); prefix_0 = 1 + e_0 (a product by
      // 1.0 is exact, so reading ones for j = 0 gives sigmoid_ladder's bits).
      const double* pprev = j > 0 ? prefix[j - 1] : ones;
      switch (k) {
        case 1:
#pragma omp simd
          for (int64_t u = 0; u < len; ++u) {
            ej[u] = f[0][u];
            pj[u] = pprev[u] * (1.0 + ej[u]);
          }
          break;
        case 2:
#pragma omp simd
          for (int64_t u = 0; u < len; ++u) {
            ej[u] = f[0][u] * f[1][u];
            pj[u] = pprev[u] * (1.0 + ej[u]);
          }
          break;
        case 3:
#pragma omp simd
          for (int64_t u = 0; u < len; ++u) {
            ej[u] = f[0][u] * f[1][u] * f[2][u];
            pj[u] = pprev[u] * (1.0 + ej[u]);
          }
          break;
        default:
#pragma omp simd
          for (int64_t u = 0; u < len; ++u) {
            ej[u] = f[0][u] * f[1][u] * f[2][u] * f[3][u];
            pj[u] = pprev[u] * (1.0 + ej[u]);
          }
          break;
      }
    }
#pragma omp simd
    for (int64_t u = 0; u < len; ++u) inv[u] = 1.0 / prefix[N - 1][u];
    for (int j = N - 1; j >= 0; --j) {
      const double* ej = e[j];
      const double* pprev = j > 0 ? prefix[j - 1] : nullptr;
      double* out = g + j * n + u0;
      const double tj = L.t[j];
      const bool silu = L.silu != 0;
#pragma omp simd
      for (int64_t u = 0; u < len; ++u) {
        const double r = j > 0 ? inv[u] * pprev[u] : inv[u];
        inv[u] *= 1.0 + ej[u];
        const double sigma = (au[u] >= 0 ? 1.0 : ej[u]) * r;
        out[u] = silu ? (tj * au[u]) * sigma : sigma;
      }
    }
  }
}

// e0^M from e0 and its squares s1 = e0², s2 = e0⁴, s3 = e0⁸, as
// sigmoid_ladder and ladder_channels_block form it: the squares M's bits
// select, multiplied in order, the first taken as it is.
template <int M>
inline double ladder_power(double e0, double s1, double s2, double s3) {
  static_assert(M >= 1 && M <= kMaxLadderMultiple);
  const double s[4] = {e0, s1, s2, s3};
  double p = 0.0;
  bool first = true;
#pragma GCC unroll 4
  for (int bit = 0; bit < 4; ++bit)
    if (M & (1 << bit)) {
      p = first ? s[bit] : p * s[bit];
      first = false;
    }
  return p;
}

// ladder_channels_block for a ladder whose multiples Ms are known at compile
// time, one loop over units with every channel's intermediates in
// registers: ladder_channels_block keeps its squares, e_j, prefix products
// and reciprocals in arrays, ~50 loads and stores per four units beside
// ~75 arithmetic operations, and the σ channels were 8% of the CPU pass at
// H = 2048 (bench/RESULTS.md). The same operations per unit in the same
// order (prefix_0 = 1 + e_0 is its 1.0·(1 + e_0)), so the same bits;
// tests/test_expansion.cpp checks both against pass_channels unit by unit.
template <bool Silu, int... Ms>
void ladder_channels_fixed(const double* a, int64_t n, const SigmoidLadder& L, double* g) {
  constexpr int N = sizeof...(Ms);
  const double t0 = L.t0;
  double t[N];
  for (int j = 0; j < N; ++j) t[j] = L.t[j];
#pragma omp simd
  for (int64_t u = 0; u < n; ++u) {
    const double x = a[u];
    const double e0 = exp_nonpositive(-fabs(t0 * x));
    const double s1 = e0 * e0, s2 = s1 * s1, s3 = s2 * s2;
    const double e[N] = {ladder_power<Ms>(e0, s1, s2, s3)...};
    double prefix[N];
    prefix[0] = 1.0 + e[0];
#pragma GCC unroll 8
    for (int j = 1; j < N; ++j) prefix[j] = prefix[j - 1] * (1.0 + e[j]);
    double inv = 1.0 / prefix[N - 1];
#pragma GCC unroll 8
    for (int j = N - 1; j >= 0; --j) {
      const double r = j > 0 ? inv * prefix[j - 1] : inv;
      inv *= 1.0 + e[j];
      const double sigma = (x >= 0 ? 1.0 : e[j]) * r;
      g[j * n + u] = Silu ? (t[j] * x) * sigma : sigma;
    }
  }
}

// The power channels g[ch·n + u] = a[u]^(ch+1), ch < P, by pass_channels'
// chain of products, the running power in a register: one load and P
// stores per unit where a loop per channel reloads the previous channel
// and a (2P loads). P = K − 1, so the common orders are instantiated.
template <int P>
void power_channels_fixed(const double* a, int64_t n, double* g) {
#pragma omp simd
  for (int64_t u = 0; u < n; ++u) {
    const double x = a[u];
    double p = x;
    g[u] = p;
#pragma GCC unroll 8
    for (int ch = 1; ch < P; ++ch) {
      p *= x;
      g[ch * n + u] = p;
    }
  }
}

// The default t = 0.25, 0.5, 1, 1.5, 2 (ExpansionOptions): m = 1, 2, 4, 6, 8.
inline bool is_default_ladder(const SigmoidLadder& L) {
  return L.count == 5 && L.m[0] == 1 && L.m[1] == 2 && L.m[2] == 4 && L.m[3] == 6 && L.m[4] == 8;
}

// The same channels for n units at once, channel-major: g[ch·n + u] =
// g_ch(a[u]) for ch < C (t_of[ch] is the t of activation channel ch; t_of
// is indexed by channel here, as pass_channels' is with first = 0). The
// operations per element are pass_channels' — the same chain of products
// for the powers, activation_value or the ladder for σ — arranged so that
// every loop runs over units and vectorises (the CPU pass); Kind fixes σ at
// compile time so activation_value's switch folds away inside the loop.
// Host only (the CUDA kernels call pass_channels per thread).
template <ActivationKind Kind>
void pass_channels_block(const double* a, int64_t n, int P, int C, const double* t_of, const Activation& act,
                         double* g, const SigmoidLadder& ladder) {
  const Activation fixed{Kind, act.omega, act.iota};
  switch (P) {
    case 1: power_channels_fixed<1>(a, n, g); break;
    case 2: power_channels_fixed<2>(a, n, g); break;
    case 3: power_channels_fixed<3>(a, n, g); break;
    case 4: power_channels_fixed<4>(a, n, g); break;
    case 5: power_channels_fixed<5>(a, n, g); break;
    case 6: power_channels_fixed<6>(a, n, g); break;
    case 7: power_channels_fixed<7>(a, n, g); break;
    case 8: power_channels_fixed<8>(a, n, g); break;
    default:
      if (P > 0) {
#pragma omp simd
        for (int64_t u = 0; u < n; ++u) g[u] = a[u];
      }
  }
  for (int ch = P > 8 ? 1 : P; ch < P; ++ch) {
    const double* prev = g + (ch - 1) * n;
    double* out = g + ch * n;
#pragma omp simd
    for (int64_t u = 0; u < n; ++u) out[u] = prev[u] * a[u];
  }
  if constexpr (Kind == ActivationKind::silu || Kind == ActivationKind::sigmoid) {
    if (ladder.count > 0) {
      double* out = g + P * n;
      if (is_default_ladder(ladder))
        return ladder.silu ? ladder_channels_fixed<true, 1, 2, 4, 6, 8>(a, n, ladder, out)
                           : ladder_channels_fixed<false, 1, 2, 4, 6, 8>(a, n, ladder, out);
      switch (ladder.count) {
        case 2: return ladder_channels_block<2>(a, n, ladder, out);
        case 3: return ladder_channels_block<3>(a, n, ladder, out);
        case 4: return ladder_channels_block<4>(a, n, ladder, out);
        case 5: return ladder_channels_block<5>(a, n, ladder, out);
        case 6: return ladder_channels_block<6>(a, n, ladder, out);
        case 7: return ladder_channels_block<7>(a, n, ladder, out);
        case 8: return ladder_channels_block<8>(a, n, ladder, out);
        default: break;  // make_sigmoid_ladder gives no other count
      }
    }
  }
  for (int ch = P; ch < C; ++ch) {
    const double t = t_of[ch];
    double* out = g + ch * n;
#pragma omp simd
    for (int64_t u = 0; u < n; ++u) out[u] = activation_value(fixed, t * a[u]);
  }
}

inline void pass_channels_block(const double* a, int64_t n, int P, int C, const double* t_of, const Activation& act,
                                double* g, const SigmoidLadder& ladder = SigmoidLadder{}) {
  switch (act.kind) {
#define TS_CHANNELS_CASE(k) \
  case ActivationKind::k: return pass_channels_block<ActivationKind::k>(a, n, P, C, t_of, act, g, ladder);
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
