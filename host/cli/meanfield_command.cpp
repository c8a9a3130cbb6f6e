// `taylorscope meanfield`: q*, χ1, c* and the depth scales at one
// (σ_w², σ_b²) or over a grid with its χ1 = 1 boundary, and --simulate's deep
// random network beside the theory (MATH.md §11, docs/meanfield.md). Parses
// flags, calls the library (meanfield.hpp), prints and writes.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "commands.hpp"
#include "flag_checks.hpp"
#include "meanfield/meanfield_report.hpp"
#include "progress.hpp"
#include "taylorscope/atomic_file.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/created_outputs.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/meanfield.hpp"
#include "taylorscope/output_paths.hpp"
#include "taylorscope/run_lock.hpp"
#include "taylorscope/warnings.hpp"

namespace taylorscope::cli {
namespace {

struct MeanFieldArgs : ActivationFlags {
  std::string sigma_w2 = "1.5", sigma_b2 = "0.05";
  int quadrature_points = MeanFieldConfig{}.quadrature_points;
  double q0 = MeanFieldConfig{}.q0, c0 = SimulateConfig{}.c0;
  bool simulate = false;
  int depth = SimulateConfig{}.depth;
  int64_t width = SimulateConfig{}.width, pairs = SimulateConfig{}.pairs;
  uint64_t seed = 0;
  std::string device = "auto";
  std::string report, out;
  bool quiet = false;
};

// "A" or "A:B:STEPS" (STEPS ≥ 2 evenly spaced values from A to B).
std::vector<double> parse_range(const std::string& text, const std::string& flag) {
  const std::string form = flag + " must be A or A:B:STEPS (numbers ≥ 0, STEPS a whole number 2..10000), got \"" +
                           text + "\"";
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ':');) parts.push_back(part);
  if (!text.empty() && text.back() == ':') parts.push_back("");
  auto number = [&](const std::string& s) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      throw InputError(form);
    }
    if (used != s.size() || !std::isfinite(v) || v < 0) throw InputError(form);
    return v;
  };
  if (parts.size() == 1) return {number(parts[0])};
  if (parts.size() != 3) throw InputError(form);
  const double a = number(parts[0]), b = number(parts[1]);
  size_t used = 0;
  long steps = 0;
  try {
    steps = std::stol(parts[2], &used);
  } catch (const std::exception&) {
    throw InputError(form);
  }
  if (used != parts[2].size() || steps < 2 || steps > 10000) throw InputError(form);
  std::vector<double> v(steps);
  for (long i = 0; i < steps; ++i) v[i] = i == steps - 1 ? b : a + (b - a) * static_cast<double>(i) / (steps - 1);
  return v;
}

