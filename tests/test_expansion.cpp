// Properties of the exact expansion (docs/math.md §2–§4) on small synthetic data,
// through the CPU backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "taylorscope/communicator.hpp"
#include "taylorscope/dominance.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/pass_channels.hpp"
#include "split_stages.hpp"
#include "test_support.hpp"

using namespace taylorscope;
using taylorscope::testing::make_plan;
using taylorscope::testing::naive_action;
using taylorscope::testing::random_params;
using taylorscope::testing::synthetic_data;

namespace {

ExpansionResult run_cpu(const Dataset& d, const Params& p, const char* act, int K,
                        std::vector<double> ts = {1.0}) {
  auto backend = make_cpu_backend();
  ExpansionOptions o;
  o.order = K;
  o.t_values = std::move(ts);
  return expand(d, p, parse_activation(act), o, *backend);
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b)); }

}  // namespace

TEST(Expansion, ZerothOrderIsLnMAndFirstOrderVanishesOnBalancedData) {
  const Dataset d = synthetic_data({20, 20, 20, 20}, 6, 1);
  const Params p = random_params(4, 9, 6, 0.4, 2);
  const ExpansionResult r = run_cpu(d, p, "silu", 4);
  // N copies of ln 4 summed then divided: a few ulps of rounding per sample.
  EXPECT_NEAR(r.S_k[0], std::log(4.0), 1e-14);
  // S_1 = E[mean_α c'_α − c'_m] is an average of exact cancellations.
  EXPECT_NEAR(r.S_k[1], 0.0, 1e-15);
}

TEST(Expansion, FirstOrderIsNonZeroOnUnbalancedData) {
  const Dataset d = synthetic_data({30, 10, 5}, 5, 3);
  const Params p = random_params(3, 7, 5, 0.4, 4);
  const ExpansionResult r = run_cpu(d, p, "silu", 3);
  // S_1 = Σ_α (1/M − p(α)) c_α exactly, with σ(0) = 0 so c' = c.
  double want = 0;
  for (int a = 0; a < 3; ++a) want += (1.0 / 3 - d.class_counts[a] / double(d.N)) * p.c[a];
  EXPECT_NEAR(r.S_k[1], want, 1e-14);
}

TEST(Expansion, DirectLossEqualsNaiveForwardPass) {
  const Dataset d = synthetic_data({15, 15, 15}, 7, 5);
  const Params p = random_params(3, 11, 7, 0.6, 6);
  for (const char* act : {"silu", "tanh", "softplus", "gelu", "relu", "sigmoid"}) {
    const ExpansionResult r = run_cpu(d, p, act, 2, {0.5, 1.0, 1.7});
    for (const ValidityPoint& v : r.validity)
      EXPECT_NEAR(v.S_direct, naive_action(d, p, parse_activation(act), v.t), 1e-13) << act << " t=" << v.t;
  }
}

// The test that cannot be faked (docs/math.md §2): halving t divides the residual
// of the order-K partial sum by 2^{K+1}.
TEST(Expansion, TruncationResidualScalesAsTPowKPlus1) {
  const Dataset d = synthetic_data({25, 25, 25}, 6, 7);
  const Params p = random_params(3, 10, 6, 0.5, 8);
  for (const char* act : {"silu", "tanh", "softplus", "gelu", "sigmoid"}) {
    const Activation a = parse_activation(act);
    for (int K : {2, 3, 5}) {
      const ExpansionResult r = run_cpu(d, p, act, K);
      std::vector<double> residual;
      for (double t : {0.08, 0.04, 0.02}) {
        double partial = 0, tk = 1;
        for (int k = 0; k <= K; ++k, tk *= t) partial += tk * r.S_k[k];
        residual.push_back(std::fabs(naive_action(d, p, a, t) - partial));
      }
      for (int i = 0; i + 1 < 3; ++i) {
        // log2 of the ratio is K+1 up to the next order's relative size,
        // O(t·|S_{K+2}/S_{K+1}|) ≈ a few percent here; ±0.35 allows that and
        // still rejects a wrong order (±1).
        const double slope = std::log2(residual[i] / residual[i + 1]);
        EXPECT_NEAR(slope, K + 1, 0.35) << act << " K=" << K << " residuals " << residual[i] << " "
                                        << residual[i + 1];
      }
      // Residuals must be far above rounding (S ≈ 1 averaged over 75 samples:
      // ~1e-15) for the slope to mean anything; 1e-13 keeps a 100× margin.
      EXPECT_GT(residual[2], 1e-13) << act << " K=" << K;
    }
  }
}

