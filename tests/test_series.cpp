// σ^(k)(0) from series arithmetic against docs/math.md §2's table and closed
// forms, and the jets' exp/log recurrences against known series.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <numbers>
#include <vector>

#include "taylorscope/activation.hpp"
#include "taylorscope/exp_nonpositive.hpp"
#include "taylorscope/series.hpp"

using namespace taylorscope;

namespace {

// The recurrences divide and multiply small rationals: rounding stays within
// a few ulps per order, so 1e-12 relative leaves a wide margin and still
// catches any wrong coefficient.
void expect_derivs(const char* name, const std::vector<double>& want) {
  const auto got = activation_derivatives_at_zero(parse_activation(name), static_cast<int>(want.size()));
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_NEAR(got[k], want[k], 1e-12 * std::max(1.0, std::fabs(want[k])))
        << name << " σ^(" << k << ")(0)";
    // The table's zeros are zeros by symmetry (activation.hpp): exactly 0.
    if (want[k] == 0.0) EXPECT_EQ(got[k], 0.0) << name << " σ^(" << k << ")(0)";
  }
}

double series_value(const std::vector<double>& c, double x) {
  double s = 0, p = 1;
  for (double v : c) {
    s += v * p;
    p *= x;
  }
  return s;
}

}  // namespace

TEST(ActivationSeries, SiluDerivativesMatchMathTable) {
  expect_derivs("silu", {0, 0.5, 0.5, 0, -0.5, 0, 1.5, 0, -8.5, 0, 77.5});
}

TEST(ActivationSeries, TanhDerivativesMatchMathTable) {
  expect_derivs("tanh", {0, 1, 0, -2, 0, 16, 0, -272});
}

TEST(ActivationSeries, SigmoidDerivativesMatchMathTable) {
  expect_derivs("sigmoid", {0.5, 0.25, 0, -0.125, 0, 0.25});
}

TEST(ActivationSeries, ReluAndEluExpandTheirLinearBranch) {
  expect_derivs("relu", {0, 1, 0, 0, 0, 0});
  expect_derivs("elu", {0, 1, 0, 0, 0, 0});
}

TEST(ActivationSeries, GeluDerivativesMatchXTimesNormalCdf) {
  // x Φ(x) = x/2 + (x² − x⁴/6 + x⁶/40 − …)/√(2π)
  const double r = 1.0 / std::sqrt(2.0 * std::numbers::pi);
  expect_derivs("gelu", {0, 0.5, 2 * r, 0, -4 * r, 0, 18 * r});
}

TEST(ActivationSeries, SoftplusDerivativesMatchLogOnePlusExp) {
  expect_derivs("softplus", {std::log(2.0), 0.5, 0.25, 0, -0.125});
}

TEST(ActivationSeries, ReluOmegaWithIotaZeroIsOmegaScaledSoftplus) {
  const double w = 0.7;
  const auto got = activation_taylor(parse_activation("relu_omega", w, 0.0), 12);
  const auto sp = activation_taylor(parse_activation("softplus"), 12);
  // ω softplus(x/ω) has coefficients ω · sp_k / ω^k.
  for (int k = 0; k < 12; ++k)
    EXPECT_NEAR(got[k], w * sp[k] / std::pow(w, k), 1e-13 * std::max(1.0, std::fabs(got[k]))) << k;
}

// The value functions and the series are two independent codes for σ: their
// agreement near 0 ties the direct evaluation of S to the jets.
TEST(ActivationSeries, SeriesSumsReproduceValueAndDerivativeNearZero) {
  for (const char* name : {"silu", "tanh", "sigmoid", "gelu", "softplus", "relu", "elu"}) {
    const Activation act = parse_activation(name);
    const auto c = activation_taylor(act, 40);
    std::vector<double> dc(39);
    for (int k = 1; k < 40; ++k) dc[k - 1] = k * c[k];
    for (double x : {0.05, 0.3, 0.6}) {  // inside every radius (tanh's is π/2)
      EXPECT_NEAR(series_value(c, x), activation_value(act, x), 1e-13) << name << " x=" << x;
      EXPECT_NEAR(series_value(dc, x), activation_derivative(act, x), 1e-12) << name << " x=" << x;
    }
  }
  const Activation rw = parse_activation("relu_omega", 1.3, 0.2);
  const auto c = activation_taylor(rw, 40);
  EXPECT_NEAR(series_value(c, 0.4), activation_value(rw, 0.4), 1e-13);
}

