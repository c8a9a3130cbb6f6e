// The spurious-minima study (MATH.md §10, docs/spurious.md): the closed
// forms against Monte Carlo and finite differences, the known global
// minimum, bitwise reproducibility of a small study, the CLI's outputs and
// resume, and the CUDA descent against the CPU's (skipped without a GPU).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "cli_support.hpp"
#include "taylorscope/counter_rng.hpp"
#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/npy.hpp"
#include "taylorscope/spurious.hpp"
#include "taylorscope/teacher_student.hpp"
#include "temp_dir.hpp"

namespace taylorscope {
namespace {

using testing::CliRun;
using testing::run_cli;
using testing::TempDir;

// A random point: rows of N(0, 0.5²) entries, so row pairs meet at all
// angles; `near` rows are made nearly parallel to other rows or to teachers
// (cos φ > 0.9), where the angle takes the Kahan branch.
std::vector<double> random_point(int n, int k, uint64_t seed, bool near) {
  std::vector<double> W(n * k);
  for (int j = 0; j < n * k; ++j) W[j] = 0.5 * philox_normal(seed, 7, j);
  if (near) {
    for (int q = 0; q < k; ++q) W[1 * k + q] = 1.3 * W[0 * k + q] + 1e-3 * W[1 * k + q];
    for (int q = 0; q < k; ++q) W[2 * k + q] = (q == 1 ? 0.8 : 0.0) + 1e-2 * W[2 * k + q];
  }
  return W;
}

double relu(double x) { return x > 0 ? x : 0; }

// F and ∇F are expectations over x ~ N(0, I): the closed forms must agree
// with the sample means within 5 standard errors (estimated from the same
// sample). The seed is fixed, so the test is deterministic; 5σ is a bound a
// correct formula exceeds with probability < 1e-6 per coordinate, while a
// wrong factor (the ½, a sign, the diagonal term) moves F or a coordinate
// by tens of standard errors at N = 400 000.
TEST(Spurious, ObjectiveAndGradientMatchMonteCarlo) {
  const int n = 4, k = 4;
  const std::vector<double> W = random_point(n, k, 11, false);
  const int64_t N = 400000;
  std::vector<double> sum(1 + n * k, 0.0), sum2(1 + n * k, 0.0), x(k), sample(1 + n * k);
  for (int64_t s = 0; s < N; ++s) {
    for (int q = 0; q < k; ++q) x[q] = philox_normal(2024, s, q);
    double student = 0, teacher = 0;
    std::vector<double> pre(n);
    for (int i = 0; i < n; ++i) {
      for (int q = 0; q < k; ++q) pre[i] += W[i * k + q] * x[q];
      student += relu(pre[i]);
    }
    for (int q = 0; q < k; ++q) teacher += relu(x[q]);
    const double r = student - teacher;
    sample[0] = 0.5 * r * r;
    for (int i = 0; i < n; ++i)
      for (int q = 0; q < k; ++q) sample[1 + i * k + q] = pre[i] > 0 ? r * x[q] : 0.0;
    for (size_t j = 0; j < sample.size(); ++j) {
      sum[j] += sample[j];
      sum2[j] += sample[j] * sample[j];
    }
  }
  std::vector<double> closed(1 + n * k);
  closed[0] = ts_objective(n, k, W.data());
  ts_gradient(n, k, W.data(), closed.data() + 1);
  for (size_t j = 0; j < closed.size(); ++j) {
    const double mean = sum[j] / N, var = sum2[j] / N - mean * mean;
    const double se = std::sqrt(std::max(var, 0.0) / N);
    EXPECT_NEAR(closed[j], mean, 5 * se) << (j == 0 ? "F" : "gradient coordinate " + std::to_string(j - 1));
  }
}

// Central differences: truncation h²/6·|third derivative| with derivatives
// of order ≤ 10 at these points (h = 1e-5: ~2e-10) plus rounding ε|F|/h
// (~1e-11 for F ~ 1); 1e-7 leaves a factor ~500 and still catches any
// wrong term (they are O(1e-2) or more). The same for the Hessian against
// differences of the closed-form gradient.
TEST(Spurious, GradientAndHessianMatchFiniteDifferences) {
  const int n = 5, k = 4;
  const double h = 1e-5, tol = 1e-7;
  for (bool near : {false, true}) {
    std::vector<double> W = random_point(n, k, near ? 5 : 3, near);
    const int m = n * k;
    std::vector<double> G(m), H(m * m), Gp(m), Gm(m);
    ts_gradient(n, k, W.data(), G.data());
    ts_hessian(n, k, W.data(), H.data());
    for (int j = 0; j < m; ++j) {
      const double w0 = W[j];
      W[j] = w0 + h;
      const double Fp = ts_objective(n, k, W.data());
      ts_gradient(n, k, W.data(), Gp.data());
      W[j] = w0 - h;
      const double Fm = ts_objective(n, k, W.data());
      ts_gradient(n, k, W.data(), Gm.data());
      W[j] = w0;
      EXPECT_NEAR(G[j], (Fp - Fm) / (2 * h), tol) << "near " << near << ", ∂F/∂w " << j;
      for (int i = 0; i < m; ++i)
        EXPECT_NEAR(H[i * m + j], (Gp[i] - Gm[i]) / (2 * h), tol) << "near " << near << ", H " << i << "," << j;
    }
  }
}

// W = V up to a permutation of rows: F = 0, ∇F = 0, and the Hessian PSD
// (and equal to differences of the gradient, which checks the tangent rule
// of √ at exactly parallel rows). F is a sum of ~k² terms of size ≤ k, so
// its rounding is ~k²·k·ε ≈ 1e-13 at k = 6; ∇F's terms are O(k): 1e-13.
TEST(Spurious, PermutedTeacherIsAGlobalMinimum) {
  const int k = 6, n = 6, m = n * k;
  const int perm[n] = {3, 0, 5, 1, 4, 2};
  std::vector<double> W(m, 0.0), G(m), H(m * m);
  for (int i = 0; i < n; ++i) W[i * k + perm[i]] = 1.0;
  EXPECT_NEAR(ts_objective(n, k, W.data()), 0.0, 1e-13);
  ts_gradient(n, k, W.data(), G.data());
  for (int j = 0; j < m; ++j) EXPECT_NEAR(G[j], 0.0, 1e-13) << j;
  ts_hessian(n, k, W.data(), H.data());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < i; ++j) EXPECT_NEAR(H[i * m + j], H[j * m + i], 1e-13);
  const std::vector<double> eig = symmetric_eigenvalues(m, H.data());
  // PSD up to rounding (eigenvalues are O(1), dsyev is backward stable).
  EXPECT_GT(eig.front(), -1e-12);
  // Strictly positive for n = k: the minimum is isolated up to permutation.
  EXPECT_GT(eig.front(), 1e-3);
  const double h = 1e-6;
  std::vector<double> Gp(m), Gm(m);
  for (int j = 0; j < m; ++j) {
    const double w0 = W[j];
    W[j] = w0 + h;
    ts_gradient(n, k, W.data(), Gp.data());
    W[j] = w0 - h;
    ts_gradient(n, k, W.data(), Gm.data());
    W[j] = w0;
    for (int i = 0; i < m; ++i) EXPECT_NEAR(H[i * m + j], (Gp[i] - Gm[i]) / (2 * h), 1e-6) << i << "," << j;
  }
}

// A run's end point depends only on (seed, k, n, run): the same at 1 and 2
// threads, and the same when the run is computed alone.
TEST(Spurious, SmallStudyIsBitwiseReproducible) {
  const int k = 6, n = 6, R = 8;
  DescentSettings s;
  s.max_iter = 2000;
  s.seed = 42;
  std::vector<double> W1(R * n * k), W2(R * n * k), W5(n * k);
  std::vector<DescentOutcome> o1(R), o2(R), o5(1);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  descend_runs_cpu(k, n, 0, R, s, W1.data(), o1.data());
  omp_set_num_threads(2);
  descend_runs_cpu(k, n, 0, R, s, W2.data(), o2.data());
  descend_runs_cpu(k, n, 5, 6, s, W5.data(), o5.data());
  omp_set_num_threads(threads);
  EXPECT_EQ(0, std::memcmp(W1.data(), W2.data(), W1.size() * sizeof(double)));
  EXPECT_EQ(0, std::memcmp(W1.data() + 5 * n * k, W5.data(), W5.size() * sizeof(double)));
  for (int r = 0; r < R; ++r) {
    EXPECT_EQ(o1[r].iterations, o2[r].iterations);
    EXPECT_EQ(o1[r].converged, o2[r].converged);
  }
  EXPECT_EQ(o1[5].iterations, o5[0].iterations);
  // The seed matters: another seed starts elsewhere.
  std::vector<double> a(n * k), b(n * k);
  xavier_point(k, n, 42, 0, a.data());
  xavier_point(k, n, 43, 0, b.data());
  EXPECT_NE(a, b);
  // Xavier-uniform bound √(6/(k+n)) = √0.5; the default descent starts
  // from the normal point of the same variance, drawn from the same stream.
  for (double v : a) EXPECT_LE(std::fabs(v), std::sqrt(0.5));
  std::vector<double> g(n * k);
  xavier_point(k, n, 42, 0, g.data(), 1.0, /*normal=*/true);
  std::vector<double> start(n * k);
  DescentSettings zero = s;
  zero.max_iter = 0;
  DescentOutcome o0;
  descend_runs_cpu(k, n, 0, 1, zero, start.data(), &o0);
  EXPECT_EQ(start, g);
  EXPECT_NE(a, g);
}

TEST(Spurious, WilsonIntervalMatchesTheFormula) {
  // 3 of 10 at z = 1.96: the textbook interval [0.1078, 0.6032].
  const auto [lo, hi] = wilson_interval(3, 10);
  EXPECT_NEAR(lo, 0.10779, 1e-4);
  EXPECT_NEAR(hi, 0.60322, 1e-4);
  const auto [lo0, hi0] = wilson_interval(0, 8);
  EXPECT_EQ(lo0, 0.0);
  EXPECT_NEAR(hi0, 0.3244, 1e-4);
}

// Minima up to a permutation of rows: a permuted copy within 1e-9 is the
// same minimum; a copy with one row moved by 1e-3 is not; and classes are
// named by their first point.
TEST(Spurious, DistinctMinimaAreUpToRowPermutation) {
  const int n = 5, k = 4;
  const std::vector<double> A = random_point(n, k, 21, false), C = random_point(n, k, 22, false);
  std::vector<double> B(n * k), D = A;
  const int perm[n] = {2, 4, 0, 1, 3};
  for (int i = 0; i < n; ++i)
    for (int q = 0; q < k; ++q) B[perm[i] * k + q] = A[i * k + q] + 1e-9 * (q - 1.5);
  D[3 * k + 2] += 1e-3;
  const std::vector<int64_t> rep = distinct_minima(n, k, {A.data(), C.data(), B.data(), D.data()});
  EXPECT_EQ(rep, (std::vector<int64_t>{0, 1, 0, 3}));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

TEST(Spurious, CliWritesEveryOutputAndResumes) {
  TempDir dir("ts_spurious_cli");
  const std::string out = dir.file("study");
  const std::string flags = "spurious --k 6,7 --n same --runs 20 --max-iter 400 --seed 3 --device cpu --quiet --out " + out;
  CliRun r = run_cli(flags);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(first_line(out + "/runs.csv").rfind("k,n,run,iterations,objective,grad_norm,min_eig,converged,spurious", 0), 0u);
  EXPECT_EQ(first_line(out + "/summary.csv").rfind("k,n,runs,spurious_pct,ci_low,ci_high,mean_min_eig,mean_objective,"
                                                   "paper_pct,paper_min_eig,paper_objective", 0),
            0u);
  const std::string runs = read_text(out + "/runs.csv"), summary = read_text(out + "/summary.csv");
  EXPECT_EQ(std::count(runs.begin(), runs.end(), '\n'), 1 + 40);
  EXPECT_EQ(summary.find("nan"), std::string::npos);
  const NpyArray minima = read_npy_floats(out + "/minima/k7_n7.npy");
  EXPECT_EQ(minima.shape, (std::vector<int64_t>{20, 7, 7}));
  EXPECT_TRUE(std::filesystem::exists(out + "/summary.json"));
  EXPECT_GT(std::filesystem::file_size(out + "/spurious.png"), 100u);

  // A second run into the same study is refused; so is a resume with other flags.
  r = run_cli(flags);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  r = run_cli("spurious --k 6,7 --runs 20 --max-iter 400 --seed 4 --device cpu --quiet --resume --out " + out);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("seed"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  // Chunks without a study.json are no study's: refused, resume or not.
  const std::string stray = dir.file("stray");
  std::filesystem::create_directories(stray + "/chunks");
  std::filesystem::copy_file(out + "/chunks/k6_n6_0-16.npy", stray + "/chunks/k6_n6_0-16.npy");
  r = run_cli("spurious --k 6 --runs 20 --max-iter 400 --seed 3 --device cpu --quiet --out " + stray);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("no study.json"), std::string::npos) << r.err;

  // An interrupted study: a chunk lost; the resume computes only its runs
  // and the reports come out byte for byte the same.
  std::filesystem::remove(out + "/chunks/k7_n7_16-20.npy");
  r = run_cli("spurious --k 6,7 --n same --runs 20 --max-iter 400 --seed 3 --device cpu --resume --out " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("4 runs computed, 36 kept"), std::string::npos) << r.out;
  EXPECT_EQ(read_text(out + "/runs.csv"), runs);
  EXPECT_EQ(read_text(out + "/summary.csv"), summary);
}

TEST(Spurious, BadFlagsAreOneLineErrors) {
  TempDir dir("ts_spurious_flags");
  if (std::string why; !cuda_backend_available(&why)) {
    // No GPU: --device cuda is refused before --out is created.
    const CliRun r = run_cli("spurious --k 6 --runs 2 --device cuda --out " + dir.file("cuda"));
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("cuda")));
  }
  for (const std::string& bad : {"--k 0", "--k 6 --n 5,6", "--k 6 --lr -1", "--k 9..8", "--k 6 --runs 0"}) {
    const CliRun r = run_cli("spurious " + bad + " --out " + dir.file("x"));
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << bad << ": " << r.err;
    EXPECT_EQ(r.err.rfind("taylorscope: error:", 0), 0u) << r.err;
  }
}