TEST(Expansion, SevenSeedTermsSumToJetS2AndS3) {
  const Dataset d = synthetic_data({30, 30, 30, 30, 30}, 8, 9);
  const Params p = random_params(5, 13, 8, 0.5, 10);
  // sigmoid and softplus have σ(0) ≠ 0: the c → c + σ(0)U·1 shift is tested too.
  for (const char* act : {"silu", "tanh", "sigmoid", "softplus", "gelu", "relu"}) {
    const ExpansionResult r = run_cpu(d, p, act, 4);
    // Two independent float64 routes to the same number; 1e-10 is docs/math.md's contract.
    EXPECT_LT(rel(r.terms.S2(), r.S_k[2]), 1e-10) << act << " " << r.terms.S2() << " vs " << r.S_k[2];
    EXPECT_LT(rel(r.terms.S3(), r.S_k[3]), 1e-10) << act << " " << r.terms.S3() << " vs " << r.S_k[3];
    // Every term contributes here, so the test is not passing on zeros.
    for (const char* k : {"cc", "J_UW", "ccc", "Ub_c", "Z_UW_c"}) EXPECT_NE(r.terms.at(k).value, 0.0) << act << " " << k;
  }
}

// D_2 from the power sums (§4) and the J·UW term from the first moments (§3)
// are the same number reached two ways.
TEST(Expansion, DominantD2EqualsJUWTermAndD3EqualsJUWW) {
  const Dataset d = synthetic_data({12, 12, 12}, 5, 11);
  const Params p = random_params(3, 6, 5, 0.5, 12);
  const ExpansionResult r = run_cpu(d, p, "silu", 5);
  EXPECT_LT(rel(r.dominant[0].D, r.terms.at("J_UW").value), 1e-12);
  EXPECT_LT(rel(r.dominant[1].D, r.terms.at("J_UWW").value), 1e-12);
  EXPECT_EQ(r.dominant.size(), 4u);
}

// The pass reads the class sums of z off the rows (seed_terms' first moments
// come from them, not from Z), and the power-sum-only plan runs neither
// stage yet gives the full pass's class power sums, class sums and counts.
// The CPU pass forms the channels with pass_channels_block (loops over units,
// vectorised), the CUDA kernels with pass_channels (one unit per thread): the
// same operations per element, so the same bits, for every activation.
// P = 7 takes the fixed-P power loop, P = 10 the general one.
TEST(Expansion, ChannelBlocksEqualPassChannelsUnitByUnit) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 3.0);
  std::vector<double> a(130);  // not a multiple of the vector width
  for (double& v : a) v = normal(rng);
  a[0] = 0.0, a[1] = -0.0, a[2] = 800.0, a[3] = -800.0;  // σ's exponent clamp on both sides
  for (const int P : {7, 10})
  for (const char* name : {"silu", "relu", "tanh", "sigmoid", "gelu", "softplus", "elu", "relu_omega"}) {
    const int C = P + 5;
    std::vector<double> t_of(P, 0.0);
    t_of.insert(t_of.end(), {0.25, 0.5, 1.0, 1.5, 2.0});
    const Activation act = parse_activation(name, 0.7, 0.2);
    std::vector<double> block(C * a.size()), one(C);
    pass_channels_block(a.data(), static_cast<int64_t>(a.size()), P, C, t_of.data(), act, block.data());
    for (size_t u = 0; u < a.size(); ++u) {
      pass_channels(a[u], 0, C, P, C, t_of.data(), act, one.data());
      for (int ch = 0; ch < C; ++ch)
        ASSERT_EQ(block[ch * a.size() + u], one[ch]) << name << " unit " << u << " (a = " << a[u] << ") channel " << ch;
    }
  }
}