std::string show(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

void print_point(const MeanFieldPoint& p) {
  std::cout << "meanfield " << p.activation << " at sigma_w2 = " << show(p.sigma_w2)
            << ", sigma_b2 = " << show(p.sigma_b2) << " (" << p.quadrature_points
            << "-point Gauss–Hermite per dimension): " << p.phase << "\n"
            << "  q_star " << show(p.q_star) << "  q_slope " << show(p.q_slope) << "  xi_q " << show(p.xi_q) << "\n"
            << "  chi1   " << show(p.chi1) << "  c_star " << show(p.c_star) << "  chi_c " << show(p.chi_c)
            << "  xi_c " << show(p.xi_c) << "\n";
}

int run_meanfield(const MeanFieldArgs& a) {
  // Nothing here is split across ranks, and every rank would write the same
  // files: one process only.
  if (world().size() > 1) throw InputError("meanfield runs as one process, not under mpirun");
  MeanFieldConfig base;
  base.act = resolve_activation_flags(a);
  base.quadrature_points = a.quadrature_points;
  base.q0 = a.q0;
  const std::vector<double> w2 = parse_range(a.sigma_w2, "--sigma-w2"), b2 = parse_range(a.sigma_b2, "--sigma-b2");
  const bool grid = w2.size() > 1 || b2.size() > 1;
  if (grid && !a.report.empty()) throw InputError("--report is for a single point; a grid writes --out DIR/phase.csv");
  if (grid && a.simulate) throw InputError("--simulate takes one point: give --sigma-w2 and --sigma-b2 one value each");
  if (grid && a.out.empty()) throw InputError("a grid needs --out DIR (phase.csv, boundary.csv, PNGs)");
  if (a.simulate && a.out.empty()) throw InputError("--simulate needs --out DIR (simulate.csv, simulate.png)");
  if (!grid && !a.simulate && !a.out.empty())
    throw InputError("--out is for a grid or --simulate; a single point writes --report FILE.json");
  if (!a.report.empty()) check_output_file(a.report, "--report");
  if (!a.out.empty()) check_output_dir(a.out, "--out");
  const int device = a.simulate ? resolve_device(a.device) : -1;
  if (const std::string caveat = quadrature_caveat(base.act); !caveat.empty()) warn(caveat);
  gauss_hermite(a.quadrature_points);  // refuses a bad order before any output exists

  std::optional<DirectoryLock> lock;
  CreatedOutputs outputs;
  if (!a.out.empty()) {
    outputs.directory(a.out);
    lock.emplace(a.out);
  }
  auto in_out = [&](const char* name) { return (std::filesystem::path(a.out) / name).string(); };

  if (grid) {
    flush_warnings();
    MeanFieldGrid g;
    {
      TaskProgress bar("grid points", a.quiet);
      g = meanfield_grid(base, w2, b2, [&bar](int64_t done, int64_t total) { bar.update(done, total); });
    }
    int nulls = 0;
    std::string first;
    for (const MeanFieldPoint& p : g.points)
      if (!p.warnings.empty()) {
        if (nulls++ == 0) first = p.warnings.front();
      }
    if (nulls > 0)
      warn(std::to_string(nulls) + " of " + std::to_string(g.points.size()) +
           " grid points have null values (phase.csv's phase column says which); the first: " + first);
    write_file_atomically(in_out("phase.csv"), meanfield_phase_csv(g));
    write_file_atomically(in_out("boundary.csv"), meanfield_boundary_csv(g));
    write_chi1_plot(in_out("chi1.png"), g);
    const bool drawn = write_phase_plot(in_out("phase.png"), g);
    int crossings = 0;
    for (const BoundaryPoint& bp : g.boundary) crossings += std::isfinite(bp.sigma_w2) ? 1 : 0;
    if (!drawn) warn("no sigma_b2 row of the grid crosses chi1 = 1 within its sigma_w2 range: phase.png not drawn");
    outputs.keep();
    flush_warnings();
    if (!a.quiet) {
      std::cout << "meanfield " << activation_name(base.act) << ": " << g.points.size() << " grid points, "
                << crossings << " of " << b2.size() << " sigma_b2 rows cross chi1 = 1\n";
      for (const BoundaryPoint& bp : g.boundary)
        if (std::isfinite(bp.sigma_w2))
          std::cout << "  sigma_b2 " << show(bp.sigma_b2) << ": chi1 = 1 at sigma_w2 " << show(bp.sigma_w2)
                    << " (q_star " << show(bp.q_star) << ")\n";
      std::cout << "  written: " << in_out("phase.csv") << ", boundary.csv, chi1.png" << (drawn ? ", phase.png" : "")
                << "\n";
    }
    return 0;
  }

  base.sigma_w2 = w2[0];
  base.sigma_b2 = b2[0];
  MeanFieldPoint point;
  std::optional<SimulateResult> sim;
  if (a.simulate) {
    SimulateConfig config;
    config.theory = base;
    config.depth = a.depth;
    config.width = a.width;
    config.pairs = a.pairs;
    config.c0 = a.c0;
    config.seed = a.seed;
    config.device = device;
    flush_warnings();
    TaskProgress bar("layers", a.quiet);
    sim = meanfield_simulate(config, [&bar](int64_t done, int64_t total) { bar.update(done, total); });
    point = sim->point;
  } else {
    point = meanfield_point(base);
  }
  for (const std::string& w : point.warnings) warn(w);
  if (!a.report.empty()) {
    outputs.file(a.report);
    write_file_atomically(a.report, meanfield_point_json(point).dump(2) + "\n");
  }
  if (sim) {
    write_file_atomically(in_out("simulate.csv"), meanfield_simulate_csv(*sim));
    write_simulate_plot(in_out("simulate.png"), *sim);
  }
  outputs.keep();
  flush_warnings();
  if (!a.quiet) {
    print_point(point);
    if (sim) {
      const SimulateLayer& last = sim->layers.back();
      std::cout << "  simulated on " << sim->device << " in " << show(sim->seconds) << " s: " << a.pairs
                << " pairs, width " << a.width << ", depth " << a.depth << "; layer " << last.layer << ": q "
                << show(last.q_measured) << " (theory " << show(last.q_theory) << ", expected sd "
                << show(last.q_sd_expected) << "), c " << show(last.c_measured) << " (theory "
                << show(last.c_theory) << ", observed sd " << show(last.c_sd_observed) << ")\n"
                << "  written: " << in_out("simulate.csv") << ", simulate.png\n";
    }
    if (!a.report.empty()) std::cout << "  report written to " << a.report << "\n";
  }
  return 0;
}

}  // namespace

