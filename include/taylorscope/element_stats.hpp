// Streaming statistics of a tensor's elements (docs/math.md §6): count, min, max,
// mean, std, skewness, excess kurtosis, fraction < 0 and a histogram, each
// element weighted by its multiplicity in packed symmetric storage.
//
// A tensor with 10^10 elements is never in memory at once, so the moments are
// accumulated as central sums (n, mean, M2, M3, M4) and merged with the
// pairwise update of Pébay (2008, "Formulas for robust, one-pass parallel
// computation of covariances and arbitrary-order statistical moments"). Raw
// power sums Σx⁴ would lose the kurtosis of a biased J∘T to cancellation.
// Adding one element of weight w is the merge with (w, x, 0, 0, 0), so the CPU
// loop and every CUDA thread run this same code.
#pragma once

#include <cstdint>
#include <vector>

#include "taylorscope/hd.hpp"

namespace taylorscope {

struct MomentAccumulator {
  double n = 0;      // total weight (the element count with multiplicities)
  double mean = 0;
  double M2 = 0, M3 = 0, M4 = 0;  // Σ w (x − mean)^k
  double min = 0, max = 0;        // valid when n > 0
  double negative = 0;            // total weight of elements < 0
  double zero = 0;                // total weight of elements == 0 (zero-padded pixels give many)
  double sum = 0;                 // Σ w x, kept apart from n·mean: ⟨J,T⟩ is this sum for J∘T
  double nonfinite = 0;           // total weight of elements that are NaN or ±Inf (then min/max skip them)
};

// x − x is 0 for every finite x and NaN for NaN and ±Inf: the same test on
// host and device without a math library.
TS_HD bool element_is_finite(double x) { return x - x == 0.0; }

TS_HD void moments_merge(MomentAccumulator& a, const MomentAccumulator& b) {
  if (b.n == 0) return;
  if (a.n == 0) {
    a = b;
    return;
  }
  const double na = a.n, nb = b.n, n = na + nb;
  const double d = b.mean - a.mean, dn = d / n, dn2 = dn * dn;
  const double M2 = a.M2 + b.M2 + d * dn * na * nb;
  const double M3 = a.M3 + b.M3 + d * dn2 * na * nb * (na - nb) + 3.0 * dn * (na * b.M2 - nb * a.M2);
  const double M4 = a.M4 + b.M4 + d * dn2 * dn * na * nb * (na * na - na * nb + nb * nb) +
                    6.0 * dn2 * (na * na * b.M2 + nb * nb * a.M2) + 4.0 * dn * (na * b.M3 - nb * a.M3);
  a.mean += dn * nb;
  a.M2 = M2;
  a.M3 = M3;
  a.M4 = M4;
  a.n = n;
  a.min = b.min < a.min ? b.min : a.min;
  a.max = b.max > a.max ? b.max : a.max;
  a.negative += b.negative;
  a.zero += b.zero;
  a.sum += b.sum;
  a.nonfinite += b.nonfinite;
}

// One element x that stands for w equal elements of the full tensor.
TS_HD void moments_add(MomentAccumulator& a, double x, double w) {
  MomentAccumulator one;
  one.n = w;
  one.mean = x;
  one.min = one.max = x;
  one.negative = x < 0 ? w : 0.0;
  one.zero = x == 0 ? w : 0.0;
  one.sum = w * x;
  one.nonfinite = element_is_finite(x) ? 0.0 : w;
  moments_merge(a, one);
}

// The moments of x[0..count), every element of weight w, in two passes (mean,
// then central sums): no division per element, so a CPU loop vectorises it.
// Merged into a running accumulator it gives what count moments_add calls
// would, up to rounding.
TS_HD MomentAccumulator block_moments(const double* x, int64_t count, double w) {
  MomentAccumulator a;
  if (count <= 0) return a;
  double sum = 0, lo = x[0], hi = x[0], neg = 0, zero = 0, bad = 0;
  for (int64_t i = 0; i < count; ++i) {
    sum += x[i];
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
    neg += x[i] < 0 ? 1.0 : 0.0;
    zero += x[i] == 0 ? 1.0 : 0.0;
    bad += element_is_finite(x[i]) ? 0.0 : 1.0;
  }
  const double mean = sum / static_cast<double>(count);
  double m2 = 0, m3 = 0, m4 = 0;
  for (int64_t i = 0; i < count; ++i) {
    const double d = x[i] - mean, d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  a.n = w * static_cast<double>(count);
  a.mean = mean;
  a.M2 = w * m2;
  a.M3 = w * m3;
  a.M4 = w * m4;
  a.min = lo;
  a.max = hi;
  a.negative = w * neg;
  a.zero = w * zero;
  a.sum = w * sum;
  a.nonfinite = w * bad;
  return a;
}

// The moments of a run of R elements, x[r] of weight w[r], in two passes
// like block_moments: one division per run instead of one per element. A
// weight of 0 marks a slot that holds no element (its x must be finite, 0
// say); it counts nowhere, min and max included. This is how a CUDA thread
// of the statistics kernel takes its elements: R = kRun values held in
// registers (R is a constant, so the loops unroll and the arrays stay out of
// local memory), merged into the running accumulator once per run. Equal to
// moments_add over the elements with w > 0 up to rounding.
template <int R>
TS_HD MomentAccumulator run_moments(const double (&x)[R], const double (&w)[R]) {
  MomentAccumulator a;
  double n = 0, sum = 0, lo = 0, hi = 0, neg = 0, zero = 0, bad = 0;
  bool seen = false;
TS_UNROLL
  for (int r = 0; r < R; ++r) {
    const bool in = w[r] != 0;
    n += w[r];
    sum += w[r] * x[r];
    lo = in && (!seen || x[r] < lo) ? x[r] : lo;
    hi = in && (!seen || x[r] > hi) ? x[r] : hi;
    seen = seen || in;
    neg += x[r] < 0 ? w[r] : 0.0;
    zero += x[r] == 0 ? w[r] : 0.0;
    bad += element_is_finite(x[r]) ? 0.0 : w[r];
  }
  if (n == 0) return a;
  const double mean = sum / n;
  double m2 = 0, m3 = 0, m4 = 0;
TS_UNROLL
  for (int r = 0; r < R; ++r) {
    const double d = x[r] - mean, wd2 = w[r] * d * d;
    m2 += wd2;
    m3 += wd2 * d;
    m4 += wd2 * d * d;
  }
  a.n = n;
  a.mean = mean;
  a.M2 = m2;
  a.M3 = m3;
  a.M4 = m4;
  a.min = lo;
  a.max = hi;
  a.negative = neg;
  a.zero = zero;
  a.sum = sum;
  a.nonfinite = bad;
  return a;
}

// Equal-width bins over [lo, hi]; the last bin is closed, x = hi counts in it.
struct HistogramRange {
  double lo = 0, hi = 0;
  int bins = 0;
};

TS_HD int histogram_bin(const HistogramRange& r, double x) {
  if (!(r.hi > r.lo)) return 0;  // all elements equal: one occupied bin
  // Clamped before the cast: converting NaN or ±Inf to int is undefined.
  const double p = (x - r.lo) / (r.hi - r.lo) * r.bins;
  return p >= 1.0 ? (p < r.bins ? static_cast<int>(p) : r.bins - 1) : 0;
}

struct Histogram {
  std::vector<double> edges;     // bins + 1
  std::vector<uint64_t> counts;  // weighted by multiplicity, so up to M·E^n
};

struct ElementStats {
  double count = 0, min = 0, max = 0, mean = 0, std = 0;
  double skewness = 0, excess_kurtosis = 0, frac_negative = 0;
  double frac_zero = 0;  // exactly 0: a pixel that is 0 in every image zeroes every J element it indexes
  double sum = 0;  // Σ of the elements with multiplicities
  double nonfinite = 0;  // elements that are NaN or ±Inf, with multiplicities
  Histogram histogram;
};

// Population moments (the tensor is the whole population, not a sample).
// Skewness and kurtosis are NaN when every element is equal. With any
// non-finite element every statistic but count, nonfinite and sum is NaN:
// min and max of the finite ones beside a NaN mean would describe no tensor.
ElementStats finish_stats(const MomentAccumulator& a);

HistogramRange histogram_range(const ElementStats& s, int bins);

}  // namespace taylorscope
