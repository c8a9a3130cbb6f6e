// e^x for x ≤ 0 without branches, table lookups or library calls, so that a
// loop of them vectorises (the CPU pass evaluates σ(t·a) for every sample,
// hidden unit and t: 5·N·H exponentials, ~0.6·10⁹ at H = 2048, where a
// scalar libm exp costs more than the pass's GEMM). The sigmoid, and with
// it SiLU, uses it on both backends, so CPU and CUDA compute the same bits.
//
// Method (Cody–Waite): x = k ln2 + r with k = round(x / ln2), |r| ≤ ln2/2;
// e^r by its Taylor polynomial to degree 13 (Estrin's scheme) (remainder ≤ 0.347^14/14! ≈
// 4e-18 relative, below half an ulp); e^x = 2^k e^r by adding k to the
// exponent bits. Accuracy: within 2 ulp of the correctly rounded e^x
// (tests/test_series.cpp checks it against std::exp).
#pragma once

#include <cstdint>
#include <cstring>

#include "taylorscope/hd.hpp"

namespace taylorscope {

// Below −708 the result is e^−708 ≈ 3.3e-308 rather than the true, smaller
// value (or 0): 2^k must stay a normal number. Callers add it to 1 or
// multiply it by O(1) numbers, where the difference is below 1e-307
// absolutely. NaN gives NaN.
TS_HD double exp_nonpositive(double x) {
  constexpr double kLog2e = 1.4426950408889634074;
  // ln 2 split so that k·kLn2Hi is exact for |k| < 2^21.
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  // Adding 1.5·2^52 rounds to an integer held in the low mantissa bits.
  constexpr double kShifter = 6755399441055744.0;
  const double xc = x < -708.0 ? -708.0 : x;
  const double shifted = xc * kLog2e + kShifter;
  const double k = shifted - kShifter;
  const double r = (xc - k * kLn2Hi) - k * kLn2Lo;
  // Σ r^j/j!, j ≤ 13, by Estrin's scheme: the longest dependent chain is 5
  // operations instead of Horner's 13, so a vector loop of these is not
  // bound by the FMA latency.
  const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const double p01 = 1.0 + r, p23 = 0.5 + r * (1.0 / 6.0), p45 = 1.0 / 24.0 + r * (1.0 / 120.0),
               p67 = 1.0 / 720.0 + r * (1.0 / 5040.0), p89 = 1.0 / 40320.0 + r * (1.0 / 362880.0),
               p1011 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0),
               p1213 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
  const double q0 = p01 + p23 * r2, q1 = p45 + p67 * r2, q2 = p89 + p1011 * r2;
  const double p = (q0 + q1 * r4) + (q2 + p1213 * r4) * r8;
  // k sits in the low bits of `shifted`; shifting by 52 drops the shifter's
  // bits and leaves k (mod 2^12) in the exponent field. k ≥ −1021 here, so
  // the sum stays a normal number.
  uint64_t pbits, kbits;
  memcpy(&pbits, &p, sizeof p);
  memcpy(&kbits, &shifted, sizeof shifted);
  pbits += kbits << 52;
  double result;
  memcpy(&result, &pbits, sizeof result);
  return x != x ? x : result;
}

}  // namespace taylorscope
