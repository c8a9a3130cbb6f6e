// bn-check (docs/bn-check.md): BN's projection identities (MATH.md §12,
// seed 004 Thm 5) against independent oracles, and the row-energy law of
// §7.5.1 measured by short teacher–student runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "taylorscope/batch_norm.hpp"
#include "taylorscope/bn_check.hpp"
#include "taylorscope/counter_rng.hpp"
#include "temp_dir.hpp"

namespace {

using namespace taylorscope;
namespace tst = taylorscope::testing;

// A batch of B values offset + scale·z and an incoming gradient, from a
// stream of its own.
struct Batch {
  std::vector<double> x, g;
};
Batch random_batch(int B, double offset, double scale, uint64_t stream) {
  Batch b{std::vector<double>(B), std::vector<double>(B)};
  for (int i = 0; i < B; ++i) b.x[i] = offset + scale * philox_normal(7, stream, i);
  for (int i = 0; i < B; ++i) b.g[i] = philox_normal(7, stream, B + i);
  return b;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double a : v) m = std::max(m, std::fabs(a));
  return m;
}

TEST(BnForward, IsCentredWithUnitPopulationVariance) {
  // fᵀf = B is what makes the std the population one (1/B); with 1/(B−1) it
  // would be B − 1, 1/B off. Rounding: x_i − mean is off by ε·|mean|, so f_i
  // by ε·(1 + |mean|/std) — inherent in storing x in float64, whatever the
  // algorithm — and a mean of B such terms no more. With |mean| = 100·std,
  // the most the projection trials use, that is ≈ 2e-14; 1e-12 leaves room.
  for (int B : {2, 3, 17, 300}) {
    const Batch b = random_batch(B, 1.0, 0.01, B);
    std::vector<double> f(B);
    ASSERT_GT(bn_forward(b.x.data(), B, f.data()), 0);
    double sum = 0, sq = 0;
    for (double a : f) sum += a, sq += a * a;
    EXPECT_LT(std::fabs(sum) / B, 1e-12) << "B = " << B;
    EXPECT_NEAR(sq / B, 1.0, 1e-12) << "B = " << B;
  }
}

TEST(BnForward, RefusesAConstantBatch) {
  const std::vector<double> x(5, 3.25);
  std::vector<double> f(5, -1.0);
  EXPECT_EQ(bn_forward(x.data(), 5, f.data()), 0.0);
  EXPECT_EQ(f[0], -1.0);  // untouched: BN is undefined there
}

TEST(BnJacobian, KillsFAndOnesOnRandomBatches) {
  // check_projection's trials span B in 2..256, std in 1e-3..1e3 and
  // |mean| up to 100 std. In units of 1/std each product is a sum of B
  // rounded terms of size ≤ max|f|: a few B·ε ≈ 1e-13 at worst, so 1e-12
  // is the claim's own bound with room, and a wrong closed form (any
  // missing term) is off by O(1).
  ProjectionConfig c;
  c.trials = 300;
  c.seed = 11;
  const std::vector<ProjectionTrial> trials = check_projection(c);
  ASSERT_EQ(trials.size(), 300u);
  for (const ProjectionTrial& t : trials) {
    EXPECT_LE(t.max_abs_Jf, 1e-12) << "trial " << t.trial << ", B = " << t.batch;
    EXPECT_LE(t.max_abs_J1, 1e-12) << "trial " << t.trial << ", B = " << t.batch;
    // The closed form against forward mode through the forward's own
    // operations, and the projection formula against reverse mode: the same
    // derivative computed by other arithmetic, equal to rounding.
    EXPECT_LE(t.max_abs_jacobian_diff, 1e-12) << "trial " << t.trial;
    EXPECT_LE(t.max_abs_grad_diff, 1e-12) << "trial " << t.trial;
  }
}

TEST(BnBackward, EqualsFiniteDifferencesOfTheForward) {
  // ∂(gᵀf)/∂x_k by central differences of the forward alone. With std ≈ 1
  // and h = 1e-5 the truncation error is h²·|∂³(gᵀf)| ≈ 1e-10·O(B) and the
  // rounding ε·|gᵀf|/h ≈ 1e-10; 1e-7 relative sits well above both and far
  // below the O(1) error of a formula with a term missing (checked: without
  // the f fᵀ/B term the difference is ≈ 0.2 here).
  const int B = 24;
  const Batch b = random_batch(B, 1.5, 1.0, 100);
  std::vector<double> f(B), formula(B), xp(B), fp(B);
  const double s = bn_forward(b.x.data(), B, f.data());
  bn_backward(f.data(), s, b.g.data(), B, formula.data());
  auto objective = [&](const std::vector<double>& x) {
    bn_forward(x.data(), B, fp.data());
    double L = 0;
    for (int i = 0; i < B; ++i) L += b.g[i] * fp[i];
    return L;
  };
  const double h = 1e-5;
  double worst = 0;
  for (int k = 0; k < B; ++k) {
    xp = b.x;
    xp[k] += h;
    const double up = objective(xp);
    xp[k] -= 2 * h;
    const double down = objective(xp);
    worst = std::max(worst, std::fabs((up - down) / (2 * h) - formula[k]));
  }
  EXPECT_LT(worst / max_abs(formula), 1e-7);
}

