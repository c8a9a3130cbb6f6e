// `taylorscope spurious`: parses the flags into a SpuriousConfig, runs the
// library's study (spurious.hpp) and prints its summary.
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/spurious.hpp"

namespace taylorscope::cli {
namespace {

struct SpuriousArgs {
  std::string k_list, n_list = "same", device = "auto", out, init = "xavier-normal";
  int64_t runs = 100;
  DescentSettings descent;
  bool resume = false, quiet = false;
};

int parse_int(const std::string& text, const std::string& flag) {
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < 1 || v > 65535)
    throw InputError(flag + ": '" + text + "' is not a whole number in 1..65535");
  return static_cast<int>(v);
}

// "6,7,8" or "6..20" or a mix ("8,10..19").
std::vector<int> parse_list(const std::string& text, const std::string& flag) {
  std::vector<int> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t dots = item.find("..");
    if (dots == std::string::npos) {
      out.push_back(parse_int(item, flag));
    } else {
      const int lo = parse_int(item.substr(0, dots), flag), hi = parse_int(item.substr(dots + 2), flag);
      if (hi < lo) throw InputError(flag + ": '" + item + "' is an empty range");
      for (int v = lo; v <= hi; ++v) out.push_back(v);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<std::pair<int, int>> resolve_shapes(const SpuriousArgs& a) {
  const std::vector<int> ks = parse_list(a.k_list, "--k");
  std::vector<std::pair<int, int>> shapes;
  if (a.n_list == "same" || a.n_list == "plus1") {
    for (int k : ks) {
      const int n = a.n_list == "same" ? k : k + 1;
      if (n > 65535) throw InputError("--n plus1: n = k + 1 is above 65535");
      shapes.push_back({k, n});
    }
    return shapes;
  }
  const std::vector<int> ns = parse_list(a.n_list, "--n");
  if (ns.size() != 1 && ns.size() != ks.size())
    throw InputError("--n: give one n, one per k (" + std::to_string(ks.size()) + "), 'same' or 'plus1'");
  for (size_t i = 0; i < ks.size(); ++i) shapes.push_back({ks[i], ns.size() == 1 ? ns[0] : ns[i]});
  return shapes;
}

int run_spurious(const SpuriousArgs& a, const std::string& command) {
  SpuriousConfig c;
  c.shapes = resolve_shapes(a);
  c.runs = a.runs;
  c.descent = a.descent;
  c.descent.init_normal = a.init == "xavier-normal";
  c.device = a.device;
  c.out = a.out;
  c.resume = a.resume;
  c.command = command;
  auto last = std::chrono::steady_clock::now();
  const SpuriousResult r = run_spurious_study(c, [&](const SpuriousProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (a.quiet || (p.done < p.total && now - last < std::chrono::seconds(10))) return;
    last = now;
    std::cerr << "spurious: k=" << p.k << " n=" << p.n << "  " << p.done << "/" << p.total << " runs  ("
              << std::setprecision(3) << p.runs_per_second << " runs/s)\n";
  });
  if (a.quiet) return 0;
  std::cout << "taylorscope spurious: device " << r.device << ", float64, " << r.computed_runs
            << " runs computed, " << r.kept_runs << " kept from an earlier run\n"
            << "   k   n   runs  spurious %   95% CI          paper %   converged  F=0  unfinished\n";
  for (const SpuriousSummary& s : r.summaries) {
    const PublishedRow* p = published_row(s.k, s.n);
    char paper[32] = "-";
    if (p) std::snprintf(paper, sizeof paper, "%.1f", p->pct);
    char line[160];
    std::snprintf(line, sizeof line, "%4d%4d%7lld  %9.1f   [%5.1f, %5.1f]   %7s   %9lld %4lld  %lld\n", s.k, s.n,
                  static_cast<long long>(s.runs), s.spurious_pct, s.ci_low, s.ci_high, paper,
                  static_cast<long long>(s.converged), static_cast<long long>(s.reached_zero),
                  static_cast<long long>(s.unfinished));
    std::cout << line;
  }
  std::cout << "  written to " << a.out << "\n";
  return 0;
}

}  // namespace

Command add_spurious_command(CLI::App& app) {
  auto args = std::make_shared<SpuriousArgs>();
  auto command = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "spurious", "Safran–Shamir: share of GD runs ending at a spurious minimum of a ReLU teacher–student");
  cmd->add_option("--k", args->k_list, "teacher widths: a list, ranges allowed (6..20 or 8,10..19)")->required();
  cmd->add_option("--n", args->n_list, "student widths: same (n = k), plus1 (n = k + 1), or a list")
      ->capture_default_str();
  cmd->add_option("--runs", args->runs, "independent runs per (k, n)")->capture_default_str();
  cmd->add_option("--lr", args->descent.lr, "constant GD step (docs/spurious.md)")->capture_default_str();
  cmd->add_option("--tol", args->descent.tol, "stop when ‖∇F‖ ≤ tol")->capture_default_str();
  cmd->add_option("--max-iter", args->descent.max_iter, "at most this many GD steps per run")->capture_default_str();
  cmd->add_option("--seed", args->descent.seed, "Philox key: run r starts from Xavier draws of (seed, k, n, r)")
      ->capture_default_str();
  cmd->add_option("--init", args->init, "xavier-normal (rotation invariant) or xavier-uniform (same variance; the cube is aligned with the teachers)")
      ->check(CLI::IsMember({"xavier-uniform", "xavier-normal"}))
      ->capture_default_str();
  cmd->add_option("--init-scale", args->descent.init_scale,
                  "multiply the Xavier-uniform bound √(6/(k+n)) (1: the paper's protocol)")
      ->capture_default_str();
  add_device_flag(cmd, args->device);
  cmd->add_option("--out", args->out, "study directory")->required();
  cmd->add_flag("--resume", args->resume, "continue the study in --out (same flags), computing only missing runs");
  cmd->add_flag("--quiet", args->quiet, "no table on stdout, no progress on stderr");
  return {cmd, [args, cmd] {
            std::string typed = "taylorscope spurious";
            for (const auto* o : cmd->get_options())
              if (o->count() > 0 && o->get_name() != "--help") {
                typed += " " + o->get_name();
                if (o->get_expected_min() > 0)
                  for (const std::string& v : o->as<std::vector<std::string>>()) typed += " " + v;
              }
            return run_spurious(*args, typed);
          }};
}

}  // namespace taylorscope::cli
