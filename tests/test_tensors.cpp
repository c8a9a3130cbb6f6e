// The tensor streams (moment_tensors.hpp) against literal definitions: J^(n)
// and T^(n) built element by element over all M·E^n index tuples with plain
// loops, and their statistics computed two-pass from the full arrays.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "taylorscope/errors.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "tensors/cpu_tiles.hpp"
#include "taylorscope/warnings.hpp"
#include "test_support.hpp"

namespace taylorscope {
namespace {

using testing::random_params;
using testing::synthetic_data;

int64_t ipow(int64_t E, int n) {
  int64_t r = 1;
  for (int k = 0; k < n; ++k) r *= E;
  return r;
}

// Index tuple of a flat position in E^n, most significant first.
std::vector<int64_t> tuple_of(int64_t flat, int64_t E, int n) {
  std::vector<int64_t> g(n);
  for (int k = n - 1; k >= 0; --k) g[k] = flat % E, flat /= E;
  return g;
}

std::vector<double> naive_J(const Dataset& d, int n) {
  const int64_t per = ipow(d.E, n);
  std::vector<double> J(d.M * per);
  for (int a = 0; a < d.M; ++a)
    for (int64_t f = 0; f < per; ++f) {
      const std::vector<int64_t> g = tuple_of(f, d.E, n);
      double all = 0, cls = 0;
      for (int64_t s = 0; s < d.N; ++s) {
        double prod = 1;
        for (int64_t gi : g) prod *= d.Z[s * d.E + gi];
        all += prod;
        if (d.labels[s] == a) cls += prod;
      }
      J[a * per + f] = all / d.N - cls / d.class_counts[a];
    }
  return J;
}

std::vector<double> naive_T(const Params& p, int n) {
  const int64_t per = ipow(p.E, n);
  std::vector<double> T(p.M * per);
  for (int64_t a = 0; a < p.M; ++a)
    for (int64_t f = 0; f < per; ++f) {
      const std::vector<int64_t> g = tuple_of(f, p.E, n);
      double sum = 0;
      for (int64_t b = 0; b < p.H; ++b) {
        double prod = p.U[a * p.H + b];
        for (int64_t gi : g) prod *= p.W[b * p.E + gi];
        sum += prod;
      }
      T[a * per + f] = sum;
    }
  return T;
}

struct NaiveStats {
  double count, min, max, mean, std, skew, kurt, frac_neg, frac_zero;
};

NaiveStats naive_stats(const std::vector<double>& x) {
  NaiveStats s{};
  s.count = static_cast<double>(x.size());
  s.min = *std::min_element(x.begin(), x.end());
  s.max = *std::max_element(x.begin(), x.end());
  double sum = 0, neg = 0, zero = 0;
  for (double v : x) sum += v, neg += v < 0, zero += v == 0;
  s.mean = sum / s.count;
  double m2 = 0, m3 = 0, m4 = 0;
  for (double v : x) {
    const double d = v - s.mean;
    m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
  }
  m2 /= s.count, m3 /= s.count, m4 /= s.count;
  s.std = std::sqrt(m2);
  s.skew = m3 / (m2 * s.std);
  s.kurt = m4 / (m2 * m2) - 3;
  s.frac_neg = neg / s.count;
  s.frac_zero = zero / s.count;
  return s;
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(1e-300, std::max(std::fabs(a), std::fabs(b))); }

// The elements themselves come from GEMMs here and literal loops there, the
// same float64 products summed in different orders: min and max agree to
// ~1e-15 relative. Moments of 10^2..10^4 such values: ~1e-12 relative;
// skewness and kurtosis (differences of nearly equal terms) to 1e-9.
void expect_stats_match(const ElementStats& got, const NaiveStats& want, const std::string& what) {
  EXPECT_EQ(got.count, want.count) << what;
  EXPECT_LT(rel(got.min, want.min), 1e-13) << what;
  EXPECT_LT(rel(got.max, want.max), 1e-13) << what;
  EXPECT_LT(rel(got.mean, want.mean), 1e-11) << what;
  EXPECT_LT(rel(got.std, want.std), 1e-11) << what;
  EXPECT_LT(std::fabs(got.skewness - want.skew), 1e-9) << what;
  EXPECT_LT(std::fabs(got.excess_kurtosis - want.kurt), 1e-9) << what;
  EXPECT_DOUBLE_EQ(got.frac_negative, want.frac_neg) << what;
  EXPECT_DOUBLE_EQ(got.frac_zero, want.frac_zero) << what;
}

TEST(PackedTiles, MultiplicitiesOfOneClassSumToEPowNOverPackedSizeElements) {
  for (int64_t E : {1, 2, 5, 9})
    for (int n = 1; n <= 4; ++n) {
      double mult = 0, distinct = 0;
      for (const TilePrefix& p : tile_prefixes(E, n)) {
        const int64_t cols = E - p.L;
        for (int64_t i = 0; i < (n == 1 ? 1 : cols); ++i)
          for (int64_t j = (n == 1 ? 0 : i); j < cols; ++j) {
            mult += n == 1 ? 1 : tile_multiplicity(n, p.run, p.L, p.L + i, p.L + j);
            distinct += 1;
          }
      }
      EXPECT_EQ(mult, static_cast<double>(ipow(E, n))) << "E=" << E << " n=" << n;
      EXPECT_EQ(distinct, packed_size(E, n)) << "E=" << E << " n=" << n;
    }
}

TEST(PackedTiles, PackedSizeOfTheSeedsTensorIsTheBinomial) {
  EXPECT_EQ(packed_size(1024, 3), 1026.0 * 1025 * 1024 / 6);
  EXPECT_EQ(packed_size(784, 4), 787.0 * 786 * 785 * 784 / 24);
}

// A biased sample (mean 10^4, spread 1) is where raw power sums lose the
// kurtosis to cancellation; the merged central sums must not.
TEST(ElementStats, MergedCentralMomentsSurviveALargeMean) {
  std::mt19937_64 rng(3);
  std::vector<double> x(20000);
  for (double& v : x) v = 1e4 + testing::gaussian(rng) + 0.3 * std::pow(testing::gaussian(rng), 2);
  MomentAccumulator left, right;
  for (size_t i = 0; i < x.size(); ++i) moments_add(i % 3 ? left : right, x[i], 1.0);
  moments_merge(left, right);
  const ElementStats s = finish_stats(left);
  const NaiveStats want = naive_stats(x);
  EXPECT_LT(rel(s.std, want.std), 1e-10);
  EXPECT_LT(std::fabs(s.skewness - want.skew), 1e-8);
  EXPECT_LT(std::fabs(s.excess_kurtosis - want.kurt), 1e-8);
}

// Weight w stands for w copies of an element: the same as adding it w times.
TEST(ElementStats, AWeightedElementEqualsItsCopies) {
  MomentAccumulator weighted, copies;
  const double xs[] = {-1.5, 0.25, 3.0, 0.25, -0.75};
  const double ws[] = {1, 6, 3, 2, 24};
  for (int k = 0; k < 5; ++k) {
    moments_add(weighted, xs[k], ws[k]);
    for (int c = 0; c < ws[k]; ++c) moments_add(copies, xs[k], 1.0);
  }
  const ElementStats a = finish_stats(weighted), b = finish_stats(copies);
  EXPECT_EQ(a.count, b.count);
  EXPECT_NEAR(a.mean, b.mean, 1e-14);
  EXPECT_NEAR(a.std, b.std, 1e-14);
  EXPECT_NEAR(a.skewness, b.skewness, 1e-12);
  EXPECT_NEAR(a.excess_kurtosis, b.excess_kurtosis, 1e-12);
  EXPECT_EQ(a.frac_negative, b.frac_negative);
}

// Issue 4 item 2: the streamed ⟨J^(n), T^(n)⟩ equals the core's power-sum
// value (docs/math.md §4), two routes that share no code beyond the data.
TEST(TensorStreams, StreamedDotEqualsPowerSumContraction) {
  const Dataset d = synthetic_data({11, 8, 13, 9}, 10, 21);
  const Params p = random_params(4, 7, 10, 0.6, 22);
  const PassPlan plan = testing::make_plan("silu", 4, {}, 3);
  auto pass = make_cpu_backend();
  pass->upload(d);
  const std::vector<double> want = contractions_from_power_sums(pass->run(p, plan), p);

  auto backend = make_cpu_tensor_backend();
  backend->upload({&d, &p});
  for (int n = 1; n <= 3; ++n) {
    const TensorStatistics s = tensor_statistics(*backend, n, 16);
    // Both are float64 sums of ~10^4 products in different orders: ~1e-13.
    EXPECT_LT(rel(s.dot, want[n - 1]), 1e-11) << "n=" << n << ": " << s.dot << " vs " << want[n - 1];
  }
}

// Issue 4 item 2: every statistic of J, T and J∘T equals the brute-force one
// over the full, unpacked tensors, n = 1..4; the histogram too.
TEST(TensorStreams, StatisticsEqualBruteForceOverTheFullTensor) {
  const int64_t E = 5;
  Dataset d = synthetic_data({6, 9, 7}, E, 31);
  // Feature 2 is 0 in every sample, like a zero-padded pixel: every J
  // element that indexes it is exactly 0, and frac_zero must count them.
  for (int64_t s = 0; s < d.N; ++s) d.Z[s * E + 2] = 0.0;
  const Params p = random_params(3, 4, E, 0.8, 32);
  auto backend = make_cpu_tensor_backend();
  backend->upload({&d, &p});
  const int bins = 12;
  for (int n = 1; n <= 4; ++n) {
    const std::vector<double> J = naive_J(d, n), T = naive_T(p, n);
    std::vector<double> JT(J.size());
    for (size_t i = 0; i < J.size(); ++i) JT[i] = J[i] * T[i];
    const TensorStatistics s = tensor_statistics(*backend, n, bins);
    const std::vector<double>* full[3] = {&J, &T, &JT};
    const ElementStats* got[3] = {&s.J, &s.T, &s.JT};
    for (int k = 0; k < 3; ++k) {
      const std::string what = std::string(stream_name(k)) + " n=" + std::to_string(n);
      const NaiveStats want = naive_stats(*full[k]);
      expect_stats_match(*got[k], want, what);
      // Histogram: each element into its bin over [min, max] (last bin closed).
      std::vector<uint64_t> counts(bins, 0);
      for (double v : *full[k]) {
        int b = static_cast<int>((v - want.min) / (want.max - want.min) * bins);
        counts[std::min(b, bins - 1)] += 1;
      }
      ASSERT_EQ(got[k]->histogram.counts.size(), static_cast<size_t>(bins)) << what;
      ASSERT_EQ(got[k]->histogram.edges.size(), static_cast<size_t>(bins + 1)) << what;
      // Bin edges computed from the same min/max by the same formula: an
      // element on an edge could differ by one ulp, so allow one move each way.
      uint64_t moved = 0;
      for (int b = 0; b < bins; ++b)
        moved += counts[b] > got[k]->histogram.counts[b] ? counts[b] - got[k]->histogram.counts[b] : 0;
      EXPECT_LE(moved, 1u) << what;
    }
    double dot = 0;
    for (double v : JT) dot += v;
    EXPECT_LT(rel(s.dot, dot), 1e-11) << "n=" << n;
  }
}

// J alone (data, no θ) and T alone (θ, no data: the bench's T^(3)) stream too.
TEST(TensorStreams, EitherSourceAloneStreamsItsOwnTensor) {
  const Dataset d = synthetic_data({5, 6}, 4, 41);
  const Params p = random_params(2, 3, 4, 0.5, 42);
  auto backend = make_cpu_tensor_backend();
  backend->upload({&d, nullptr});
  const TensorStatistics j = tensor_statistics(*backend, 3, 8);
  backend->upload({nullptr, &p});
  const TensorStatistics t = tensor_statistics(*backend, 3, 8);
  expect_stats_match(j.J, naive_stats(naive_J(d, 3)), "J alone");
  expect_stats_match(t.T, naive_stats(naive_T(p, 3)), "T alone");
  EXPECT_EQ(j.T.count, 0);
  EXPECT_EQ(j.JT.count, 0);
  EXPECT_EQ(t.J.count, 0);
}

TEST(TensorStreams, DenseTensorUnpacksToTheDefinition) {
  const Dataset d = synthetic_data({4, 5, 3}, 4, 51);
  const Params p = random_params(3, 5, 4, 0.7, 52);
  for (int n = 1; n <= 4; ++n) {
    const std::vector<double> J = dense_tensor({&d, &p}, n, kStreamJ);
    const std::vector<double> T = dense_tensor({&d, &p}, n, kStreamT);
    const std::vector<double> J0 = naive_J(d, n), T0 = naive_T(p, n);
    ASSERT_EQ(J.size(), J0.size());
    for (size_t i = 0; i < J.size(); ++i) {
      // GEMM and literal loops sum ~10 products in different orders.
      ASSERT_NEAR(J[i], J0[i], 1e-13) << "J n=" << n << " at " << i;
      ASSERT_NEAR(T[i], T0[i], 1e-13) << "T n=" << n << " at " << i;
    }
  }
}

TEST(TensorStreams, RefusesBadOrdersAndMismatchedTheta) {
  const Dataset d = synthetic_data({3, 3}, 4, 61);
  const Params wrong = random_params(2, 3, 5, 0.5, 62);
  auto backend = make_cpu_tensor_backend();
  EXPECT_THROW(backend->upload({&d, &wrong}), InputError);
  backend->upload({&d, nullptr});
  EXPECT_THROW(backend->sweep(0, nullptr, {}), InputError);
  EXPECT_THROW(backend->sweep(5, nullptr, {}), InputError);
}

}  // namespace
}  // namespace taylorscope