// Distance in units in the last place between two positive doubles.
int64_t ulps_apart(double a, double b) {
  int64_t ia, ib;
  std::memcpy(&ia, &a, sizeof a);
  std::memcpy(&ib, &b, sizeof b);
  return ia > ib ? ia - ib : ib - ia;
}

// The branch-free exponential behind σ (exp_nonpositive.hpp) against libm's,
// on a million points spread over its whole range and on the points where
// its range reduction switches k. 2 ulp is the accuracy its header promises
// (the degree-13 remainder is below half an ulp; the rest is the rounding
// of Horner's steps and of r).
TEST(ExpNonpositive, WithinTwoUlpOfLibm) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> wide(-708.0, 0.0), narrow(-2.0, 0.0);
  int64_t worst = 0;
  double worst_x = 0;
  const auto check = [&](double x) {
    const int64_t d = ulps_apart(exp_nonpositive(x), std::exp(x));
    if (d > worst) worst = d, worst_x = x;
  };
  for (int i = 0; i < 500000; ++i) check(wide(rng)), check(narrow(rng));
  for (int k = -1020; k <= 0; ++k) {  // half-way points between two k, above the clamp at −708
    const double x = (k - 0.5) * std::numbers::ln2;
    check(std::nextafter(x, -1.0)), check(x), check(std::nextafter(x, 0.0));
  }
  check(0.0), check(-0.0), check(-1e-300), check(-708.0);
  EXPECT_LE(worst, 2) << "at x = " << worst_x;
  EXPECT_EQ(exp_nonpositive(0.0), 1.0);
}