TEST(BnBackward, IsAProjectionOrthogonalToOnesAndF) {
  // g_x·std = P⊥ g: orthogonal to 1 and f, and P⊥ applied again changes
  // nothing. Each is a sum of B products of size ≤ max|f|·max|g|: B·ε
  // relative, 1e-12 for B = 200.
  const int B = 200;
  const Batch b = random_batch(B, -3.0, 20.0, 200);
  std::vector<double> f(B), p(B), pp(B);
  const double s = bn_forward(b.x.data(), B, f.data());
  bn_backward(f.data(), s, b.g.data(), B, p.data());
  for (double& a : p) a *= s;  // P⊥ g
  double dot1 = 0, dotf = 0;
  for (int i = 0; i < B; ++i) dot1 += p[i], dotf += p[i] * f[i];
  const double scale = B * max_abs(b.g) * max_abs(f);
  EXPECT_LT(std::fabs(dot1) / scale, 1e-12);
  EXPECT_LT(std::fabs(dotf) / scale, 1e-12);
  bn_backward(f.data(), 1.0, p.data(), B, pp.data());
  for (int i = 0; i < B; ++i) EXPECT_NEAR(pp[i], p[i], 1e-12 * max_abs(b.g)) << i;
  // And it is not the identity: g had components along 1 and f to remove.
  double moved = 0;
  for (int i = 0; i < B; ++i) moved = std::max(moved, std::fabs(p[i] - b.g[i]));
  EXPECT_GT(moved, 1e-3);
}

// A small teacher–student setting: seconds in all on a loaded core.
EnergyConfig small_energy() {
  EnergyConfig c;
  c.input_dim = 8;
  c.teacher_width = 3;
  c.student_width = 8;
  c.depth = 2;
  c.samples = 64;
  c.time = 4;
  c.records = 8;
  c.seed = 3;
  return c;
}

double drift_at_end(const EnergyRun& r) { return r.drift.back(); }

TEST(RowEnergy, DriftWithBnShrinksLinearlyInLrAtEqualTrainingTime) {
  // At fixed t = η·steps the drift with BN is ½η∫‖∇W_j·‖²dt + O(η²): it
  // halves with η. The ratio 2 ± 0.2 allows the O(η) change of the
  // trajectory itself (measured: 1.994 here). Without BN the drift
  // tends to the gradient flow's own non-zero change of E_j, so halving η
  // leaves it nearly unchanged (measured ratio ≈ 1), and it is an order of
  // magnitude above the BN drift. A BN backward with a term missing would
  // leave W_j·∇W_j ≠ 0 and the BN drift first order: no longer halving.
  const EnergyConfig c = small_energy();
  const double lr = 0.04;
  const EnergyRun bn_big = train_student(c, lr, true), bn_small = train_student(c, lr / 2, true);
  const EnergyRun off_big = train_student(c, lr, false), off_small = train_student(c, lr / 2, false);
  for (const EnergyRun* r : {&bn_big, &bn_small, &off_big, &off_small}) ASSERT_TRUE(r->finite);
  EXPECT_EQ(bn_small.steps, 2 * bn_big.steps);
  const double bn_ratio = drift_at_end(bn_big) / drift_at_end(bn_small);
  EXPECT_NEAR(bn_ratio, 2.0, 0.2);
  const double off_ratio = drift_at_end(off_big) / drift_at_end(off_small);
  EXPECT_LT(off_ratio, 1.3);
  EXPECT_GT(off_ratio, 0.7);
  EXPECT_LT(10 * drift_at_end(bn_small), drift_at_end(off_small));
}

