// The training backend's mathematics: gradients against finite differences,
// the RFIM blocks against a brute-force Fisher, the Woodbury path against a
// dense inverse, the optimizer updates against hand-computed values, and the
// grad-dot rule of docs/math.md §8 against the eval-loss minimum.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "cpu/lapack.hpp"
#include "cpu/rngd_blocks.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/optimizer_update.hpp"
#include "taylorscope/rfim.hpp"
#include "taylorscope/train_backend.hpp"
#include "taylorscope/training.hpp"
#include "cli_support.hpp"
#include "test_support.hpp"

namespace taylorscope {
namespace {

namespace fs = std::filesystem;

// Loss of the whole train split at a flat θ.
double loss_at(TrainBackend& be, const std::vector<double>& flat, const OptimizerState& state) {
  be.restore(flat, state);
  return be.evaluate(Split::train, nullptr).loss;
}

class GradientVsFiniteDifferences : public ::testing::TestWithParam<std::string> {};

// Central differences with h = 1e-5 have truncation error ~h²·|S'''| ≈ 1e-10
// and rounding ~1e-16/h ≈ 1e-11 on O(1) losses, so 1e-7 of the gradient's
// scale (floor 1e-3) leaves two orders of margin; a wrong term in the
// backward pass is off by O(|g|).
TEST_P(GradientVsFiniteDifferences, FullDataGradientMatchesCentralDifferences) {
  const Dataset data = testing::synthetic_data({5, 4, 6}, 5, 3);
  const Params theta = testing::random_params(data.M, 4, data.E, 0.6, 11);
  OptimizerConfig cfg;
  auto be = make_cpu_train_backend();
  be->upload(data, data);
  be->init(theta, parse_activation(GetParam(), 0.7, 0.1), cfg);
  std::vector<double> grad;
  be->evaluate(Split::train, &grad);
  const std::vector<double> flat = be->flat_params();
  const OptimizerState state = be->optimizer_state();
  double scale = 1e-3;
  for (double g : grad) scale = std::max(scale, std::fabs(g));
  const double h = 1e-5;
  for (size_t k = 0; k < flat.size(); ++k) {
    std::vector<double> plus = flat, minus = flat;
    plus[k] += h;
    minus[k] -= h;
    const double fd = (loss_at(*be, plus, state) - loss_at(*be, minus, state)) / (2 * h);
    EXPECT_NEAR(grad[k], fd, 1e-7 * scale) << GetParam() << " parameter " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, GradientVsFiniteDifferences,
                         ::testing::Values("silu", "relu", "tanh", "sigmoid", "gelu", "softplus",
                                           "elu", "relu_omega"));

// ---- RFIM blocks against a brute-force Fisher information -----------------

struct TinyBatch {
  int64_t B = 7, E = 3, H = 2, M = 3;
  std::vector<double> x, W1, U1;  // x: B×E, W1: H×(E+1) rows (W_i, b_i), U1: M×(H+1) rows (U_α, c_α)
};

TinyBatch tiny_batch() {
  TinyBatch t;
  std::mt19937_64 rng(5);
  for (int64_t i = 0; i < t.B * t.E; ++i) t.x.push_back(testing::gaussian(rng));
  for (int64_t i = 0; i < t.H * (t.E + 1); ++i) t.W1.push_back(0.8 * testing::gaussian(rng));
  for (int64_t i = 0; i < t.M * (t.H + 1); ++i) t.U1.push_back(0.8 * testing::gaussian(rng));
  return t;
}

double pre_activation(const TinyBatch& t, const std::vector<double>& w1, int64_t s) {
  double a = w1[t.E];
  for (int64_t g = 0; g < t.E; ++g) a += w1[g] * t.x[s * t.E + g];
  return a;
}

// Fisher of one neuron's parameters w̃ = (W_i, b_i) as the seed defines it:
// Σ_y p(y) ∇ln p(y) ∇ln p(y)ᵀ, averaged over the batch, with every score by
// central differences of ln p — no ν formula anywhere.
//   tanh:    y ∈ {−1, 1}, p(±1) = (1 ± tanh a)/2
//   sigmoid: y ∈ {0, 1},  p(1) = sigm a
//   others:  y ~ N(μ, 1), μ = σ(a) (relu: the smoothed relu_ω, ι = 0); the
//            expectation over y by 3-point Gauss–Hermite quadrature, exact for
//            the quadratic score products of a Gaussian.
std::vector<double> brute_force_neuron_fisher(const TinyBatch& t, int64_t i, const Activation& act,
                                              double omega) {
  const int64_t n = t.E + 1;
  const std::vector<double> w(t.W1.begin() + i * n, t.W1.begin() + (i + 1) * n);
  std::vector<double> F(n * n, 0.0);
  const double h = 1e-6;
  auto mean_output = [&](double a) {
    if (act.kind == ActivationKind::relu) return omega * softplus_value(a / omega);
    return activation_value(act, a);
  };
  for (int64_t s = 0; s < t.B; ++s) {
    // outcomes y with probabilities p(y) at w, and ln p(y | w') for any w'
    std::vector<double> ys, ps;
    std::function<double(double, double)> log_p;  // (y, a) → ln p(y)
    const double a0 = pre_activation(t, w, s);
    if (act.kind == ActivationKind::tanh) {
      ys = {-1.0, 1.0};
      log_p = [](double y, double a) { return std::log((1 + y * std::tanh(a)) / 2); };
    } else if (act.kind == ActivationKind::sigmoid) {
      ys = {0.0, 1.0};
      log_p = [](double y, double a) {
        const double p1 = sigmoid_value(a);
        return std::log(y > 0.5 ? p1 : 1 - p1);
      };
    } else {
      const double mu = mean_output(a0), r3 = std::sqrt(3.0);
      ys = {mu - r3, mu, mu + r3};
      ps = {1.0 / 6, 2.0 / 3, 1.0 / 6};
      log_p = [&](double y, double a) { return -0.5 * (y - mean_output(a)) * (y - mean_output(a)); };
    }
    if (ps.empty())
      for (double y : ys) ps.push_back(std::exp(log_p(y, a0)));
    for (size_t k = 0; k < ys.size(); ++k) {
      std::vector<double> score(n);
      for (int64_t p = 0; p < n; ++p) {
        std::vector<double> wp = w, wm = w;
        wp[p] += h;
        wm[p] -= h;
        score[p] = (log_p(ys[k], pre_activation(t, wp, s)) - log_p(ys[k], pre_activation(t, wm, s))) / (2 * h);
      }
      for (int64_t p = 0; p < n; ++p)
        for (int64_t q = 0; q < n; ++q) F[p * n + q] += ps[k] * score[p] * score[q] / t.B;
    }
  }
  return F;
}

std::vector<double> hidden_outputs(const TinyBatch& t, const Activation& act) {
  std::vector<double> hs(t.B * t.H);
  for (int64_t s = 0; s < t.B; ++s)
    for (int64_t i = 0; i < t.H; ++i) {
      const std::vector<double> w(t.W1.begin() + i * (t.E + 1), t.W1.begin() + (i + 1) * (t.E + 1));
      hs[s * t.H + i] = activation_value(act, pre_activation(t, w, s));
    }
  return hs;
}

std::vector<double> log_softmax_of(const TinyBatch& t, const std::vector<double>& u1, const double* h) {
  std::vector<double> f(t.M);
  double mx = -INFINITY;
  for (int64_t a = 0; a < t.M; ++a) {
    f[a] = u1[a * (t.H + 1) + t.H];
    for (int64_t j = 0; j < t.H; ++j) f[a] += u1[a * (t.H + 1) + j] * h[j];
    mx = std::max(mx, f[a]);
  }
  double z = 0;
  for (double v : f) z += std::exp(v - mx);
  for (double& v : f) v -= mx + std::log(z);
  return f;
}

cpu::RfimBatch rfim_batch(const TinyBatch& t, const Activation& act, double omega) {
  cpu::RfimBatch bt;
  bt.B = t.B;
  bt.E = t.E;
  bt.H = t.H;
  bt.M = t.M;
  bt.x = t.x;
  bt.h = hidden_outputs(t, act);
  for (int64_t s = 0; s < t.B; ++s)
    for (int64_t i = 0; i < t.H; ++i) {
      const std::vector<double> w(t.W1.begin() + i * (t.E + 1), t.W1.begin() + (i + 1) * (t.E + 1));
      bt.nu.push_back(rfim_neuron_weight(act, pre_activation(t, w, s), omega));
    }
  for (int64_t s = 0; s < t.B; ++s)
    for (double l : log_softmax_of(t, t.U1, &bt.h[s * t.H])) bt.eta.push_back(std::exp(l));
  return bt;
}

class RfimVsBruteForce : public ::testing::TestWithParam<std::string> {};

// Scores by central differences with h = 1e-6 carry ~1e-10 relative error;
// products of O(1) scores stay within 1e-7 of the exact Fisher. A wrong ν
// (e.g. σ' instead of σ'², or a missing bias input) is off by O(1).
TEST_P(RfimVsBruteForce, HiddenNeuronBlocksMatchFisherOfTheNeuronsOutputModel) {
  const Activation act = parse_activation(GetParam(), 0.8, 0.0);
  const double omega = 1.3;  // RNGD's smoothing for relu neurons
  const TinyBatch t = tiny_batch();
  const cpu::RfimBatch bt = rfim_batch(t, act, omega);
  for (int64_t i = 0; i < t.H; ++i) {
    const std::vector<double> got = cpu::rfim_hidden_dense(bt, i);
    const std::vector<double> want = brute_force_neuron_fisher(t, i, act, omega);
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) EXPECT_NEAR(got[k], want[k], 1e-7) << GetParam() << " neuron " << i << " entry " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, RfimVsBruteForce,
                         ::testing::Values("silu", "relu", "tanh", "sigmoid", "softplus", "relu_omega"));

TEST(RfimVsBruteForce, SoftmaxBlockMatchesFisherOfTheCategoricalOutput) {
  const Activation act = parse_activation("tanh");
  const TinyBatch t = tiny_batch();
  const cpu::RfimBatch bt = rfim_batch(t, act, 1.0);
  const int64_t n = t.M * (t.H + 1);
  std::vector<double> F(n * n, 0.0);
  const double h = 1e-6;
  for (int64_t s = 0; s < t.B; ++s) {
    const double* hs = &bt.h[s * t.H];
    const std::vector<double> lp = log_softmax_of(t, t.U1, hs);
    for (int64_t y = 0; y < t.M; ++y) {
      std::vector<double> score(n);
      for (int64_t p = 0; p < n; ++p) {
        std::vector<double> up = t.U1, um = t.U1;
        up[p] += h;
        um[p] -= h;
        score[p] = (log_softmax_of(t, up, hs)[y] - log_softmax_of(t, um, hs)[y]) / (2 * h);
      }
      for (int64_t p = 0; p < n; ++p)
        for (int64_t q = 0; q < n; ++q) F[p * n + q] += std::exp(lp[y]) * score[p] * score[q] / t.B;
    }
  }
  const std::vector<double> got = cpu::rfim_output_dense(bt);
  for (int64_t k = 0; k < n * n; ++k) EXPECT_NEAR(got[k], F[k], 1e-7) << "entry " << k;
}

// ---- Woodbury against a dense inverse --------------------------------------

// (G + λI)^{-1} g by a dense Cholesky of the whole block.
std::vector<double> dense_solve(std::vector<double> G, double lambda, std::vector<double> g) {
  const int64_t n = static_cast<int64_t>(g.size());
  for (int64_t p = 0; p < n; ++p) G[p * n + p] += lambda;
  cpu::cholesky_factor(n, G.data());
  cpu::cholesky_solve(n, 1, G.data(), g.data());
  return g;
}

// Both sides are exact up to rounding of well-conditioned solves (cond ≤
// |G|/λ ≈ 1e3 at λ = 0.005): 1e-9 of the result's scale is ~1e4 ulps.
TEST(Woodbury, HiddenAndOutputPreconditionersEqualDenseInverse) {
  for (double lambda : {0.005, 0.5}) {
    cpu::RfimBatch bt;
    bt.B = 6;
    bt.E = 9;
    bt.H = 5;
    bt.M = 4;
    std::mt19937_64 rng(41);
    for (int64_t k = 0; k < bt.B * bt.E; ++k) bt.x.push_back(testing::gaussian(rng));
    for (int64_t k = 0; k < bt.B * bt.H; ++k) bt.h.push_back(std::tanh(testing::gaussian(rng)));
    for (int64_t k = 0; k < bt.B * bt.H; ++k) bt.nu.push_back(std::exp(testing::gaussian(rng)) / 3);
    for (int64_t s = 0; s < bt.B; ++s) {
      std::vector<double> e(bt.M);
      double z = 0;
      for (double& v : e) z += v = std::exp(testing::gaussian(rng));
      for (double v : e) bt.eta.push_back(v / z);
    }
    cpu::RngdPreconditioner pre;
    pre.refresh(bt, lambda);

    std::vector<double> wb(bt.H * (bt.E + 1)), uc(bt.M * (bt.H + 1));
    for (double& v : wb) v = testing::gaussian(rng);
    for (double& v : uc) v = testing::gaussian(rng);
    // The preconditioner works in θ's layout: W (H×E) and b apart, U (M×H) and c apart.
    std::vector<double> W(bt.H * bt.E), b(bt.H), U(bt.M * bt.H), c(bt.M);
    for (int64_t i = 0; i < bt.H; ++i) {
      for (int64_t g = 0; g < bt.E; ++g) W[i * bt.E + g] = wb[i * (bt.E + 1) + g];
      b[i] = wb[i * (bt.E + 1) + bt.E];
    }
    for (int64_t a = 0; a < bt.M; ++a) {
      for (int64_t j = 0; j < bt.H; ++j) U[a * bt.H + j] = uc[a * (bt.H + 1) + j];
      c[a] = uc[a * (bt.H + 1) + bt.H];
    }
    pre.apply_hidden(W.data(), b.data());
    pre.apply_output(U.data(), c.data());
    std::vector<double> wb_got(wb.size()), uc_got(uc.size());
    for (int64_t i = 0; i < bt.H; ++i) {
      for (int64_t g = 0; g < bt.E; ++g) wb_got[i * (bt.E + 1) + g] = W[i * bt.E + g];
      wb_got[i * (bt.E + 1) + bt.E] = b[i];
    }
    for (int64_t a = 0; a < bt.M; ++a) {
      for (int64_t j = 0; j < bt.H; ++j) uc_got[a * (bt.H + 1) + j] = U[a * bt.H + j];
      uc_got[a * (bt.H + 1) + bt.H] = c[a];
    }

    const int64_t n = bt.E + 1;
    for (int64_t i = 0; i < bt.H; ++i) {
      const std::vector<double> want =
          dense_solve(cpu::rfim_hidden_dense(bt, i), lambda, {wb.begin() + i * n, wb.begin() + (i + 1) * n});
      double scale = 0;
      for (double v : want) scale = std::max(scale, std::fabs(v));
      for (int64_t k = 0; k < n; ++k)
        EXPECT_NEAR(wb_got[i * n + k], want[k], 1e-9 * scale) << "λ " << lambda << " neuron " << i;
    }
    const std::vector<double> want = dense_solve(cpu::rfim_output_dense(bt), lambda, uc);
    double scale = 0;
    for (double v : want) scale = std::max(scale, std::fabs(v));
    for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(uc_got[k], want[k], 1e-9 * scale) << "λ " << lambda;
  }
}

// The hidden blocks are stored as panels of four rows, four neurons to a
// vector, and inverted four at a time (rngd_blocks.hpp): every count of
// rows left in the last panel (B mod 4) and of neurons in the last group
// (H mod 4), and B = 1 and B = 50 (the default batch), against the dense
// solve. Tolerance as above: both are Cholesky-based solves of a system with
// cond ≲ |G|/λ ≈ 1e3, ~1e-13 apart; a misplaced entry or lane is off by
// O(1) of the result.
TEST(Woodbury, HiddenBlocksHoldForEveryPanelAndGroupRemainder) {
  const double lambda = 0.05;
  for (int64_t B : {1, 2, 3, 4, 5, 7, 50})
    for (int64_t H : {1, 2, 3, 4, 6, 9}) {
      cpu::RfimBatch bt;
      bt.B = B;
      bt.E = 5;
      bt.H = H;
      bt.M = 2;
      std::mt19937_64 rng(static_cast<uint64_t>(100 * B + H));
      for (int64_t k = 0; k < B * bt.E; ++k) bt.x.push_back(testing::gaussian(rng));
      for (int64_t k = 0; k < B * H; ++k) bt.h.push_back(std::tanh(testing::gaussian(rng)));
      for (int64_t k = 0; k < B * H; ++k) bt.nu.push_back(std::exp(testing::gaussian(rng)) / 3);
      for (int64_t s = 0; s < B; ++s) {
        const double e = 1 / (1 + std::exp(testing::gaussian(rng)));
        bt.eta.push_back(e);
        bt.eta.push_back(1 - e);
      }
      cpu::RngdPreconditioner pre;
      pre.refresh(bt, lambda);
      const int64_t n = bt.E + 1;
      std::vector<double> W(H * bt.E), b(H);
      for (double& v : W) v = testing::gaussian(rng);
      for (double& v : b) v = testing::gaussian(rng);
      std::vector<std::vector<double>> want(H);
      for (int64_t i = 0; i < H; ++i) {
        std::vector<double> g(W.begin() + i * bt.E, W.begin() + (i + 1) * bt.E);
        g.push_back(b[i]);
        want[i] = dense_solve(cpu::rfim_hidden_dense(bt, i), lambda, g);
      }
      pre.apply_hidden(W.data(), b.data());
      for (int64_t i = 0; i < H; ++i) {
        double scale = 0;
        for (double v : want[i]) scale = std::max(scale, std::fabs(v));
        for (int64_t k = 0; k < n; ++k)
          EXPECT_NEAR(k < bt.E ? W[i * bt.E + k] : b[i], want[i][k], 1e-9 * scale)
              << "B " << B << " H " << H << " neuron " << i;
      }
    }
}

// The CPU backend's RNGD step keeps W as W_e + C·X_ref and P = W X_refᵀ
// current instead of forming ∇W (docs/rngd.md). Each step must still be
// θ ← θ − α (G + λI)^{-1}(∇L + l2·(U, W)) with the blocks of the last
// refresh: here the reference takes the backend's θ before the step, the
// batch's gradient by a plain evaluation, and the general Woodbury path
// (apply_hidden / apply_output) on blocks rebuilt from the backend's own
// checkpoint arrays. Steps cross two refreshes (period 3; the second on a
// 3-row batch, so B changes) and an evaluation, which folds W_e + C·X_ref.
// Both sides compute the same update in other orders: per step they differ
// by rounding amplified by at most cond(S_i) ≲ |G|/λ ≈ 1e2 here, so 1e-10 of
// the update's scale leaves ~1e4 ulps; a wrong term (a missing l2·P, a stale
// P or C) moves the update by O(l2) ≥ 1e-3 of it.
void check_backend_rngd_steps(double l2) {
  const Dataset data = testing::synthetic_data({5, 4, 6}, 7, 11);
  const Params theta0 = testing::random_params(data.M, 6, data.E, 0.5, 3);
  const ParamLayout L = layout_of(theta0);
  OptimizerConfig cfg;
  cfg.kind = OptimizerKind::rngd;
  cfg.lr = 0.02;
  cfg.l2 = l2;
  cfg.rngd_period = 3;
  cfg.rngd_damping = 0.05;
  const Activation act = parse_activation("silu");
  auto rngd = make_cpu_train_backend();
  rngd->upload(data, data);
  rngd->init(theta0, act, cfg);
  const std::vector<std::vector<int64_t>> batches = {{0, 3, 7, 9},  {1, 4, 12, 14}, {2, 5, 8, 13},
                                                     {6, 10, 11},   {0, 2, 4, 6},   {1, 3, 5, 7},
                                                     {8, 9, 10, 11}};
  OptimizerConfig plain = cfg;
  plain.kind = OptimizerKind::sgd;
  cpu::RngdPreconditioner pre;
  for (size_t k = 0; k < batches.size(); ++k) {
    const std::vector<int64_t>& batch = batches[k];
    const std::vector<double> before = rngd->flat_params();
    rngd->step(batch);
    const std::vector<double> after = rngd->flat_params();

    Dataset sub = data;  // the batch as a split: its evaluation is the batch's mean gradient
    sub.N = static_cast<int64_t>(batch.size());
    sub.Z.clear();
    sub.labels.clear();
    for (int64_t r : batch) {
      sub.Z.insert(sub.Z.end(), data.row(r), data.row(r) + data.E);
      sub.labels.push_back(data.labels[r]);
    }
    auto ref = make_cpu_train_backend();
    ref->upload(sub, sub);
    ref->init(theta0, act, plain);
    ref->restore(before, OptimizerState{});
    std::vector<double> g;
    ref->evaluate(Split::train, &g);
    for (int64_t j = L.U(); j < L.b(); ++j) g[j] += cfg.l2 * before[j];
    if (k % 3 == 0) {  // a refresh step: the blocks of this batch at θ before the step
      const OptimizerState st = rngd->optimizer_state();
      cpu::RfimBatch bt;
      bt.B = static_cast<int64_t>(batch.size());
      bt.E = L.E;
      bt.H = L.H;
      bt.M = L.M;
      for (double r : *st.find("rngd_rows")) {
        const int64_t row = static_cast<int64_t>(r);
        bt.x.insert(bt.x.end(), data.row(row), data.row(row) + data.E);
      }
      bt.nu = *st.find("rngd_nu");
      bt.h = *st.find("rngd_h");
      bt.eta = *st.find("rngd_eta");
      pre.refresh(bt, cfg.rngd_damping);
    }
    pre.apply_hidden(&g[L.W()], &g[L.b()]);
    pre.apply_output(&g[L.U()], &g[L.c()]);
    double scale = 0;
    for (double v : g) scale = std::max(scale, cfg.lr * std::fabs(v));
    ASSERT_GT(scale, 0.0);
    for (size_t j = 0; j < g.size(); ++j)
      ASSERT_NEAR(after[j] - before[j], -cfg.lr * g[j], 1e-10 * scale) << "step " << k << " parameter " << j;

    if (k == 4) {  // an evaluation folds C·X_ref into W and recomputes P: θ stays
      rngd->evaluate(Split::eval, nullptr);
      const std::vector<double> folded = rngd->flat_params();
      for (size_t j = 0; j < folded.size(); ++j) EXPECT_NEAR(folded[j], after[j], 1e-14) << j;
    }
  }
}

TEST(RngdStep, BackendStepEqualsThePreconditionedGradientStep) { check_backend_rngd_steps(0.01); }

// Without L2 the step never reads P (it enters only as l2·P), so neither P's
// update nor P and K_ref at a refresh are formed: the steps must still be
// the preconditioned ones.
TEST(RngdStep, WithoutL2TheStepsSkipPAndStayThePreconditionedOnes) { check_backend_rngd_steps(0.0); }

// ---- optimizer updates -----------------------------------------------------

TEST(OptimizerUpdates, MomentumStepIsSeed002Form) {
  // W⁽ⁿ⁺¹⁾ = W⁽ⁿ⁾ − V⁽ⁿ⁾ = 1 − 0.5;  V⁽ⁿ⁺¹⁾ = α g + β V⁽ⁿ⁾ = 0.1·2 + 0.9·0.5.
  double w = 1.0, v = 0.5;
  momentum_update(w, v, 2.0, 0.1, 0.9);
  EXPECT_DOUBLE_EQ(w, 0.5);
  EXPECT_DOUBLE_EQ(v, 0.65);
}

TEST(OptimizerUpdates, AdamFirstAndSecondStepMatchHandComputation) {
  // t = 1, g = 2: m = 0.2, v = 0.004, m̂ = 2, v̂ = 4, step = 0.1·2/(2 + 1e-8).
  double w = 1.0, m = 0.0, v = 0.0;
  adam_update(w, m, v, 2.0, 0.1, 0.9, 0.999, 1e-8, 1 - 0.9, 1 - 0.999);
  EXPECT_DOUBLE_EQ(m, 0.2);
  EXPECT_DOUBLE_EQ(v, 0.004);
  EXPECT_NEAR(w, 1.0 - 0.2 / (2.0 + 1e-8), 1e-15);
  // t = 2, g = −1: m = 0.18 − 0.1 = 0.08, v = 0.003996 + 0.001 = 0.004996,
  // m̂ = 0.08/0.19, v̂ = 0.004996/0.001999.
  const double w1 = w;
  adam_update(w, m, v, -1.0, 0.1, 0.9, 0.999, 1e-8, 1 - 0.81, 1 - 0.999 * 0.999);
  EXPECT_NEAR(m, 0.08, 1e-15);
  EXPECT_NEAR(v, 0.004996, 1e-15);
  EXPECT_NEAR(w, w1 - 0.1 * (0.08 / 0.19) / (std::sqrt(0.004996 / 0.001999) + 1e-8), 1e-14);
}

// Through the backend: momentum's first step does not move θ and its second
// moves it by −α∇L(θ₀); SGD's moves it by −α∇L(θ₀); Adam's first step is
// α·g/(|g| + ε) per parameter.
TEST(OptimizerUpdates, BackendStepsMatchHandComputedMomentumSgdAndAdam) {
  const Dataset data = testing::synthetic_data({4, 3, 5}, 6, 8);
  const Params theta = testing::random_params(data.M, 5, data.E, 0.5, 2);
  const std::vector<int64_t> batch = {0, 3, 4, 7, 9};
  // ∇L on that batch at θ₀, L2 included: the gradient of a one-batch "split".
  Dataset sub = data;
  sub.N = static_cast<int64_t>(batch.size());
  sub.Z.clear();
  sub.labels.clear();
  for (int64_t r : batch) {
    sub.Z.insert(sub.Z.end(), data.row(r), data.row(r) + data.E);
    sub.labels.push_back(data.labels[r]);
  }
  OptimizerConfig cfg;
  cfg.lr = 0.05;
  cfg.l2 = 0.01;
  auto ref = make_cpu_train_backend();
  ref->upload(sub, sub);
  ref->init(theta, parse_activation("tanh"), cfg);
  std::vector<double> g;
  ref->evaluate(Split::train, &g);
  const std::vector<double> t0 = ref->flat_params();
  const ParamLayout L = layout_of(theta);
  for (int64_t k = L.U(); k < L.b(); ++k) g[k] += cfg.l2 * t0[k];

  cfg.kind = OptimizerKind::momentum;
  auto mom = make_cpu_train_backend();
  mom->upload(data, data);
  mom->init(theta, parse_activation("tanh"), cfg);
  mom->step(batch);
  EXPECT_EQ(mom->flat_params(), t0);
  mom->step(batch);  // θ₁ = θ₀, so the gradient of this step is g again
  const std::vector<double> t2 = mom->flat_params();
  for (size_t k = 0; k < t0.size(); ++k) EXPECT_NEAR(t2[k], t0[k] - cfg.lr * g[k], 1e-15) << k;

  // SGD's step keeps W as γV (the L2 decay in a scalar) and adds −(α/γ)∇W
  // into V with one GEMM: W = (1 − α·l2)W − α·dAᵀX, the hand step up to
  // the rounding of θ's entries (Gaussians × 0.5: 1e-14 is tens of ulps; a
  // lost or doubled L2 term moves W by α·l2·|W| ≥ 1e-4·|W|). An evaluation
  // folds γ into W without moving θ.
  cfg.kind = OptimizerKind::sgd;
  auto sgd = make_cpu_train_backend();
  sgd->upload(data, data);
  sgd->init(theta, parse_activation("tanh"), cfg);
  sgd->step(batch);
  const std::vector<double> s1 = sgd->flat_params();
  for (size_t k = 0; k < t0.size(); ++k) EXPECT_NEAR(s1[k], t0[k] - cfg.lr * g[k], 1e-14) << k;
  sgd->evaluate(Split::eval, nullptr);
  const std::vector<double> s1_folded = sgd->flat_params();
  for (size_t k = 0; k < t0.size(); ++k) EXPECT_NEAR(s1_folded[k], s1[k], 1e-15) << k;

  cfg.kind = OptimizerKind::adam;
  auto adam = make_cpu_train_backend();
  adam->upload(data, data);
  adam->init(theta, parse_activation("tanh"), cfg);
  adam->step(batch);
  const std::vector<double> a1 = adam->flat_params();
  for (size_t k = 0; k < t0.size(); ++k)
    EXPECT_NEAR(a1[k], t0[k] - cfg.lr * g[k] / (std::fabs(g[k]) + cfg.eps), 1e-14) << k;
}

// ---- the grad-dot stopping rule (docs/math.md §8) --------------------------------

// A run that overfits within a few hundred epochs: full-batch gradient
// descent with a small step on 100 Fashion-MNIST training images, measured
// on 100 test images (eval-loss minimum at epoch 308, sign change at 309).
struct OverfittingRun {
  Dataset tr, ev;
  TrainConfig c;
  OverfittingRun() {
    DataOptions o;
    o.limit = 10;
    tr = load_dataset("fashion-mnist:train", o);
    ev = load_dataset("fashion-mnist:test", o);
    c.hidden = 32;
    c.act = parse_activation("silu");
    c.opt.lr = 0.05;
    c.batch = tr.N;  // full batch: one step per epoch
  }
};

// Full-batch gradient descent with a small step follows the gradient flow,
// under which dS_E/dt = −⟨∇L_T, ∇S_E⟩: the eval loss is smallest where the
// inner product turns negative.
TEST(GradDot, SignChangeFallsWithinOneEpochOfEvalLossMinimum) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  OverfittingRun run;
  TrainConfig& c = run.c;
  c.epochs = 340;
  const fs::path out = fs::temp_directory_path() / ("ts_graddot_" + std::to_string(::getpid()));
  auto be = make_cpu_train_backend();
  const TrainResult r = train(run.tr, run.ev, c, *be, out.string(), false, NpyPrecision::f64, {});
  fs::remove_all(out);
  ASSERT_GE(r.stop.by_grad_dot, 0) << "grad-dot never turned negative";
  ASSERT_LT(r.stop.by_eval_loss, c.epochs) << "no eval-loss minimum inside the run";
  EXPECT_LE(std::abs(r.stop.by_grad_dot - r.stop.by_eval_loss), 1)
      << "grad-dot " << r.stop.by_grad_dot << ", eval-loss " << r.stop.by_eval_loss;
}

// The same run under each early-stopping rule: grad-dot stops at its sign
// change and keeps that epoch's θ; eval-loss runs `patience` epochs past its
// minimum and keeps the minimum's θ, not the last.
TEST(GradDot, EarlyStoppingRulesStopAndKeepTheChosenEpoch) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  OverfittingRun run;
  TrainConfig& c = run.c;
  c.epochs = 400;
  c.patience = 4;
  for (EarlyStop rule : {EarlyStop::grad_dot, EarlyStop::eval_loss}) {
    c.early_stop = rule;
    const fs::path out = fs::temp_directory_path() / ("ts_early_" + std::to_string(::getpid()));
    auto be = make_cpu_train_backend();
    const TrainResult r = train(run.tr, run.ev, c, *be, out.string(), false, NpyPrecision::f64, {});
    const Params best = load_params((out / "best").string()), last = load_params(out.string());
    fs::remove_all(out);
    ASSERT_TRUE(r.stopped_early) << early_stop_name(rule);
    const int last_epoch = r.records.back().epoch;
    if (rule == EarlyStop::grad_dot) {
      EXPECT_EQ(last_epoch, r.stop.by_grad_dot);
      EXPECT_EQ(r.chosen_epoch, r.stop.by_grad_dot);
      EXPECT_EQ(best.W, last.W);
    } else {
      EXPECT_EQ(last_epoch, r.stop.by_eval_loss + c.patience);
      EXPECT_EQ(r.chosen_epoch, r.stop.by_eval_loss);
      EXPECT_NE(best.W, last.W);
    }
  }
}

TEST(GradDot, StopEpochsFollowTheirDefinitions) {
  std::vector<EpochRecord> recs(6);
  const double loss[] = {2.0, 1.5, 1.2, 1.3, 1.1, 1.4};
  const double dot[] = {-0.5, 0.4, 0.1, -0.2, 0.3, -0.1};  // epoch 0 negative: not a + → − change
  for (int e = 0; e < 6; ++e) {
    recs[e].epoch = e;
    recs[e].eval_loss = loss[e];
    recs[e].grad_dot = dot[e];
  }
  const StopEpochs s = stop_epochs(recs);
  EXPECT_EQ(s.by_grad_dot, 3);
  EXPECT_EQ(s.by_eval_loss, 4);
}

TEST(Shuffle, EpochOrderIsAPermutationFixedBySeedAndEpoch) {
  const std::vector<int64_t> a = epoch_order(1000, 7, 3), b = epoch_order(1000, 7, 3);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, epoch_order(1000, 7, 4));
  EXPECT_NE(a, epoch_order(1000, 8, 3));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
}

TEST(OptimizerConfig, NonPositiveRatesAndUnknownNamesAreInputErrors) {
  OptimizerConfig c;
  c.lr = 0;
  EXPECT_THROW(check_optimizer_config(c), InputError);
  c.lr = 0.1;
  c.momentum = 1.0;
  EXPECT_THROW(check_optimizer_config(c), InputError);
  EXPECT_THROW(parse_optimizer("lbfgs"), InputError);
  EXPECT_THROW(parse_early_stop("never"), InputError);
}

// A checkpoint's RNGD rows are read the same way by every backend's
// restore: whole numbers inside the train set, or one InputError.
TEST(RngdCheckpointRows, WholeRowsOfTheTrainSetOrAnInputError) {
  EXPECT_EQ(rngd_checkpoint_rows({0.0, 4.0, 96.0}, 97), (std::vector<int64_t>{0, 4, 96}));
  for (const std::vector<double>& bad :
       {std::vector<double>{}, {3.5}, {-1.0}, {97.0}, {std::nan("")}, {1.0, HUGE_VAL}}) {
    try {
      rngd_checkpoint_rows(bad, 97);
      ADD_FAILURE() << "accepted rows of " << bad.size();
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace taylorscope