TEST(ExpNonpositive, ClampsBelowItsRangeAndKeepsNaN) {
  EXPECT_EQ(exp_nonpositive(-1000.0), exp_nonpositive(-708.0));
  EXPECT_GT(exp_nonpositive(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_LT(exp_nonpositive(-1000.0), 1e-307);
  EXPECT_TRUE(std::isnan(exp_nonpositive(std::numeric_limits<double>::quiet_NaN())));
  // σ at the ends of the range: exactly 1 and within 1e-307 of 0.
  EXPECT_EQ(sigmoid_value(800.0), 1.0);
  EXPECT_LT(sigmoid_value(-800.0), 1e-307);
  EXPECT_EQ(sigmoid_value(0.0), 0.5);
}

TEST(ActivationSeries, Order64CoefficientsAreFinite) {
  for (const char* name : {"silu", "tanh", "sigmoid", "gelu", "softplus"})
    for (double v : activation_taylor(parse_activation(name), 65)) EXPECT_TRUE(std::isfinite(v)) << name;
}

// F12: k!·rounding made sigmoid's σ^(64)(0) −7.2e42 and tanh's −2.7e62.
TEST(ActivationSeries, DerivativesThatVanishBySymmetryAreExactlyZeroAtOrder64) {
  EXPECT_EQ(activation_derivatives_at_zero(parse_activation("sigmoid"), 65)[64], 0.0);
  EXPECT_EQ(activation_derivatives_at_zero(parse_activation("tanh"), 65)[64], 0.0);
  for (const char* name : {"silu", "gelu", "softplus"}) {
    const auto d = activation_derivatives_at_zero(parse_activation(name), 65);
    for (int k = 3; k <= 63; k += 2) EXPECT_EQ(d[k], 0.0) << name << " σ^(" << k << ")(0)";
    // The even ones are the function's: non-zero (σ^(2)(0) > 0 for all three).
    EXPECT_NE(d[2], 0.0) << name;
  }
}

// Each declaration of activation.hpp against the value function: the
// coefficients of parity p from order k0 vanish exactly when σ minus its
// lower coefficients of that parity is even (p = 1) or odd (p = 0). A wrong
// declaration leaves an O(σ) difference; a right one leaves rounding of
// values of order 1–3, a few 1e-16, so 1e-13 separates the two by 10^10.
TEST(ActivationSeries, DeclaredSymmetryHoldsForTheValueFunction) {
  std::vector<Activation> all;
  for (const char* name : {"silu", "tanh", "sigmoid", "gelu", "softplus"}) all.push_back(parse_activation(name));
  all.push_back(parse_activation("relu_omega", 1.3, 0.2));
  all.push_back(parse_activation("relu_omega", 0.4, 0.0));
  int checked = 0;
  for (const Activation& act : all) {
    const VanishingCoefficients z = vanishing_coefficients(act);
    ASSERT_GE(z.parity, 0) << activation_name(act) << ": every analytic activation here has a symmetry";
    ASSERT_LE(z.from, 3) << "the check below subtracts orders 0 and 1 only";
    const double c0 = activation_value(act, 0.0), c1 = activation_derivative(act, 0.0);
    for (double x : {0.4, 1.3, 3.1}) {
      // g = σ minus its coefficients of the vanishing parity below `from`.
      auto g = [&](double u) {
        double v = activation_value(act, u);
        if (z.parity == 0 && z.from > 0) v -= c0;
        if (z.parity == 1 && z.from > 1) v -= c1 * u;
        return v;
      };
      const double defect = z.parity == 1 ? g(x) - g(-x) : g(x) + g(-x);
      EXPECT_NEAR(defect, 0.0, 1e-13) << activation_name(act) << " x=" << x;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 7);
  // relu and elu expand their linear branch x: nothing is declared, and the
  // series is x itself, exactly.
  for (const char* name : {"relu", "elu"}) {
    EXPECT_EQ(vanishing_coefficients(parse_activation(name)).parity, -1) << name;
    const auto c = activation_taylor(parse_activation(name), 65);
    for (int k = 0; k <= 64; ++k) EXPECT_EQ(c[k], k == 1 ? 1.0 : 0.0) << name << " k=" << k;
  }
}

TEST(ActivationSeries, UnknownNameIsRefused) {
  EXPECT_THROW(parse_activation("swish2"), std::exception);
}

TEST(Jets, ExpOfIdentityIsInverseFactorials) {
  const int n = 20;
  std::vector<double> f(n, 0.0), e(n);
  f[1] = 1.0;
  jet_exp(f.data(), e.data(), n);
  double fact = 1;
  for (int k = 0; k < n; ++k) {
    if (k) fact *= k;
    EXPECT_NEAR(e[k], 1.0 / fact, 1e-15 / fact * 10) << k;
  }
}

TEST(Jets, LogUndoesExp) {
  const int n = 16;
  std::vector<double> f(n), e(n), l(n);
  for (int k = 0; k < n; ++k) f[k] = std::sin(1.0 + 3.0 * k) / (1 + k);
  jet_exp(f.data(), e.data(), n);
  jet_log(e.data(), l.data(), n);
  for (int k = 0; k < n; ++k) EXPECT_NEAR(l[k], f[k], 1e-13) << k;
}

TEST(Jets, LogOfOnePlusXIsAlternatingHarmonic) {
  const int n = 12;
  std::vector<double> s(n, 0.0), l(n);
  s[0] = 1;
  s[1] = 1;
  jet_log(s.data(), l.data(), n);
  EXPECT_EQ(l[0], 0.0);
  for (int k = 1; k < n; ++k) EXPECT_NEAR(l[k], (k % 2 ? 1.0 : -1.0) / k, 1e-15) << k;
}
