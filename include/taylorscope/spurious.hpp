// `taylorscope spurious`: the Safran–Shamir study of spurious local minima
// of the two-layer ReLU teacher–student objective (MATH.md §10,
// docs/spurious.md). Many independent gradient-descent runs per (k, n), on
// the CPU (OpenMP over runs) or CUDA (one run per warp), each from a Xavier
// point replayable alone from (seed, run); every end point is then judged
// on the CPU by its exact Hessian's spectrum (LAPACK dsyev).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace taylorscope {

// Gradient descent W ← W − lr ∇F from the Xavier point of (seed, run),
// stopped at the first iterate with ‖∇F‖ ≤ tol (converged) or after
// max_iter steps (not converged) — or, checked every kZeroCheckEvery steps,
// once F ≤ zero_objective: the run has reached a global minimum's level and
// can no longer end spurious (GD with this step only descends, and
// zero_objective is 10^4 below kSpuriousObjective). Without this exit the
// runs of n > k that reach F = 0 cost the whole max_iter: there the minima
// come in families (a teacher neuron split between two parallel rows) where
// the Hessian is singular (λ_min ~ 1e-15 measured) and GD slows to a
// sublinear crawl: ‖∇F‖ ≤ 1e-12 is out of reach (measured: 4e-11 after 2·10^6
// steps at k = 13, n = 14). Such a run is reported as not converged, with
// reached_zero set.
//
// The default step: the Hessian's largest eigenvalue at the end points of
// the whole reproduction (docs/spurious.md; 5400 runs, n ≤ 21) is at most
// 5.76, so lr = 0.1 keeps lr·λ_max ≤ 0.58 < 1: below the
// 2/λ_max of GD's stability with a margin for the larger curvature met on
// the way, and without oscillation along the stiffest direction. The step
// also decides which basin some runs fall into (docs/spurious.md, "Step
// size"), so it is part of the protocol, recorded with every study.
struct DescentSettings {
  double lr = 0.1;
  double tol = 1e-12;
  int64_t max_iter = 2'000'000;
  uint64_t seed = 0;
  double zero_objective = 1e-10;
  double init_scale = 1.0;  // multiplies the Xavier bound √(6/(k + n))
  // Xavier-normal N(0, 2/(k + n)) (the default), or Xavier-uniform
  // U(±√(6/(k + n))) of the same variance. Normal because it reproduces the
  // published shares and the uniform cube does not: aligned with the
  // teachers e_j, it sends more runs to the global minimum (k = 19, n = 20:
  // 27% spurious against 51% and the paper's 49.1%; docs/spurious.md).
  bool init_normal = true;
};
constexpr int64_t kZeroCheckEvery = 1000;

// One run's descent.
struct DescentOutcome {
  int64_t iterations = 0;  // gradient steps taken
  bool converged = false;  // ‖∇F‖ ≤ tol was reached
  bool reached_zero = false;  // stopped at F ≤ zero_objective first
};

// What a run's end point is. A local minimum: converged and the Hessian's
// smallest eigenvalue > kEigenMargin · max |eigenvalue| (a relative margin:
// the Hessian is exact up to ~1e-15 relative rounding, and at an end point
// within ‖∇F‖ ≤ 1e-12 of a minimum with λ_min ≥ 1e-3 its spectrum differs
// from the minimum's by ~‖∇F‖/λ_min ≈ 1e-9 times a third derivative of
// order 1; the published smallest eigenvalues, ≥ 1.5e-3, are far above).
// Spurious: a local minimum with F > kSpuriousObjective (F's own rounding
// is ~k² ε ≈ 1e-13; the published spurious objectives are ≥ 0.016).
constexpr double kEigenMargin = 1e-6;
constexpr double kSpuriousObjective = 1e-6;

struct SpuriousRun {
  int k = 0, n = 0;
  int64_t run = 0;
  int64_t iterations = 0;
  double objective = 0;  // F of MATH.md §10 (with its ½)
  double grad_norm = 0;  // ‖∇F‖ at the end point, recomputed on the CPU
  double min_eig = 0, max_eig = 0;  // of the exact Hessian there
  double min_row_norm = 0;          // min_i ‖w_i‖ (a row near 0: F not smooth there)
  bool converged = false, local_minimum = false, spurious = false;
  bool reached_zero = false;  // the descent stopped at F ≤ zero_objective
};

// ---- the per-run mathematics on the CPU (teacher_student.hpp).
double ts_objective(int n, int k, const double* W);
void ts_gradient(int n, int k, const double* W, double* G);
// The exact (nk)×(nk) Hessian, row-major, index i·k + q for w_iq: the
// forward-mode derivative of the closed-form gradient along each coordinate.
void ts_hessian(int n, int k, const double* W, double* H);
// Ascending eigenvalues of the symmetric m×m matrix A (LAPACK dsyev; A is
// copied, not overwritten).
std::vector<double> symmetric_eigenvalues(int64_t m, const double* A);
// The Xavier initial point of one run (n×k).
void xavier_point(int k, int n, uint64_t seed, int64_t run, double* W, double scale = 1.0, bool normal = false);