// With the default t (multiples of 0.25), silu's and sigmoid's σ channels
// come from one exponential and one division per unit (SigmoidLadder): the
// CPU's loops over units and a CUDA thread's per-unit function give the same
// bits, whichever channels a thread group keeps.
// The default t take ladder_channels_fixed, one loop per unit; t = 0.5, 1,
// 1.5, 0.75, 2 (m = 2, 4, 6, 3, 8 of 0.25) the general ladder_channels_block.
TEST(Expansion, SigmoidLadderBlocksEqualPassChannelsUnitByUnit) {
  std::mt19937_64 rng(12);
  std::normal_distribution<double> normal(0.0, 3.0);
  const int P = 7, C = 12;
  std::vector<double> a(200);  // over three chunks of the block's 64 units
  for (double& v : a) v = normal(rng);
  a[0] = 0.0, a[1] = -0.0, a[2] = 800.0, a[3] = -800.0, a[4] = -400.0, a[5] = 40.0;
  for (const std::vector<double>& t_of : {std::vector<double>{0, 0, 0, 0, 0, 0, 0, 0.25, 0.5, 1.0, 1.5, 2.0},
                                          std::vector<double>{0, 0, 0, 0, 0, 0, 0, 0.5, 1.0, 1.5, 0.75, 2.0}})
  for (const char* name : {"silu", "sigmoid"}) {
    const Activation act = parse_activation(name);
    const SigmoidLadder ladder = make_sigmoid_ladder(act, t_of.data() + P, C - P);
    ASSERT_EQ(ladder.count, C - P) << name;
    std::vector<double> block(C * a.size()), one(C), group(3);
    pass_channels_block(a.data(), static_cast<int64_t>(a.size()), P, C, t_of.data(), act, block.data(), ladder);
    for (size_t u = 0; u < a.size(); ++u) {
      pass_channels(a[u], 0, C, P, C, t_of.data(), act, one.data(), 1, ladder);
      for (int ch = 0; ch < C; ++ch)
        ASSERT_EQ(block[ch * a.size() + u], one[ch]) << name << " unit " << u << " (a = " << a[u] << ") channel " << ch;
      // A group of channels 6..8 (a power, then two σ), as a CUDA block keeps.
      pass_channels(a[u], 6, 3, P, C, t_of.data() + 6, act, group.data(), 1, ladder);
      for (int j = 0; j < 3; ++j) ASSERT_EQ(group[j], one[6 + j]) << name << " unit " << u << " group channel " << j;
    }
  }
}

// The ladder's σ against activation_value's (one exp and one division per
// channel). The ladder: e0^m carries ≤ m·2 ulp from e0 plus ≤ 3 products,
// the reciprocal ≤ 2T + 1 roundings, silu's product one more — under 32 ulp
// relative in all. activation_value has an error of its own that grows with
// |x|: it rounds x = t·a before the exponential (t = 1.5 is no power of 2),
// and e^{−|x|} moves by |x|·½ ulp relative for that rounding, while the
// ladder's argument t0·a is exact. So the bound is 64 ulp + |x| ulp: at the
// |x| ≲ 10 of real pre-activations still 10^4 times tighter than a wrong
// power or a swapped channel would meet. Where σ underflows (|x| ≳ 700)
// both are below 1e−300 and compared absolutely.
TEST(Expansion, SigmoidLadderIsWithinUlpsOfActivationValue) {
  std::mt19937_64 rng(13);
  std::normal_distribution<double> normal(0.0, 4.0);
  const std::vector<double> t = {0.25, 0.5, 1.0, 1.5, 2.0};
  const double ulp = 0x1p-52;
  for (const char* name : {"silu", "sigmoid"}) {
    const Activation act = parse_activation(name);
    const SigmoidLadder ladder = make_sigmoid_ladder(act, t.data(), 5);
    double worst_small = 0;  // |x| ≤ 10, in ulp
    for (int i = 0; i < 200000; ++i) {
      const double a = i < 100000 ? normal(rng) : normal(rng) * 40;
      double out[kMaxLadder];
      sigmoid_ladder<kMaxLadder>(ladder, ladder.count, a, out);
      for (int j = 0; j < 5; ++j) {
        const double x = t[j] * a, want = activation_value(act, x);
        if (std::fabs(want) < 1e-300) {
          ASSERT_LT(std::fabs(out[j]), 1e-300) << name << " a = " << a << " t = " << t[j];
          continue;
        }
        const double rel = std::fabs(out[j] - want) / std::fabs(want);
        ASSERT_LE(rel, (64 + std::fabs(x)) * ulp) << name << " a = " << a << " t = " << t[j];
        if (std::fabs(x) <= 10) worst_small = std::max(worst_small, rel / ulp);
      }
    }
    std::printf("%s ladder vs activation_value, |t·a| <= 10: max %.1f ulp\n", name, worst_small);
  }
}

