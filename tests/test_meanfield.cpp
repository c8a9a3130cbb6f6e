// `taylorscope meanfield` (MATH.md §11): the Gauss–Hermite rule, the maps
// against ReLU's closed forms and an independent adaptive rule for tanh, the
// phases, the random network against the theory, the CLI's files and
// errors, and the GPU network against the CPU's (skipped without a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_support.hpp"
#include "temp_dir.hpp"
#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/meanfield.hpp"

namespace taylorscope {
namespace {

using testing::run_cli;
using testing::TempDir;

// ∫ z^k Dz: 0 for odd k, (k − 1)!! for even k.
double gaussian_moment(int k) {
  if (k % 2) return 0.0;
  double m = 1.0;
  for (int j = k - 1; j > 0; j -= 2) m *= j;
  return m;
}

TEST(MeanFieldQuadrature, ExactOnPolynomialsUpToDegree2nMinus1) {
  for (int n : {2, 7, 20, 64}) {
    const GaussHermite r = gauss_hermite(n);
    ASSERT_EQ(r.nodes.size(), static_cast<size_t>(n));
    // Degrees up to 2n − 1 (capped at 60, where (k−1)!! ≈ 3e40 already):
    // all terms of an even moment are positive, so the sum is good to a few
    // ulps per term; 1e-12 leaves 10^4 ulps for the 60-term sums.
    for (int k = 0; k <= std::min(2 * n - 1, 60); ++k) {
      double s = 0.0;
      for (int i = 0; i < n; ++i) s += r.weights[i] * std::pow(r.nodes[i], k);
      if (k % 2)
        EXPECT_NEAR(s, 0.0, 1e-12 * gaussian_moment(k + 1)) << "n " << n << " k " << k;
      else
        EXPECT_NEAR(s, gaussian_moment(k), 1e-12 * gaussian_moment(k)) << "n " << n << " k " << k;
    }
    // And no more: degree 2n is where a Gauss rule of n points stops being exact.
    if (2 * n <= 60) {
      double s = 0.0;
      for (int i = 0; i < n; ++i) s += r.weights[i] * std::pow(r.nodes[i], 2 * n);
      EXPECT_GT(std::fabs(s - gaussian_moment(2 * n)), 1e-6 * gaussian_moment(2 * n)) << "n " << n;
    }
  }
  EXPECT_THROW(gauss_hermite(1), InputError);
  EXPECT_THROW(gauss_hermite(kMaxQuadraturePoints + 1), InputError);
}

MeanFieldPoint point(const char* act, double w2, double b2, int n = 128) {
  MeanFieldConfig c;
  c.act = parse_activation(act);
  c.sigma_w2 = w2;
  c.sigma_b2 = b2;
  c.quadrature_points = n;
  return meanfield_point(c);
}

TEST(MeanFieldTheory, ReluMatchesItsClosedForms) {
  for (double w2 : {0.5, 1.0, 1.5, 1.9}) {
    for (double b2 : {0.01, 0.05, 0.3}) {
      const MeanFieldPoint p = point("relu", w2, b2);
      // The even-n rule has no node at the kink and is symmetric, so ReLU's
      // 1-D integrals (half of z² and of 1) are exact up to rounding; the
      // fixed point's solver stops at a few ulps of q*.
      EXPECT_NEAR(p.q_star, b2 / (1 - w2 / 2), 1e-13 * p.q_star) << w2 << " " << b2;
      EXPECT_NEAR(p.chi1, w2 / 2, 1e-14) << w2 << " " << b2;
      EXPECT_NEAR(p.q_slope, w2 / 2, 1e-14);
      EXPECT_EQ(p.c_star, 1.0);  // χ1 < 1: ordered
      EXPECT_NEAR(p.xi_c, -1 / std::log(w2 / 2), 1e-12 * p.xi_c);
    }
  }
  // σ_w² ≥ 2 with σ_b² > 0: V(q) = σ_w² q / 2 + σ_b² > q for every q.
  const MeanFieldPoint d = point("relu", 2.5, 0.05);
  EXPECT_EQ(d.phase, "divergent");
  EXPECT_TRUE(std::isnan(d.q_star) && std::isnan(d.chi1) && std::isnan(d.xi_c));
  ASSERT_FALSE(d.warnings.empty());
  EXPECT_NE(d.warnings.front().find("without bound"), std::string::npos);
}

TEST(MeanFieldTheory, ReluPairMapApproachesTheArcCosineKernel) {
  // E[relu(u1) relu(u2)] = q (√(1−c²) + (π − arccos c) c) / 2π. The tensor
  // rule meets ReLU's kink along a line, so it converges algebraically:
  // measured 2.1e-3 at 64 points and 1.0e-3 at 128 (docs/meanfield.md);
  // 1.5e-3 catches a wrong map (its errors are O(c)) and the halving.
  const MeanFieldMaps maps{parse_activation("relu"), 1.0, 0.0, gauss_hermite(128)};
  for (double c : {-0.5, 0.0, 0.3, 0.7, 0.95}) {
    const double exact = (std::sqrt(1 - c * c) + (M_PI - std::acos(c)) * c) / (2 * M_PI);
    EXPECT_NEAR(maps.pair(1.0, c).cov, exact, 1.5e-3) << c;
  }
}

// Adaptive Simpson on [a, b] to an absolute tolerance: an independent rule
// for the Gaussian integrals of tanh.
double simpson(const std::function<double(double)>& f, double a, double b, double fa, double fm, double fb,
               double whole, double tol, int depth) {
  const double m = 0.5 * (a + b), lm = 0.5 * (a + m), rm = 0.5 * (m + b);
  const double flm = f(lm), frm = f(rm);
  const double left = (m - a) / 6 * (fa + 4 * flm + fm), right = (b - m) / 6 * (fm + 4 * frm + fb);
  if (depth <= 0 || std::fabs(left + right - whole) <= 15 * tol) return left + right + (left + right - whole) / 15;
  return simpson(f, a, m, fa, flm, fm, left, tol / 2, depth - 1) + simpson(f, m, b, fm, frm, fb, right, tol / 2, depth - 1);
}
double gaussian_integral(const std::function<double(double)>& g) {
  // Dz beyond |z| = 12 holds 4e-33 of the mass; g is bounded by 1 here.
  auto f = [&](double z) { return g(z) * std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI); };
  const double a = -12, b = 12, fa = f(a), fb = f(b), fm = f(0);
  return simpson(f, a, b, fa, fm, fb, (b - a) / 6 * (fa + 4 * fm + fb), 1e-15, 40);
}

TEST(MeanFieldTheory, TanhMatchesAnIndependentAdaptiveRule) {
  for (auto [w2, b2] : {std::pair{1.5, 0.05}, std::pair{2.5, 0.05}, std::pair{0.8, 0.3}}) {
    // q* by plain iteration of the adaptive q-map (its slope ≤ 0.6 here, so
    // 200 iterations are far past convergence).
    double q = 1.0;
    for (int it = 0; it < 200; ++it)
      q = w2 * gaussian_integral([&](double z) { return std::pow(std::tanh(std::sqrt(q) * z), 2); }) + b2;
    const double chi1 =
        w2 * gaussian_integral([&](double z) { return std::pow(1 - std::pow(std::tanh(std::sqrt(q) * z), 2), 2); });
    const MeanFieldPoint p = point("tanh", w2, b2);
    // At these q* (≤ 1.1) the 128-point rule is converged to ≤ 1e-10
    // relative (against 256 points, docs/meanfield.md) and Simpson to its
    // 1e-15 tolerance; 1e-9 is their sum with room.
    EXPECT_NEAR(p.q_star, q, 1e-9 * q) << w2 << " " << b2;
    EXPECT_NEAR(p.chi1, chi1, 1e-9 * chi1) << w2 << " " << b2;
  }
}

TEST(MeanFieldTheory, TanhPhases) {
  const MeanFieldPoint ordered = point("tanh", 1.5, 0.05);
  EXPECT_EQ(ordered.phase, "ordered");
  EXPECT_LT(ordered.chi1, 1.0);
  EXPECT_EQ(ordered.c_star, 1.0);
  EXPECT_EQ(ordered.chi_c, ordered.chi1);
  const MeanFieldPoint chaotic = point("tanh", 2.5, 0.05);
  EXPECT_EQ(chaotic.phase, "chaotic");
  EXPECT_GT(chaotic.chi1, 1.0);
  EXPECT_GT(chaotic.c_star, 0.0);
  EXPECT_LT(chaotic.c_star, 0.99);
  // c* is a fixed point of the c-map and attracts: χ_c(c*) < 1.
  const MeanFieldMaps maps{parse_activation("tanh"), 2.5, 0.05, gauss_hermite(128)};
  EXPECT_NEAR(maps.pair(chaotic.q_star, chaotic.c_star).cov / chaotic.q_star, chaotic.c_star, 1e-13);
  EXPECT_LT(chaotic.chi_c, 1.0);
  EXPECT_GT(chaotic.xi_c, 0.0);
  // Odd φ without bias: c* = 0 exactly (the map sends 0 to 0).
  EXPECT_EQ(point("tanh", 3.0, 0.0).c_star, 0.0);
  // q* = 0 below σ_w² = 1 without bias: c* does not exist.
  const MeanFieldPoint zero = point("tanh", 0.5, 0.0);
  EXPECT_EQ(zero.q_star, 0.0);
  EXPECT_TRUE(std::isnan(zero.c_star));
  EXPECT_NEAR(zero.chi1, 0.5, 1e-12);  // the limit q → 0: σ_w² φ′(0)²
}

TEST(MeanFieldTheory, EveryActivationGivesAFixedPoint) {
  for (const char* act : {"silu", "relu", "tanh", "sigmoid", "gelu", "softplus", "elu", "relu_omega"}) {
    const MeanFieldPoint p = point(act, 1.2, 0.1);
    ASSERT_TRUE(std::isfinite(p.q_star)) << act;
    MeanFieldMaps maps{parse_activation(act), 1.2, 0.1, gauss_hermite(128)};
    EXPECT_NEAR(maps.q_map(p.q_star), p.q_star, 1e-12 * p.q_star) << act;
    EXPECT_TRUE(std::isfinite(p.chi1)) << act;
  }
}

TEST(MeanFieldGridTest, TanhBoundaryIsWhereChi1IsOne) {
  MeanFieldConfig base;
  base.act = parse_activation("tanh");
  const MeanFieldGrid g = meanfield_grid(base, {1.0, 1.5, 2.0, 2.5}, {0.05, 0.2});
  ASSERT_EQ(g.points.size(), 8u);
  ASSERT_EQ(g.boundary.size(), 2u);
  for (const BoundaryPoint& b : g.boundary) {
    ASSERT_TRUE(std::isfinite(b.sigma_w2));
    // The bisection stops at 1e-12 of σ_w²; χ1's slope in σ_w² is O(1).
    EXPECT_NEAR(point("tanh", b.sigma_w2, b.sigma_b2).chi1, 1.0, 1e-10) << b.sigma_b2;
  }
  EXPECT_LT(g.boundary[0].sigma_w2, g.boundary[1].sigma_w2);  // more bias needs more weight to reach chaos
}

SimulateConfig small_network(int device) {
  SimulateConfig s;
  s.theory.act = parse_activation("tanh");
  s.theory.sigma_w2 = 2.5;
  s.theory.sigma_b2 = 0.05;
  s.depth = 8;
  s.width = 256;
  s.pairs = 8;
  s.c0 = 0.9;
  s.seed = 7;
  s.device = device;
  return s;
}

TEST(MeanFieldSimulate, AgreesWithTheoryWithinItsStatedError) {
  const SimulateResult r = meanfield_simulate(small_network(-1));
  ASSERT_EQ(r.layers.size(), 9u);
  EXPECT_NEAR(r.layers[0].q_measured, 1.0, 1e-14);  // the inputs are built at q0, c0 exactly
  EXPECT_NEAR(r.layers[0].c_measured, 0.9, 1e-14);
  for (const SimulateLayer& l : r.layers) {
    if (l.layer == 0) continue;
    // The mean over inputs deviates from the theory by at most one input's
    // predicted sd (≈ 0.1 at N = 256) in standard deviation; 4 of them
    // is a 1-in-15000 event for a Gaussian deviation.
    EXPECT_LT(std::fabs(l.q_measured - l.q_theory), 4 * l.q_sd_expected) << l.layer;
    // The predicted sd is O(1/√N): within a factor 2 of the observed spread
    // of 16 inputs (its own sampling error is ~18%, the inputs correlated).
    EXPECT_LT(l.q_sd_observed, 2 * l.q_sd_expected) << l.layer;
    EXPECT_GT(l.q_sd_observed, 0.5 * l.q_sd_expected) << l.layer;
    EXPECT_LT(std::fabs(l.c_measured - l.c_theory), 4 * l.c_sd_observed) << l.layer;
  }
}

TEST(MeanFieldSimulate, ReplaysAndDeeperNetworksKeepTheirFirstLayers) {
  SimulateConfig s = small_network(-1);
  s.depth = 3;
  const SimulateResult a = meanfield_simulate(s), b = meanfield_simulate(s);
  s.depth = 5;
  const SimulateResult c = meanfield_simulate(s);
  for (int l = 0; l <= 3; ++l) {
    EXPECT_EQ(a.layers[l].q_measured, b.layers[l].q_measured);
    EXPECT_EQ(a.layers[l].c_measured, b.layers[l].c_measured);
    EXPECT_EQ(a.layers[l].q_measured, c.layers[l].q_measured);
  }
  s.seed = 8;
  EXPECT_NE(meanfield_simulate(s).layers[1].q_measured, a.layers[1].q_measured);
}

TEST(MeanFieldSimulate, RefusesBadSizes) {
  SimulateConfig s = small_network(-1);
  s.pairs = 1;
  EXPECT_THROW(meanfield_simulate(s), InputError);
  s = small_network(-1);
  s.c0 = 1.0;
  EXPECT_THROW(meanfield_simulate(s), InputError);
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(MeanFieldCli, ReportHasTheInterfaceKeys) {
  TempDir dir("ts_meanfield_cli");
  const auto r = run_cli("meanfield --activation tanh --sigma-w2 2.5 --sigma-b2 0.05 --report " + dir.file("p.json"));
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(read(dir.file("p.json")));
  for (const char* key :
       {"activation", "sigma_w2", "sigma_b2", "q_star", "chi1", "c_star", "xi_q", "xi_c", "quadrature_points"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["activation"], "tanh");
  EXPECT_EQ(j["quadrature_points"], 128);
  EXPECT_DOUBLE_EQ(j["chi1"].get<double>(), point("tanh", 2.5, 0.05).chi1);
  // A point without a fixed point: nulls and a warning, never "nan".
  const auto d = run_cli("meanfield --activation relu --sigma-w2 2.5 --sigma-b2 0.05 --report " + dir.file("d.json"));
  ASSERT_EQ(d.status, 0) << d.err;
  const nlohmann::json dj = nlohmann::json::parse(read(dir.file("d.json")));
  EXPECT_TRUE(dj["q_star"].is_null());
  EXPECT_NE(d.err.find("warning"), std::string::npos);
  EXPECT_EQ(d.out.find("nan"), std::string::npos);
}

TEST(MeanFieldCli, GridWritesPhaseCsvAndPngs) {
  TempDir dir("ts_meanfield_cli");
  const auto r = run_cli("meanfield --activation tanh --sigma-w2 0.5:3:6 --sigma-b2 0:0.2:3 --quiet --out " +
                         dir.file("grid"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string csv = read(dir.file("grid/phase.csv"));
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "activation,sigma_w2,sigma_b2,q_star,chi1,c_star,xi_q,xi_c,quadrature_points,q_slope,chi_c,phase");
  EXPECT_EQ(testing::lines(csv), 1 + 18);
  EXPECT_EQ(csv.find("nan"), std::string::npos);
  EXPECT_EQ(testing::lines(read(dir.file("grid/boundary.csv"))), 1 + 3);
  EXPECT_TRUE(std::filesystem::exists(dir.file("grid/phase.png")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("grid/chi1.png")));
}

TEST(MeanFieldCli, SimulateWritesItsCsv) {
  TempDir dir("ts_meanfield_cli");
  const auto r = run_cli("meanfield --sigma-w2 2.5 --sigma-b2 0.05 --simulate --depth 4 --width 64 --pairs 4 "
                         "--device cpu --quiet --out " + dir.file("sim"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string csv = read(dir.file("sim/simulate.csv"));
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "layer,q_theory,q_measured,q_sd_expected,q_sd_observed,c_theory,c_measured,c_sd_observed");
  EXPECT_EQ(testing::lines(csv), 1 + 5);
  EXPECT_TRUE(std::filesystem::exists(dir.file("sim/simulate.png")));
}

TEST(MeanFieldCli, ErrorsAreOneLine) {
  TempDir dir("ts_meanfield_cli");
  for (const std::string& args :
       {std::string("meanfield --sigma-w2 1:2"), std::string("meanfield --sigma-w2 -1"),
        std::string("meanfield --sigma-w2 1:2:5"), std::string("meanfield --sigma-w2 1:2:5 --report x.json --out ") + dir.file("o"),
        std::string("meanfield --simulate"), std::string("meanfield --quadrature-points 1"),
        std::string("meanfield --activation nope")}) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.err;
    EXPECT_EQ(testing::lines(r.err), 1) << args << ": " << r.err;
    EXPECT_EQ(r.err.rfind("taylorscope: error: ", 0), 0u) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("o")));  // refused before anything was written
}

TEST(MeanFieldCuda, SimulateMatchesTheCpu) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const SimulateResult cpu = meanfield_simulate(small_network(-1));
  const SimulateResult gpu = meanfield_simulate(small_network(0));
  ASSERT_EQ(gpu.device, "cuda:0");
  for (size_t l = 0; l < cpu.layers.size(); ++l) {
    // The same draws to a few ulps (CUDA's and glibc's log/sin/cos), GEMM
    // sums in another order: ~1e-15 relative per layer, grown by at most
    // χ1 ≈ 1.13 per layer over 8 layers in this chaotic network; 1e-11
    // leaves a factor 10^3 and still fails on any wrong index or draw.
    EXPECT_NEAR(gpu.layers[l].q_measured, cpu.layers[l].q_measured, 1e-11) << l;
    EXPECT_NEAR(gpu.layers[l].c_measured, cpu.layers[l].c_measured, 1e-11) << l;
  }
}

}  // namespace
}  // namespace taylorscope