// The CUDA descent starts from the CPU's initial point bit for bit (the
// uniforms are exact), and then rounds alike except in libm's acos, atan2,
// sin, cos (a few ulps per call). After 50 steps those differences have
// grown at most by (1 + lr·|λ_min|)^50 ≈ 1.1^50 ≈ 120 (|λ| ≤ 1 at negative
// curvature here) from ~1e-15: 1e-10 leaves a factor ~1e3. Small enough for
// the sanitizers (scripts/device-check).
TEST(Spurious, CudaStartsAndStepsAsCpu) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const int k = 6, n = 7, R = 9, m = n * k;  // R: a block's last warps idle; n: a lane idle
  DescentSettings s;
  s.seed = 9;
  s.max_iter = 0;
  // Normal starts agree to a few ulps (log, sin, cos of the two libms):
  // |w| ≤ 8.6·√(2/13) ≈ 3.4 here, so 1e-14 absolute is ≥ 10 ulps.
  std::vector<double> Wc(R * m), Wg(R * m);
  std::vector<DescentOutcome> oc(R), og(R);
  descend_runs_cpu(k, n, 100, 100 + R, s, Wc.data(), oc.data());
  descend_runs_cuda(0, k, n, 100, 100 + R, s, Wg.data(), og.data());
  for (int j = 0; j < R * m; ++j) EXPECT_NEAR(Wg[j], Wc[j], 1e-14) << j;
  s.init_normal = false;  // uniform starts: the same bits
  descend_runs_cpu(k, n, 100, 100 + R, s, Wc.data(), oc.data());
  descend_runs_cuda(0, k, n, 100, 100 + R, s, Wg.data(), og.data());
  EXPECT_EQ(0, std::memcmp(Wc.data(), Wg.data(), Wc.size() * sizeof(double))) << "initial points differ";
  s.max_iter = 50;
  descend_runs_cpu(k, n, 100, 100 + R, s, Wc.data(), oc.data());
  descend_runs_cuda(0, k, n, 100, 100 + R, s, Wg.data(), og.data());
  for (int r = 0; r < R; ++r) {
    EXPECT_EQ(og[r].iterations, 50) << r;
    for (int j = 0; j < m; ++j) EXPECT_NEAR(Wg[r * m + j], Wc[r * m + j], 1e-10) << r << "," << j;
  }
}