namespace taylorscope {
namespace {

// F19: NaN slipped past min/max (comparisons ignore it) while the mean went
// NaN. Non-finite elements are counted, on the per-element and the block path
// alike, and then no statistic but the counts is reported.
TEST(ElementStats, NonFiniteElementsAreCountedAndVoidTheStatistics) {
  const double x[] = {0.5, NAN, -2.0, INFINITY, 1.0, -INFINITY};
  MomentAccumulator one_by_one;
  for (double v : x) moments_add(one_by_one, v, 3.0);
  const MomentAccumulator block = block_moments(x, 6, 3.0);
  for (const MomentAccumulator& a : {one_by_one, block}) {
    EXPECT_EQ(a.nonfinite, 9.0);
    const ElementStats s = finish_stats(a);
    EXPECT_EQ(s.count, 18.0);
    EXPECT_EQ(s.nonfinite, 9.0);
    for (double v : {s.min, s.max, s.mean, s.std, s.skewness, s.excess_kurtosis, s.frac_negative, s.frac_zero})
      EXPECT_TRUE(std::isnan(v)) << v;
  }
  MomentAccumulator merged = block;
  moments_merge(merged, one_by_one);
  EXPECT_EQ(merged.nonfinite, 18.0);
  // Finite elements count none.
  EXPECT_EQ(block_moments(x, 1, 1.0).nonfinite, 0.0);
}

// run_moments is how a CUDA lane takes R elements of varying multiplicity
// (weight 0: a slot past the tile's end or in its padding) before one merge.
// Runs of 8 merged in order equal one moments_add per element: the fields
// that are sums of integers exactly, the rest to rounding. Tolerance 1e-13:
// both are exact formulas for the same sums over 4096 values of spread ~1
// about a mean of 3; the per-element Pébay update and the two-pass run
// differ by a few ulps per merge, ~1e-15 over these few hundred merges.
TEST(ElementStats, WeightedRunsEqualElementByElement) {
  std::mt19937_64 rng(71);
  std::normal_distribution<double> normal(3.0, 1.0);
  std::uniform_int_distribution<int> pick(0, 5);
  const double weights[] = {0, 1, 2, 3, 6, 6};  // multiplicities of order 3, and empty slots
  MomentAccumulator one_by_one, by_runs;
  for (int run = 0; run < 512; ++run) {
    double x[8], w[8];
    for (int r = 0; r < 8; ++r) {
      w[r] = weights[pick(rng)];
      x[r] = w[r] == 0 ? 0.0 : (r == 3 ? 0.0 : normal(rng));  // exact zeros among the elements
      if (run == 7 && r == 5) x[r] = w[r] == 0 ? 0.0 : 50.0;  // a far outlier (kurtosis)
      if (w[r] != 0) moments_add(one_by_one, x[r], w[r]);
    }
    moments_merge(by_runs, run_moments(x, w));
  }
  EXPECT_EQ(by_runs.n, one_by_one.n);
  EXPECT_EQ(by_runs.negative, one_by_one.negative);
  EXPECT_EQ(by_runs.zero, one_by_one.zero);
  EXPECT_GT(by_runs.zero, 0);
  EXPECT_EQ(by_runs.nonfinite, 0);
  EXPECT_EQ(by_runs.min, one_by_one.min);  // an empty slot's 0 is never the minimum
  EXPECT_EQ(by_runs.max, one_by_one.max);
  const ElementStats a = finish_stats(by_runs), b = finish_stats(one_by_one);
  for (auto [got, want] : {std::pair{a.mean, b.mean}, {a.std, b.std}, {a.skewness, b.skewness},
                           {a.excess_kurtosis, b.excess_kurtosis}, {a.sum, b.sum}})
    EXPECT_NEAR(got, want, 1e-13 * std::max(1.0, std::fabs(want)));

  // A run of empty slots is the empty accumulator; min and max come from the
  // weighted elements alone even when every one of them is above 0.
  const double none[4] = {0, 0, 0, 0}, x[4] = {5, 0, 7, 0}, w[4] = {1, 0, 2, 0};
  EXPECT_EQ(run_moments(none, none).n, 0);
  const MomentAccumulator two = run_moments(x, w);
  EXPECT_EQ(two.min, 5);
  EXPECT_EQ(two.max, 7);
  EXPECT_EQ(two.zero, 0);
  EXPECT_EQ(two.n, 3);
  EXPECT_DOUBLE_EQ(two.mean, 19.0 / 3);
  // Non-finite elements count as on the other paths.
  const double bad[4] = {1, NAN, INFINITY, 2}, w1[4] = {1, 2, 3, 0};
  EXPECT_EQ(run_moments(bad, w1).nonfinite, 5);
  EXPECT_TRUE(std::isnan(finish_stats(run_moments(bad, w1)).mean));
}

// The histogram sweep bins every element, NaN included: never a cast of NaN
// or ±Inf to int (undefined), always a bin in range.
TEST(ElementStats, HistogramBinOfNonFiniteElementsStaysInRange) {
  const HistogramRange r{-1.0, 1.0, 8};
  EXPECT_EQ(histogram_bin(r, NAN), 0);
  EXPECT_EQ(histogram_bin(r, -INFINITY), 0);
  EXPECT_EQ(histogram_bin(r, INFINITY), 7);
  EXPECT_EQ(histogram_bin(r, 1.0), 7);
  EXPECT_EQ(histogram_bin(r, -1.0), 0);
  EXPECT_EQ(histogram_bin(r, 0.01), 4);
  EXPECT_EQ(histogram_bin(r, -0.01), 3);
}

// Data ×1e300: J^(2)'s elements (products of two features) overflow to ±Inf
// or NaN; J^(1)'s are finite but their central moments overflow. Both say so.
TEST(TensorStreams, OverflowIsReportedNotHidden) {
  Dataset d = synthetic_data({5, 5, 5}, 3, 41);
  for (double& z : d.Z) z *= 1e300;
  const Params p = random_params(3, 4, 3, 0.5, 42);
  discard_warnings();
  auto backend = make_cpu_tensor_backend();
  backend->upload({&d, &p});
  const TensorStatistics s2 = tensor_statistics(*backend, 2, 8, {}, "n = 2: ");
  EXPECT_GT(s2.J.nonfinite, 0.0);
  EXPECT_TRUE(std::isnan(s2.J.min) && std::isnan(s2.J.max)) << "F19: min/max of the finite rest";
  EXPECT_TRUE(s2.J.histogram.counts.empty());
  ASSERT_FALSE(s2.warnings.empty());
  EXPECT_EQ(s2.warnings[0].rfind("n = 2: J.{min, max, mean", 0), 0u) << s2.warnings[0];
  EXPECT_NE(s2.warnings[0].find("elements of J are not finite (overflow in float64)"), std::string::npos);
  EXPECT_EQ(pending_warnings(), s2.warnings);
  discard_warnings();

  const TensorStatistics s1 = tensor_statistics(*backend, 1, 8);
  EXPECT_EQ(s1.J.nonfinite, 0.0);
  EXPECT_TRUE(std::isfinite(s1.J.min));
  EXPECT_FALSE(std::isfinite(s1.J.std));
  bool named = false;
  for (const std::string& w : s1.warnings) named |= w.rfind("J.{std", 0) == 0;
  EXPECT_TRUE(named) << ::testing::PrintToString(s1.warnings);
  discard_warnings();
}

}  // namespace
}  // namespace taylorscope