TEST(RowEnergy, EachBnStepChangesEnergyByExactlyHalfLrSquaredGradNormSquared) {
  // The cross term −η W_j·∇W_j· vanishes with BN for every batch, so the
  // measured E_j(T) − E_j(0) equals the accumulated ½η²‖∇W_j·‖². Their gap
  // is rounding: O(ε·E_j) per step against a drift of O(η·E_j) in all,
  // ≈ 3e-13 relative measured; 1e-9 leaves room. Without BN the first-order
  // term dominates: the gap is of order 1.
  const EnergyConfig c = small_energy();
  const EnergyRun bn = train_student(c, 0.05, true), off = train_student(c, 0.05, false);
  EXPECT_LT(bn.second_order_gap, 1e-9);
  EXPECT_GT(off.second_order_gap, 0.1);
  // With a minibatch BN sees a different batch each step; the identity
  // holds per batch all the same.
  EnergyConfig mini = c;
  mini.batch = 16;
  EXPECT_LT(train_student(mini, 0.05, true).second_order_gap, 1e-9);
}

TEST(RowEnergy, StudentGradientEqualsFiniteDifferencesOfItsLoss) {
  // The energy law holds for any gradient that reaches BN (P⊥ makes δz ⊥ z
  // whatever δu is), so the rest of the backward is checked on its own.
  // Central differences with h = 1e-5 on a loss of order 1: truncation
  // h²·|L'''| ≈ 1e-10, rounding ε/h ≈ 1e-11, and the chance that ±h moves
  // one of the 1024 pre-activations across its ReLU kink is ≈ 1e-5 per
  // group; measured 8e-11 without BN and 2.4e-9 with. 1e-6 relative sits
  // above these and below a wrong factor or a missing term (a 0.1% error
  // in γ's gradient reads 1e-3, and passes every energy test).
  EnergyConfig c = small_energy();
  for (const bool bn : {false, true}) EXPECT_LT(student_gradient_error(c, bn, 1e-5), 1e-6) << "bn " << bn;
}

TEST(RowEnergy, RunsAreReproducibleAndShareTheirInitialPoint) {
  const EnergyConfig c = small_energy();
  const EnergyRun a = train_student(c, 0.05, true), b = train_student(c, 0.05, true);
  ASSERT_EQ(a.energy.size(), b.energy.size());
  EXPECT_EQ(a.energy.back(), b.energy.back());  // bitwise
  // Every lr, with and without BN, starts from the same weights.
  const EnergyRun other = train_student(c, 0.1, false);
  EXPECT_EQ(a.energy.front(), other.energy.front());
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

TEST(BnCheckCli, WritesEveryOutputWithItsColumns) {
  tst::TempDir dir("ts_bn_cli");
  const std::string out = dir.file("run");
  const tst::CliRun r = tst::run_cli(
      "bn-check --trials 20 --samples 32 --student-width 6 --teacher-width 2 "
      "--input-dim 4 --lrs 0.1,0.05 --time 1 --records 4 --out " +
      out);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(first_line(out + "/projection.csv"),
            "trial,batch,mean,std,max_abs_Jf,max_abs_J1,max_abs_grad_diff,max_abs_jacobian_diff");
  EXPECT_EQ(first_line(out + "/energy.csv"), "lr,bn,layer,row,step,energy,time");
  EXPECT_EQ(first_line(out + "/drift.csv"),
            "lr,bn,steps,time,drift_end,max_drift,initial_energy_max,second_order_gap,initial_loss,final_loss,"
            "diverged");
  for (const char* name : {"summary.json", "drift.png", "drift_vs_lr.png"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + name)) << name;
  // 20 trials; 2 lrs × 2 (BN or not) × 2 layers × 6 rows × 5 records.
  std::ifstream p(out + "/projection.csv"), e(out + "/energy.csv");
  EXPECT_EQ(std::count(std::istreambuf_iterator<char>(p), {}, '\n'), 21);
  EXPECT_EQ(std::count(std::istreambuf_iterator<char>(e), {}, '\n'), 1 + 2 * 2 * 2 * 6 * 5);
}

TEST(BnCheckCli, RefusesBadFlagsInOneLineAndCreatesNothing) {
  tst::TempDir dir("ts_bn_cli_bad");
  const std::string out = dir.file("run");
  for (const std::string flags : {"--lrs 0.1,0", "--batch 1", "--samples 1", "--time 100 --lrs 1e-6"}) {
    const tst::CliRun r = tst::run_cli("bn-check " + flags + " --out " + out);
    EXPECT_EQ(r.status, 2) << flags;
    EXPECT_EQ(tst::lines(r.err), 1) << flags << ": " << r.err;
    EXPECT_EQ(r.err.rfind("taylorscope: error: ", 0), 0u) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << flags;
  }
  // Sizes beyond the memory left are refused up front too (the default run
  // needs ≈ 3 MiB by the estimate; 1 MiB is not enough).
  const tst::CliRun r = tst::run_cli_with_prefix("TAYLORSCOPE_MAX_MEMORY=1M", "bn-check --out " + out);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("needs"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