// Whole descents: a run lands on the same end point on both devices unless
// it passes near a saddle where the ulps above pick another basin. Same
// minimum: |ΔF| ≤ 1e-9 (both within ‖∇F‖ ≤ 1e-12 of it, so their F differ by
// ~1e-24; 1e-9 is far below the gaps between distinct minima's F, ≥ 1e-3).
TEST(Spurious, CudaDescentMatchesCpu) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const int k = 6, n = 6, R = 64, m = n * k;
  DescentSettings s;
  s.seed = 9;
  s.max_iter = 200000;
  std::vector<double> Wc(R * m), Wg(R * m);
  std::vector<DescentOutcome> oc(R), og(R);
  descend_runs_cpu(k, n, 100, 100 + R, s, Wc.data(), oc.data());
  descend_runs_cuda(0, k, n, 100, 100 + R, s, Wg.data(), og.data());
  int same = 0;
  for (int r = 0; r < R; ++r) {
    const SpuriousRun c = assess_run(k, n, 100 + r, Wc.data() + r * m, oc[r]);
    const SpuriousRun g = assess_run(k, n, 100 + r, Wg.data() + r * m, og[r]);
    // The same end: both converged (or both stopped at F ≤ 1e-10, at the
    // same multiple of 1000 steps or one apart), at the same F.
    const bool same_stop = c.converged == g.converged && c.reached_zero == g.reached_zero;
    if (same_stop && std::fabs(c.objective - g.objective) <= 1e-9 &&
        std::abs(oc[r].iterations - og[r].iterations) <= oc[r].iterations / 100 + 1000)
      ++same;
    else
      std::printf("run %d changed: cpu F %.6g (%lld steps), gpu F %.6g (%lld steps)\n", 100 + r, c.objective,
                  static_cast<long long>(oc[r].iterations), g.objective, static_cast<long long>(og[r].iterations));
  }
  // At most a few runs (here: 3 of 64) may change basin.
  EXPECT_GE(same, R - 3);
}

}  // namespace
}  // namespace taylorscope