TEST(Expansion, SigmoidLadderIsFoundOnlyForIntegerMultiples) {
  const Activation silu = parse_activation("silu");
  const std::vector<double> defaults = {0.25, 0.5, 1.0, 1.5, 2.0};
  SigmoidLadder l = make_sigmoid_ladder(silu, defaults.data(), 5);
  EXPECT_EQ(l.count, 5);
  EXPECT_EQ(l.t0, 0.25);
  EXPECT_EQ((std::vector<int>(l.m, l.m + 5)), (std::vector<int>{1, 2, 4, 6, 8}));
  const std::vector<double> thirds = {1.0, 0.75, 0.5};  // t0 = 0.5 / 2, unsorted
  l = make_sigmoid_ladder(silu, thirds.data(), 3);
  EXPECT_EQ(l.count, 3);
  EXPECT_EQ(l.t0, 0.25);
  EXPECT_EQ((std::vector<int>(l.m, l.m + 3)), (std::vector<int>{4, 3, 2}));
  const auto none = [&](const Activation& act, std::vector<double> ts) {
    return make_sigmoid_ladder(act, ts.data(), static_cast<int>(ts.size())).count == 0;
  };
  EXPECT_TRUE(none(silu, {0.3, 1.0}));                     // 1/0.3 is no integer, nor with t0 = 0.15, 0.1 (> 8)
  EXPECT_TRUE(none(silu, {0.25, 2.25}));                   // m = 9 > kMaxLadderMultiple
  EXPECT_TRUE(none(silu, {1.0}));                          // one channel: nothing to share
  EXPECT_TRUE(none(silu, {0.0, 1.0}));                     // t = 0
  EXPECT_TRUE(none(silu, {-1.0, 1.0}));                    // t < 0
  EXPECT_TRUE(none(silu, {1, 2, 3, 4, 5, 6, 7, 8, 1}));    // more channels than a lane's registers
  EXPECT_TRUE(none(parse_activation("tanh"), defaults));   // only σ-based activations
  EXPECT_FALSE(none(parse_activation("sigmoid"), defaults));
}

TEST(Expansion, PassCarriesClassSumsAndPowerSumsOnlyPlanSkipsTheStages) {
  const Dataset d = synthetic_data({7, 9, 5}, 6, 31);
  const Params p = random_params(3, 5, 6, 0.7, 32);
  const PassPlan plan = make_plan("silu", 5, {0.5, 1.0}, 4);
  auto backend = make_cpu_backend();
  backend->upload(d);
  const PassSums full = backend->run(p, plan);
  PassPlan only;
  only.power_sums_only = true;
  only.max_power = 4;
  const PassSums sums = backend->run(p, only);
  EXPECT_TRUE(sums.jet.empty());
  EXPECT_TRUE(sums.direct.empty());
  EXPECT_EQ(sums.class_power, full.class_power);  // the same products in the same order
  EXPECT_EQ(sums.class_sum, full.class_sum);
  EXPECT_EQ(sums.class_count, full.class_count);
  ASSERT_EQ(full.class_sum.size(), 3u * 6u);
  for (int a = 0; a < 3; ++a)
    for (int g = 0; g < 6; ++g) {
      double want = 0, size = 0;  // rows in file order
      for (int64_t s = 0; s < d.N; ++s)
        if (d.labels[s] == a) want += d.Z[s * 6 + g], size += std::fabs(d.Z[s * 6 + g]);
      // The pass adds each thread's rows in order and then the threads' sums:
      // another grouping of at most 9 terms, so within 9 roundings of Σ|z|.
      EXPECT_NEAR(full.class_sum[a * 6 + g], want, 9 * 0x1p-52 * size) << "class " << a << " feature " << g;
    }
}