// ---- batches of runs [begin, end) of (k, n): the end points into W
// ((end − begin) × n × k) and the outcomes.
void descend_runs_cpu(int k, int n, int64_t begin, int64_t end, const DescentSettings& s, double* W,
                      DescentOutcome* outcomes);
// The same on CUDA device `device` (one run per warp, lane i holds row i;
// n ≤ kCudaMaxRows). Throws InputError in a build without CUDA.
void descend_runs_cuda(int device, int k, int n, int64_t begin, int64_t end, const DescentSettings& s,
                       double* W, DescentOutcome* outcomes);
constexpr int kCudaMaxRows = 64;
// Judges an end point: F, ‖∇F‖, the Hessian's spectrum, the verdicts.
SpuriousRun assess_run(int k, int n, int64_t run, const double* W, const DescentOutcome& outcome);

// ---- the study.
struct SpuriousConfig {
  std::vector<std::pair<int, int>> shapes;  // (k, n), in order
  int64_t runs = 100;                       // per shape
  DescentSettings descent;
  std::string device = "auto";
  std::string out;      // the study directory
  bool resume = false;  // keep the finished runs of an interrupted study in `out`
  std::string command;  // as typed, for summary.json
};

// Seed 002's tables (Safran & Shamir 2018, Tables 1–2), where (k, n) is in
// them: % of runs ending at a spurious minimum, mean smallest eigenvalue and
// mean objective of those minima, in the paper's own scale.
struct PublishedRow {
  int k, n;
  double pct, min_eig, objective;
};
const std::vector<PublishedRow>& published_rows();
const PublishedRow* published_row(int k, int n);

struct SpuriousSummary {
  int k = 0, n = 0;
  int64_t runs = 0, converged = 0, local_minima = 0, spurious = 0;
  int64_t reached_zero = 0;  // stopped at F ≤ zero_objective (not spurious)
  int64_t unfinished = 0;    // neither: stopped by max_iter, verdict unknown
  double spurious_pct = 0, ci_low = 0, ci_high = 0;  // 95% Wilson interval, in %
  bool has_spurious_means = false;                   // false when no run was spurious
  double mean_min_eig = 0, mean_objective = 0;       // over the spurious runs, MATH.md's scale
  double mean_iterations = 0;
  // The spurious minima up to a permutation of the student's rows (the
  // published protocol's deduplication; distinct_minima), and the means
  // over one representative of each.
  int64_t distinct_spurious = 0;
  double mean_min_eig_distinct = 0, mean_objective_distinct = 0;
  double seconds = 0;  // descent + assessment time of the runs computed by this process
  int64_t computed_runs = 0;  // by this process (not kept from an earlier one)
};

// The 95% Wilson score interval of `hits` in `trials`, as fractions.
std::pair<double, double> wilson_interval(int64_t hits, int64_t trials);
SpuriousSummary summarize_runs(int k, int n, const std::vector<SpuriousRun>& runs);

// Classes of end points equal up to a permutation of rows: two n×k points
// are one minimum when a bijection of their rows matches every row within
// `tol` in max-abs. Returns, for each point, the index of its class's first
// point. The default tol: a converged end point lies within ‖∇F‖/λ_min ≤
// 1e-12/3.8e-5 ≈ 3e-8 of its minimum (the flattest spurious minimum met),
// so two runs at one minimum differ by < 1e-7, while distinct minima differ
// by much more in some row (measured over the reproduction's spurious end
// points, docs/spurious.md: ≤ 3.9e-10 within a class, ≥ 0.54 between). Greedy matching (each row takes the first
// unused row within tol) is exact when a point's own rows are more than
// 2·tol apart, as at every minimum found but those with duplicated rows,
// where any match is as good.
std::vector<int64_t> distinct_minima(int n, int k, const std::vector<const double*>& points, double tol = 1e-6);

struct SpuriousProgress {
  int k, n;
  int64_t done, total;  // runs of this shape finished (kept ones included)
  double runs_per_second;  // of what this process computed for the shape so far
};

struct SpuriousResult {
  std::vector<SpuriousSummary> summaries;
  std::string device;          // "cpu" or "cuda:i"
  int64_t computed_runs = 0;   // by this process (a resume skips the kept ones)
  int64_t kept_runs = 0;       // found finished in `out`
};

// Runs (or resumes) the study and writes out/: runs.csv, summary.csv,
// summary.json, minima/k{K}_n{N}.npy, spurious.png, and the finished chunks
// under out/chunks/ (kept, so that --resume continues). Throws InputError on
// a bad configuration or a resume whose settings differ.
SpuriousResult run_spurious_study(const SpuriousConfig& config,
                                  const std::function<void(const SpuriousProgress&)>& progress = {});

}  // namespace taylorscope
