// `taylorscope bn-check`: seed 004's BatchNorm claims, the flags of the
// library call bn_check() (bn_check.hpp); writes OUT/projection.csv,
// energy.csv, drift.csv, summary.json, drift.png, drift_vs_lr.png
// (docs/bn-check.md). The defaults are argued there.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "flag_checks.hpp"
#include "progress.hpp"
#include "taylorscope/bn_check.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/created_outputs.hpp"
#include "taylorscope/output_paths.hpp"
#include "taylorscope/run_lock.hpp"

namespace taylorscope::cli {
namespace {

struct BnCheckArgs {
  BnCheckConfig config;
  std::string out;
  bool quiet = false;
};

std::string sci(double v) {
  if (!std::isfinite(v)) return "n/a";  // a constant batch (BN undefined) or a run that stopped
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

std::string slope(double v) {
  if (!std::isfinite(v)) return "n/a";  // fewer than two finished runs
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

int run_bn_check(BnCheckArgs& a) {
  const EnergyConfig& e = a.config.energy;
  a.config.projection.seed = e.seed;  // one --seed for both parts; their streams differ (bn_check/streams.hpp)
  check_bn_check_config(a.config);    // every input judged before OUT is created
  // Small CPU work, nothing to share out: under mpirun rank 0 alone runs
  // and writes (the other ranks would only contend for OUT's lock).
  if (!world().is_root()) return 0;
  check_output_dir(a.out, "--out");
  CreatedOutputs outputs;  // a failed run removes what it created, OUT included
  outputs.directory(a.out);
  DirectoryLock lock(a.out);
  if (!a.quiet)
    std::cout << "taylorscope bn-check: " << a.config.projection.trials << " projection trials (B in 2.."
              << a.config.projection.max_batch << "); teacher " << e.input_dim << "-" << e.teacher_width << "x"
              << e.depth << "-1, student width " << e.student_width << ", " << e.samples << " samples, batch "
              << (e.batch > 0 ? e.batch : e.samples) << ", t = " << e.time << ", " << e.lrs.size()
              << " step sizes with and without BN; cpu, float64" << std::endl;
  BnCheckResult r;
  {
    TaskProgress bar("trials and runs", a.quiet);
    r = bn_check(a.config, [&bar](int64_t done, int64_t total) { bar.update(done, total); });
  }
  const std::vector<std::string> written = write_bn_check_outputs(a.out, a.config, r);
  outputs.keep();
  if (a.quiet) return 0;

  const BnCheckSummary sum = summarize_bn_check(r);
  std::cout << "  projection, worst of " << r.trials.size() << " trials (units of 1/std): |J f| " << sci(sum.max_abs_Jf)
            << ", |J 1| " << sci(sum.max_abs_J1) << ", |g_x - P g / std| " << sci(sum.max_abs_grad_diff)
            << ", |J - J_ops| " << sci(sum.max_abs_jacobian_diff) << "\n";
  std::cout << "  row-energy drift max_j |E_j(t) - E_j(0)| at t = " << e.time
            << ":\n      lr     steps   no BN      BN\n";
  for (size_t k = 0; k + 1 < r.runs.size(); k += 2) {
    const EnergyRun &off = r.runs[k], &on = r.runs[k + 1];
    auto drift = [](const EnergyRun& run) { return run.finite ? sci(run.drift.back()) : std::string("diverged"); };
    char line[128];
    std::snprintf(line, sizeof line, "  %8g %8lld  %9s %9s\n", off.lr, static_cast<long long>(off.steps),
                  drift(off).c_str(), drift(on).c_str());
    std::cout << line;
  }
  std::cout << "  log-log slope of the drift against lr at the two smallest lrs: no BN " << slope(sum.slope_no_bn)
            << ", BN " << slope(sum.slope_bn) << " (1: O(lr))\n";
  std::cout << "  written to " << a.out << ":";
  for (const std::string& name : written) std::cout << " " << name;
  std::cout << "\n";
  return 0;
}

}  // namespace

Command add_bn_check_command(CLI::App& app) {
  auto args = std::make_shared<BnCheckArgs>();
  BnCheckConfig& c = args->config;
  CLI::App* cmd = app.add_subcommand("bn-check",
                                     "seed 004's BatchNorm claims: BN's gradient is a projection; "
                                     "with BN the row energies of a linear layer are conserved");
  cmd->add_option("--out", args->out, "output directory")->required();
  whole(cmd->add_option("--trials", c.projection.trials, "random batches for the projection check")
            ->capture_default_str(),
        int64_t{1});
  whole(cmd->add_option("--max-batch", c.projection.max_batch, "largest batch of a projection trial (2..1024)")
            ->capture_default_str(),
        2, 1024);
  whole(cmd->add_option("--input-dim", c.energy.input_dim, "d: the inputs are N(0, I_d)")->capture_default_str(), 1,
        4096);
  whole(cmd->add_option("--teacher-width", c.energy.teacher_width, "K: the teacher's hidden width")
            ->capture_default_str(),
        1, 4096);
  whole(cmd->add_option("--student-width", c.energy.student_width, "N: the student's hidden width")
            ->capture_default_str(),
        1, 4096);
  whole(
      cmd->add_option("--depth", c.energy.depth, "hidden layers of teacher and student (1..8)")->capture_default_str(),
      1, 8);
  whole(cmd->add_option("--samples", c.energy.samples, "training set size")->capture_default_str(), int64_t{2},
        int64_t{1000000});
  whole(cmd->add_option("--batch", c.energy.batch, "SGD batch (0: the full training set)")->capture_default_str(),
        int64_t{0});
  positive(
      cmd->add_option("--lrs", c.energy.lrs, "SGD step sizes, comma-separated")->delimiter(',')->capture_default_str());
  positive(cmd->add_option("--time", c.energy.time, "training time t = lr * steps, the same for every lr")
               ->capture_default_str());
  whole(cmd->add_option("--records", c.energy.records, "energies recorded at t*k/records, k = 0..records (1..10000)")
            ->capture_default_str(),
        1, 10000);
  whole(cmd->add_option("--seed", c.energy.seed, "seed of every random draw (batches, data, teacher, student)")
            ->capture_default_str(),
        uint64_t{0});
  cmd->add_flag("--quiet", args->quiet, "no progress or summary lines");
  return {cmd, [args] { return run_bn_check(*args); }};
}

}  // namespace taylorscope::cli