// The CPU pass keeps each thread's buffers from one pass to the next of the
// same shape, resetting its sums: a second pass of one backend equals the
// first and a fresh backend's, also after a pass of another shape between
// them; the class sums of 4000 rows (one 4096-row block, split among the
// threads) stay within rounding of the plain sums.
TEST(Expansion, RepeatedPassesReuseTheirBuffers) {
  const Dataset d = synthetic_data({1500, 1200, 1300}, 6, 33);
  const Params p = random_params(3, 5, 6, 0.7, 34), wider = random_params(3, 9, 6, 0.7, 35);
  const PassPlan plan = make_plan("silu", 5, {0.5, 1.0}, 4);
  auto backend = make_cpu_backend();
  backend->upload(d);
  const PassSums first = backend->run(p, plan);
  const PassSums again = backend->run(p, plan);
  backend->run(wider, plan);
  const PassSums after_other = backend->run(p, plan);
  auto fresh_backend = make_cpu_backend();
  fresh_backend->upload(d);
  const PassSums fresh = fresh_backend->run(p, plan);
  for (const PassSums* s : {&again, &after_other, &fresh}) {
    EXPECT_EQ(s->jet, first.jet);
    EXPECT_EQ(s->direct, first.direct);
    EXPECT_EQ(s->class_power, first.class_power);
    EXPECT_EQ(s->class_sum, first.class_sum);
    EXPECT_EQ(s->class_count, first.class_count);
  }
  for (int a = 0; a < 3; ++a)
    for (int g = 0; g < 6; ++g) {
      double want = 0, size = 0;
      int64_t count = 0;
      for (int64_t s = 0; s < d.N; ++s)
        if (d.labels[s] == a) want += d.Z[s * 6 + g], size += std::fabs(d.Z[s * 6 + g]), ++count;
      // Any grouping of n terms is within (n − 1) roundings of Σ|z|.
      EXPECT_NEAR(first.class_sum[a * 6 + g], want, static_cast<double>(count) * 0x1p-52 * size)
          << "class " << a << " feature " << g;
    }
}

// |a − b| ≤ rel · max(|a|, |b|, floor) element by element.
static void expect_all_close(const std::vector<double>& a, const std::vector<double>& b, double rel, double floor,
                      const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_LE(std::fabs(a[i] - b[i]), rel * std::max({std::fabs(a[i]), std::fabs(b[i]), floor}))
        << what << "[" << i << "]: " << a[i] << " vs " << b[i];
}

// Tolerance of a split pass against the whole one: the split adds G's
// hidden-unit shares (and the ranks' row sums) in another grouping, a few
// ulps of each term. The jets of these θ are O(1) per sample and some
// orders cancel across samples (S_1 on nearly balanced data), so the
// relative test has a floor of 1e-3 per sample, as test_cuda_vs_cpu's does;
// 1e-12 · that floor is still 10^4 ulps below any real error. Measured
// with these floors: ≤ 1.6e-14 relative (class_power: the row shares of a
// power sum added in another grouping), ≤ 1e-15 elsewhere.
static void expect_split_matches_whole(const PassSums& whole, const PassSums& split, int64_t N) {
  ASSERT_EQ(split.H, whole.H);
  ASSERT_EQ(split.E, whole.E);
  EXPECT_EQ(split.class_count, whole.class_count);
  expect_all_close(whole.jet, split.jet, 1e-12, 1e-3 * static_cast<double>(N), "jet");
  expect_all_close(whole.direct, split.direct, 1e-12, 1e-3 * static_cast<double>(N), "direct");
  // Class power sums and class sums: the same products, their rows grouped
  // by block and by rank; odd powers of a centred a cancel, hence the floor
  // at the power's scale.
  double scale = 0;
  for (double v : whole.class_power) scale = std::max(scale, std::fabs(v));
  expect_all_close(whole.class_power, split.class_power, 1e-12, 1e-6 * scale, "class_power");
  scale = 0;
  for (double v : whole.class_sum) scale = std::max(scale, std::fabs(v));
  expect_all_close(whole.class_sum, split.class_sum, 1e-12, 1e-6 * scale, "class_sum");
}

static PassPlan split_test_plan() { return make_plan("silu", 8, {0.5, 1.0, 2.0}, 7); }

