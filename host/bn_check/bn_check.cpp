// bn-check's library call: the projection trials, then the teacher–student
// runs (one per step size, without and with BN), OpenMP over runs.
#include "taylorscope/bn_check.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <string>
#include <vector>

#include "cpu/blas.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/memory_budget.hpp"

namespace taylorscope {
namespace {

// A number of what a flag names, for the messages.
std::string show(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// What a run of this config holds at its peak, in bytes: the runs in flight
// (one per thread) with their training set, batch, weights, gradients and
// trace, every run's recorded energies, energy.csv's text (≈ 70 bytes a
// row), the projection trials in flight (a B×B Jacobian each) and every
// trial's result with its projection.csv row (≈ 140 bytes).
double memory_bytes(const BnCheckConfig& c, int threads) {
  const EnergyConfig& e = c.energy;
  const double d = e.input_dim, N = e.student_width, L = e.depth, M = static_cast<double>(e.samples);
  const double B = static_cast<double>(e.batch > 0 ? e.batch : e.samples);
  const double runs = 2.0 * static_cast<double>(e.lrs.size());
  const double params = N * d + (L - 1) * N * N + (2 * L + 1) * N;
  const double per_run = (d + 1) * M + (d + 1) * B + 2 * params + 5 * L * N * B + 2 * std::max(N, d) * B;
  const double records = runs * (e.records + 1) * L * N;
  const double mb = c.projection.max_batch;
  const double trials = static_cast<double>(c.projection.trials);
  return 8 * (std::min<double>(threads, runs) * per_run + records + threads * (mb * mb + 8 * mb)) + 70 * records +
         (sizeof(ProjectionTrial) + 140) * trials;
}

}  // namespace

void check_bn_check_config(const BnCheckConfig& config) {
  const ProjectionConfig& p = config.projection;
  const EnergyConfig& e = config.energy;
  if (p.trials < 1) throw InputError("--trials must be ≥ 1, got " + std::to_string(p.trials));
  // The trial holds the B×B Jacobian: 1024² doubles are 8 MiB per thread.
  if (p.max_batch < 2 || p.max_batch > 1024)
    throw InputError("--max-batch must be in 2..1024, got " + std::to_string(p.max_batch));
  if (e.input_dim < 1 || e.input_dim > 4096)
    throw InputError("--input-dim must be in 1..4096, got " + std::to_string(e.input_dim));
  if (e.teacher_width < 1 || e.teacher_width > 4096)
    throw InputError("--teacher-width must be in 1..4096, got " + std::to_string(e.teacher_width));
  if (e.student_width < 1 || e.student_width > 4096)
    throw InputError("--student-width must be in 1..4096, got " + std::to_string(e.student_width));
  if (e.depth < 1 || e.depth > 8) throw InputError("--depth must be in 1..8, got " + std::to_string(e.depth));
  if (e.samples < 2 || e.samples > 1000000)
    throw InputError("--samples must be in 2..1000000 (BN needs two values per batch), got " +
                     std::to_string(e.samples));
  if (e.batch != 0 && (e.batch < 2 || e.batch > e.samples))
    throw InputError("--batch must be 0 (full batch) or in 2..--samples (" + std::to_string(e.samples) + "), got " +
                     std::to_string(e.batch));
  if (e.lrs.empty()) throw InputError("--lrs needs at least one step size");
  if (!(std::isfinite(e.time) && e.time > 0))
    throw InputError("--time must be a finite number > 0, got " + show(e.time));
  for (double lr : e.lrs) {
    if (!(std::isfinite(lr) && lr > 0))
      throw InputError("--lrs: every step size must be a finite number > 0, got " + show(lr));
    if (e.time / lr > 1e7)
      throw InputError("--time / --lrs: " + show(e.time) + " / " + show(lr) + " is over 10^7 SGD steps for one run");
  }
  if (e.records < 1 || e.records > 10000)
    throw InputError("--records must be in 1..10000, got " + std::to_string(e.records));
  check_memory(memory_bytes(config, omp_get_max_threads()), "bn-check with these sizes");
}

BnCheckResult bn_check(const BnCheckConfig& config, const BnCheckProgress& progress) {
  check_bn_check_config(config);
  const EnergyConfig& e = config.energy;
  const int64_t runs = 2 * static_cast<int64_t>(e.lrs.size());
  const int64_t total = config.projection.trials + runs;
  BnCheckResult r;
  r.threads = omp_get_max_threads();

  auto t0 = std::chrono::steady_clock::now();
  r.trials = check_projection(config.projection, [&](int64_t done, int64_t) {
    if (progress) progress(done, total);
  });
  auto t1 = std::chrono::steady_clock::now();
  r.projection_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();

  // One run per thread, each with its own single-threaded GEMMs: the
  // networks are small, and a threaded BLAS inside OpenMP threads would
  // oversubscribe the cores. Runs are independent, so the result does not
  // depend on the thread count.
  r.runs.resize(runs);
  int64_t done = config.projection.trials;
  {
    cpu::SingleThreadedBlas single;
    std::vector<std::exception_ptr> failed(runs);  // an exception must not leave an OpenMP region
#pragma omp parallel for schedule(dynamic)
    for (int64_t k = 0; k < runs; ++k) {
      try {
        r.runs[k] = train_student(e, e.lrs[k / 2], k % 2 == 1);
      } catch (...) {
        failed[k] = std::current_exception();
      }
      if (progress) {
#pragma omp critical(bn_energy_progress)
        progress(++done, total);
      }
    }
    for (const std::exception_ptr& p : failed)
      if (p) std::rethrow_exception(p);
  }
  r.energy_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  return r;
}

}  // namespace taylorscope
