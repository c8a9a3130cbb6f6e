// The CPU side of the spurious-minima study: the closed forms of
// teacher_student.hpp over whole W, the exact Hessian, and gradient descent
// over a batch of runs (OpenMP, one run per thread at a time). A run's
// arithmetic never depends on the thread that ran it, so a study's results
// are bitwise the same at any thread count.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "taylorscope/spurious.hpp"
#include "taylorscope/teacher_student.hpp"

extern "C" void dsyev_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                       double* work, const int* lwork, int* info);

namespace taylorscope {
namespace ts = teacher_student;

namespace {

void row_norms(int n, int k, const double* W, double* norms) {
  for (int i = 0; i < n; ++i) norms[i] = ts::row_norm(W + static_cast<int64_t>(i) * k, k);
}

// ∇F into G; returns ‖∇F‖² summed row by row (the order the CUDA kernel's
// rows are summed in differs: its norm may differ in the last bits).
double gradient_into(int n, int k, const double* W, double* norms, double* G) {
  row_norms(n, k, W, norms);
  double sq = 0;
  for (int i = 0; i < n; ++i) {
    double* g = G + static_cast<int64_t>(i) * k;
    ts::neuron_gradient(i, n, k, W, norms, g);
    for (int q = 0; q < k; ++q) sq += g[q] * g[q];
  }
  return sq;
}

}  // namespace

double ts_objective(int n, int k, const double* W) {
  std::vector<double> norms(n);
  row_norms(n, k, W, norms.data());
  double F = 0.5 * ts::teacher_constant(k);
  for (int i = 0; i < n; ++i) F += ts::neuron_objective(i, n, k, W, norms.data());
  return F;
}

void ts_gradient(int n, int k, const double* W, double* G) {
  std::vector<double> norms(n);
  gradient_into(n, k, W, norms.data(), G);
}

void ts_hessian(int n, int k, const double* W, double* H) {
  const int m = n * k;
  std::vector<ts::Dual> Wd(W, W + m), norms(n), g(k);
  for (int col = 0; col < m; ++col) {
    Wd[col].d = 1;
    for (int i = 0; i < n; ++i) norms[i] = ts::row_norm(Wd.data() + static_cast<int64_t>(i) * k, k);
    for (int i = 0; i < n; ++i) {
      ts::neuron_gradient(i, n, k, Wd.data(), norms.data(), g.data());
      for (int q = 0; q < k; ++q) H[static_cast<int64_t>(i * k + q) * m + col] = g[q].d;
    }
    Wd[col].d = 0;
  }
}

std::vector<double> symmetric_eigenvalues(int64_t m, const double* A) {
  std::vector<double> a(A, A + m * m), w(m);
  const int mm = static_cast<int>(m);
  int lwork = -1, info = 0;
  double query = 0;
  dsyev_("N", "L", &mm, a.data(), &mm, w.data(), &query, &lwork, &info);
  lwork = static_cast<int>(query);
  std::vector<double> work(std::max(1, lwork));
  dsyev_("N", "L", &mm, a.data(), &mm, w.data(), work.data(), &lwork, &info);
  if (info != 0) throw std::runtime_error("LAPACK dsyev failed (info " + std::to_string(info) + ")");
  return w;
}

void xavier_point(int k, int n, uint64_t seed, int64_t run, double* W, double scale, bool normal) {
  for (int i = 0; i < n; ++i)
    for (int q = 0; q < k; ++q)
      W[static_cast<int64_t>(i) * k + q] = ts::initial_weight(normal, seed, k, n, static_cast<uint64_t>(run), i, q, scale);
}

void descend_runs_cpu(int k, int n, int64_t begin, int64_t end, const DescentSettings& s, double* W,
                      DescentOutcome* outcomes) {
  const int64_t m = static_cast<int64_t>(n) * k;
  const double tol2 = s.tol * s.tol;
#pragma omp parallel
  {
    std::vector<double> G(m), norms(n);
#pragma omp for schedule(dynamic, 1)
    for (int64_t r = begin; r < end; ++r) {
      double* w = W + (r - begin) * m;
      xavier_point(k, n, s.seed, r, w, s.init_scale, s.init_normal);
      DescentOutcome o;
      for (;;) {
        // The test on ‖∇F‖² against tol²: no square root per step, and the
        // same verdict (both sides are rounded squares of nonnegatives).
        const double sq = gradient_into(n, k, w, norms.data(), G.data());
        if (sq <= tol2) {
          o.converged = true;
          break;
        }
        if (o.iterations >= s.max_iter) break;
        if (o.iterations > 0 && o.iterations % kZeroCheckEvery == 0 && ts_objective(n, k, w) <= s.zero_objective) {
          o.reached_zero = true;
          break;
        }
        for (int64_t j = 0; j < m; ++j) w[j] -= s.lr * G[j];
        ++o.iterations;
      }
      outcomes[r - begin] = o;
    }
  }
}

SpuriousRun assess_run(int k, int n, int64_t run, const double* W, const DescentOutcome& outcome) {
  SpuriousRun r;
  r.k = k;
  r.n = n;
  r.run = run;
  r.iterations = outcome.iterations;
  r.converged = outcome.converged;
  r.reached_zero = outcome.reached_zero;
  const int64_t m = static_cast<int64_t>(n) * k;
  std::vector<double> G(m), H(m * m);
  ts_gradient(n, k, W, G.data());
  double sq = 0;
  for (double g : G) sq += g * g;
  r.grad_norm = std::sqrt(sq);
  r.objective = ts_objective(n, k, W);
  r.min_row_norm = INFINITY;
  for (int i = 0; i < n; ++i) r.min_row_norm = std::min(r.min_row_norm, ts::row_norm(W + i * k, k));
  ts_hessian(n, k, W, H.data());
  const std::vector<double> eig = symmetric_eigenvalues(m, H.data());
  r.min_eig = eig.front();
  r.max_eig = eig.back();
  const double scale = std::max(std::fabs(eig.front()), std::fabs(eig.back()));
  r.local_minimum = r.converged && r.min_eig > kEigenMargin * scale;
  r.spurious = r.local_minimum && r.objective > kSpuriousObjective;
  return r;
}

}  // namespace taylorscope