// The library's split pass on one rank (make_single_communicator): --shard
// rows is the whole pass bit for bit; --shard hidden runs the two stages
// with G handed across between them and agrees with the whole pass.
TEST(ExpansionSplit, ShardedPassOnOneRankEqualsTheWholePass) {
  const Dataset d = synthetic_data({40, 33, 27, 51}, 19, 41);
  const Params p = random_params(4, 37, 19, 0.3, 42);
  const auto single = make_single_communicator();
  for (const bool power_sums_only : {false, true}) {
    SCOPED_TRACE(power_sums_only ? "power sums only" : "full plan");
    PassPlan plan = split_test_plan();
    plan.power_sums_only = power_sums_only;
    auto backend = make_cpu_backend();
    backend->upload(d);
    const PassSums whole = backend->run(p, plan);
    const PassSums rows = sharded_pass(d, p, plan, "rows", *backend, *single);
    EXPECT_EQ(rows.jet, whole.jet);
    EXPECT_EQ(rows.direct, whole.direct);
    EXPECT_EQ(rows.class_power, whole.class_power);
    EXPECT_EQ(rows.class_sum, whole.class_sum);
    EXPECT_EQ(rows.class_count, whole.class_count);
    expect_split_matches_whole(whole, sharded_pass(d, p, plan, "hidden", *backend, *single), d.N);
  }
  auto backend = make_cpu_backend();
  EXPECT_THROW(sharded_pass(d, p, split_test_plan(), "columns", *backend, *single), InputError);
}

// R ranks simulated in one process with the stage API
// (split_stages.hpp), as sharded_pass runs them under mpirun. H = 2 < R = 3
// leaves one rank without a unit (its share of G is 0).
TEST(ExpansionSplit, StagesSplitAcrossHiddenUnitsEqualTheWholePass) {
  const Dataset d = synthetic_data({25, 31, 22}, 13, 43);
  for (const int64_t H : {29, 2})
    for (const int ranks : {2, 3}) {
      SCOPED_TRACE("H=" + std::to_string(H) + " R=" + std::to_string(ranks));
      const Params p = random_params(3, H, 13, 0.4, 44);
      const PassPlan plan = split_test_plan();
      auto whole_backend = make_cpu_backend();
      whole_backend->upload(d);
      const PassSums whole = whole_backend->run(p, plan);

      std::vector<std::unique_ptr<ExpansionBackend>> owned;
      std::vector<ExpansionBackend*> rank_backend;
      for (int r = 0; r < ranks; ++r) {
        owned.push_back(make_cpu_backend());
        rank_backend.push_back(owned.back().get());
      }
      // Two blocks of rows, so the stages are called more than once.
      const PassSums split = taylorscope::testing::split_pass_in_one_process(rank_backend, d, p, plan, {41, d.N});
      expect_split_matches_whole(whole, split, d.N);
    }
}

// ⟨J^(n), T^(n)⟩ by the power-sum identity against the literal tensor sum
// over α and γ1..γn (docs/math.md §3 definitions), n = 1..4.
TEST(Expansion, PowerSumContractionEqualsBruteForceTensorContraction) {
  const int64_t M = 3, H = 4, E = 4;
  const Dataset d = synthetic_data({7, 9, 5}, E, 13);
  const Params p = random_params(M, H, E, 0.7, 14);
  const PassPlan plan = make_plan("silu", 5, {}, 4);
  auto backend = make_cpu_backend();
  backend->upload(d);
  const std::vector<double> JT = contractions_from_power_sums(backend->run(p, plan), p);

  for (int n = 1; n <= 4; ++n) {
    double want = 0;
    std::vector<int> g(n, 0);
    for (bool more = true; more;) {
      for (int a = 0; a < M; ++a) {
        double all = 0, cls = 0;
        for (int64_t s = 0; s < d.N; ++s) {
          double prod = 1;
          for (int i = 0; i < n; ++i) prod *= d.Z[s * E + g[i]];
          all += prod;
          if (d.labels[s] == a) cls += prod;
        }
        const double J = all / d.N - cls / d.class_counts[a];
        double T = 0;
        for (int64_t b = 0; b < H; ++b) {
          double prod = p.U[a * H + b];
          for (int i = 0; i < n; ++i) prod *= p.W[b * E + g[i]];
          T += prod;
        }
        want += J * T;
      }
      int i = 0;
      while (i < n && ++g[i] == E) g[i++] = 0;
      more = i < n;
    }
    // Same float64 sums in a different order: agreement to ~1e-14 expected.
    EXPECT_NEAR(JT[n - 1], want, 1e-12 * std::max(1.0, std::fabs(want))) << "n=" << n;
  }
}