Command add_meanfield_command(CLI::App& app) {
  auto args = std::make_shared<MeanFieldArgs>();
  args->activation = "tanh";
  CLI::App* cmd = app.add_subcommand(
      "meanfield", "mean-field signal propagation: q*, chi1, c*, depth scales, the order-to-chaos grid, "
                   "and a deep random network beside the theory (MATH.md §11)");
  add_activation_flags(cmd, *args);
  cmd->add_option("--sigma-w2", args->sigma_w2, "σ_w²: A, or a grid A:B:STEPS")->capture_default_str();
  cmd->add_option("--sigma-b2", args->sigma_b2, "σ_b²: A, or a grid A:B:STEPS")->capture_default_str();
  whole(cmd->add_option("--quadrature-points", args->quadrature_points,
                        "Gauss–Hermite points per dimension (2.." + std::to_string(kMaxQuadraturePoints) + ")")
            ->capture_default_str(),
        2, kMaxQuadraturePoints);
  positive(cmd->add_option("--q0", args->q0, "q of the inputs: where the q-map starts, and the simulated inputs' "
                                             "(1/N)|z|²")
               ->capture_default_str());
  finite(cmd->add_option("--c0", args->c0, "correlation of each simulated input pair, in [-1, 1)")
             ->capture_default_str());
  cmd->add_flag("--simulate", args->simulate, "propagate input pairs through a deep random network (needs --out)");
  whole(cmd->add_option("--depth", args->depth, "layers L of --simulate")->capture_default_str(), 1, 100000);
  whole(cmd->add_option("--width", args->width, "width N of --simulate")->capture_default_str(), int64_t{2},
        int64_t{46340});
  whole(cmd->add_option("--pairs", args->pairs, "input pairs P of --simulate")->capture_default_str(), int64_t{2});
  whole(cmd->add_option("--seed", args->seed, "seed of --simulate's network and inputs (Philox streams)")
            ->capture_default_str(),
        uint64_t{0});
  add_device_flag(cmd, args->device);
  cmd->add_option("--report", args->report, "single point: write the JSON report here");
  cmd->add_option("--out", args->out, "grid: phase.csv, boundary.csv, chi1.png, phase.png; --simulate: "
                                      "simulate.csv, simulate.png");
  cmd->add_flag("--quiet", args->quiet, "nothing on stdout");
  return {cmd, [args] { return run_meanfield(*args); }};
}

}  // namespace taylorscope::cli