// docs/math.md §5's numbers at the seed's size (M = 10, H = 2048, E = 1024): one
// sample per class is enough, the counts depend on the sizes alone.
TEST(Expansion, SubtermCountsMatchSeedNumbersAtFashionMnistPad32Size) {
  const Dataset d = synthetic_data(std::vector<int64_t>(10, 1), 1024, 23);
  const Params p = random_params(10, 2048, 1024, 0.01, 24);
  PassPlan plan;
  plan.power_sums_only = true;
  auto pass = make_cpu_backend();
  pass->upload(d);
  const FirstMoments mom = first_moments(pass->run(p, plan), d.spec);
  const SeedTerms t = seed_terms(mom, p, activation_derivatives_at_zero(parse_activation("silu"), 3), 0.0);
  EXPECT_DOUBLE_EQ(t.at("cc").count, 100.0);
  EXPECT_DOUBLE_EQ(t.at("J_UW").count, 10.0 * 1024 * 2048);
  EXPECT_DOUBLE_EQ(t.at("ccc").count, 1.0e3);
  EXPECT_DOUBLE_EQ(t.at("Ub_c").count, 204800);
  EXPECT_DOUBLE_EQ(t.at("Z_UW_c").count, 10.0 * 1024 * 2048 * 10);
  EXPECT_DOUBLE_EQ(t.at("J_UWb").count, 10.0 * 1024 * 2048);
  EXPECT_NEAR(t.at("J_UWW").count, 2.1e10, 0.05e10);
  EXPECT_EQ(t.all.size(), 7u);
}

TEST(Expansion, RadiusOfGeometricSeriesIsRecovered) {
  std::vector<double> S(13);
  for (int k = 0; k <= 12; ++k) S[k] = std::pow(1.0 / 0.7, k);  // 1/(1 − t/0.7)
  const RadiusEstimate r = estimate_radius(S);
  EXPECT_NEAR(r.estimate, 0.7, 1e-12);
  EXPECT_EQ(r.orders_used, (std::vector<int>{9, 10, 11, 12}));
}

// F1: with S_2..S_K overflowed, R ≈ 221 was printed from S_1 (rounding noise) alone.
TEST(Expansion, RadiusIsAbsentWhenAnyOrderIsNotFinite) {
  const double inf = INFINITY, nan = NAN;
  const RadiusEstimate r = estimate_radius({std::log(3.0), 1.6e-17, 2.1e297, inf, nan, nan, nan, nan, nan});
  EXPECT_FALSE(r.available());
  EXPECT_TRUE(std::isnan(r.estimate));
  EXPECT_TRUE(r.orders_used.empty());
  EXPECT_NE(r.absent_reason.find("k = 3..8"), std::string::npos) << r.absent_reason;
}

TEST(Expansion, RadiusNeedsThreeOrdersWithCoefficients) {
  // K = 2: two orders make no limsup.
  EXPECT_FALSE(estimate_radius({std::log(2.0), 0.3, 0.5}).available());
  // S_1 vanishes by symmetry on balanced data: with K = 3 two orders remain.
  const RadiusEstimate r3 = estimate_radius({std::log(2.0), 1e-17, 0.5, 0.2}, {1});
  EXPECT_FALSE(r3.available());
  EXPECT_NE(r3.absent_reason.find("symmetry"), std::string::npos) << r3.absent_reason;
  // K = 4: orders 2..4 remain, and S_1's noise is not among them.
  const RadiusEstimate r4 = estimate_radius({std::log(2.0), 1e-17, 0.5, 0.2, 0.1}, {1});
  ASSERT_TRUE(r4.available()) << r4.absent_reason;
  EXPECT_EQ(r4.orders_used, (std::vector<int>{2, 3, 4}));
  // Exact zeros are no coefficients either.
  EXPECT_FALSE(estimate_radius({1.0, 0.0, 0.0, 0.5, 0.0}).available());
}

// A series even in t has odd orders that are rounding noise: they must not
// stand in for coefficients (their |S_k|^{-1/k} would be huge, and they would
// take the slots of real orders).
TEST(Expansion, RadiusSkipsOrdersThatAreRoundingNoiseBesideTheirNeighbours) {
  std::vector<double> S(13);
  for (int k = 0; k <= 12; ++k) S[k] = std::pow(1.0 / 0.7, k) * (k % 2 ? 3e-17 : 1.0);
  const RadiusEstimate r = estimate_radius(S);
  ASSERT_TRUE(r.available()) << r.absent_reason;
  EXPECT_EQ(r.orders_used, (std::vector<int>{6, 8, 10, 12}));
  EXPECT_NEAR(r.estimate, 0.7, 1e-12);
}

// The same on a real expansion: sigmoid − ½ is odd, so with c' = c + ½U·1 = 0
// the logits f(t) and S(tθ) are even in t. c is set one ulp away from −½U·1,
// a rounding residual's size, so the odd S_k come out ~1e-16 of their
// neighbours instead of exact zeros: noise that must not count as an order.
TEST(Expansion, RadiusOfAnEvenSeriesUsesEvenOrdersOnly) {
  const Dataset d = synthetic_data({10, 10, 10}, 5, 21);
  Params p = random_params(3, 6, 5, 1.0, 22);
  for (int a = 0; a < 3; ++a) {
    double row = 0;
    for (int b = 0; b < 6; ++b) row += p.U[a * 6 + b];
    p.c[a] = std::nextafter(-0.5 * row, 1.0);
  }
  const ExpansionResult r = run_cpu(d, p, "sigmoid", 12);
  ASSERT_TRUE(r.radius.available()) << r.radius.absent_reason;
  EXPECT_EQ(r.radius.orders_used, (std::vector<int>{6, 8, 10, 12}));
  // The odd orders are noise here, not zeros (else the test passes vacuously).
  for (int k = 3; k <= 11; k += 2) {
    EXPECT_NE(r.S_k[k], 0.0) << k;
    EXPECT_LT(std::fabs(r.S_k[k]), 1e-12 * std::fabs(r.S_k[k + 1])) << k;
  }
}

TEST(Expansion, OrderOutsideRangeIsRefused) {
  const Dataset d = synthetic_data({4, 4}, 3, 15);
  const Params p = random_params(2, 3, 3, 0.5, 16);
  EXPECT_THROW(run_cpu(d, p, "silu", 0), std::exception);
  EXPECT_THROW(run_cpu(d, p, "silu", 65), std::exception);
  EXPECT_NO_THROW(run_cpu(d, p, "silu", 64));
}

// With one class the action is 0 for every θ: nothing to expand, so the
// library refuses it itself (tests, MPI and bindings call it directly).
TEST(Expansion, OneClassDataIsRefusedByExpandAndByTheDominanceAnalysis) {
  const Dataset d = synthetic_data({12}, 3, 17);
  const Params p = random_params(1, 4, 3, 0.5, 18);
  try {
    run_cpu(d, p, "silu", 4);
    ADD_FAILURE() << "M = 1 was expanded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("at least 2"), std::string::npos) << e.what();
  }
  auto pass = make_cpu_backend();
  auto tensors = make_cpu_tensor_backend();
  EXPECT_THROW(analyse_width(d, p, parse_activation("silu"), 6, 8, *pass, *tensors), InputError);
}

// SiLU's σ_n vanish for odd n ≥ 3 (activation.hpp), so D_{n+1} is exactly 0
// there and so is its ratio to S_{n+1} — printed as 0, never −0 or noise.
TEST(Expansion, DominantPartVanishesExactlyWhereSigmaDerivativeVanishesBySymmetry) {
  const Dataset d = synthetic_data({10, 10, 10}, 5, 19);
  const Params p = random_params(3, 6, 5, 2.0, 20);
  const ExpansionResult r = run_cpu(d, p, "silu", 12);
  int zeros = 0;
  for (const DominantTerm& t : r.dominant) {
    if (t.n >= 3 && t.n % 2 == 1) {
      EXPECT_EQ(r.sigma_derivs[t.n], 0.0) << "n=" << t.n;
      EXPECT_EQ(t.D, 0.0) << "n=" << t.n;
      EXPECT_FALSE(std::signbit(t.D)) << "n=" << t.n;
      EXPECT_EQ(t.ratio, 0.0) << "n=" << t.n;
      EXPECT_FALSE(std::signbit(t.ratio)) << "n=" << t.n;
      EXPECT_NE(t.JT, 0.0) << "the contraction itself is not zero: the zero comes from σ_n";
      ++zeros;
    } else {
      EXPECT_NE(t.D, 0.0) << "n=" << t.n;
    }
  }
  EXPECT_EQ(zeros, 5);  // n = 3, 5, 7, 9, 11
}
