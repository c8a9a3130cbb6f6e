// `taylorscope dominance`: seed 000's dominance analysis across hidden widths,
// the flags of the library call dominance() (dominance.hpp), which trains θ*
// at each H into OUT/H<H>/, analyses it on the --eval split and rewrites
// OUT/dominance.json and OUT/dominance.csv after every width, so an
// interrupted run keeps what it finished; --resume continues each width's
// training from its checkpoint.
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "flag_checks.hpp"
#include "progress.hpp"
#include "taylorscope/dominance.hpp"
#include "taylorscope/dominance_report.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/output_paths.hpp"
#include "taylorscope/run_lock.hpp"
#include "taylorscope/sample_action.hpp"  // kMaxOrder
#include "taylorscope/training_report.hpp"
#include "taylorscope/warnings.hpp"

namespace taylorscope::cli {
namespace {

struct DominanceArgs {
  DataFlags data;
  std::string eval_spec;
  std::string out;
  std::vector<int64_t> hidden;
  int order = 6;
  int bins = 64;
  bool resume = false, quiet = false;
  TrainerFlags trainer;
};

// The trainer's settings (as in a run's report.json) and the analysis's own.
nlohmann::json settings_json(const DominanceArgs& a, const Dataset& tr, const Dataset& ev, const TrainConfig& c) {
  nlohmann::json s = training_settings(tr, ev, c);
  s["hidden"] = a.hidden;
  s["pad32"] = a.data.options.pad32;
  s["standardize"] = a.data.options.standardize;
  s["order"] = a.order;
  s["bins"] = a.bins;
  return s;
}

int run_dominance(DominanceArgs& a) {
  // --out is judged before the data load, and every input before OUT is
  // created: a refused run leaves nothing behind.
  if (a.hidden.empty()) throw InputError("--hidden needs at least one width");
  check_output_dir(a.out, "--out");
  for (int64_t H : a.hidden) check_output_dir(dominance_width_dir(a.out, H), "--out");
  const Dataset train_set = load_data(a.data);
  const Dataset eval_set = load_eval_data(a.data, a.eval_spec, train_set);
  if (!eval_set.balanced)
    warn(eval_set.spec + " is not balanced across classes; docs/math.md §3's closed forms assume balance");
  DominanceOptions o;
  o.train = resolve_trainer_flags(a.trainer, &o.save_precision);
  o.hidden = a.hidden;
  o.order = a.order;
  o.bins = a.bins;
  o.resume = a.resume;
  o.out = a.out;
  Backends backends = make_backends(a.trainer.device, {.pass = true, .tensors = true, .train = true});
  o.settings = settings_json(a, train_set, eval_set, o.train);
  check_dominance_inputs(train_set, eval_set, o);
  // One dominance run per OUT for its whole run (creates OUT); each width's
  // run directory is locked again by train(). Rank 0 alone creates and
  // locks: the other ranks of an mpirun job write nothing.
  std::optional<DirectoryLock> lock;
  if (world().is_root()) lock.emplace(a.out);
  flush_warnings();

  if (!a.quiet)
    std::cout << "taylorscope dominance: train " << train_set.spec << " (N=" << train_set.N << "), analyse on "
              << eval_set.spec << " (N=" << eval_set.N << "), E = " << eval_set.E << ", M = " << eval_set.M
              << "\n  " << optimizer_name(o.train.opt.kind) << " lr " << o.train.opt.lr << ", " << o.train.epochs
              << " epochs, " << activation_name(o.train.act) << "; device " << backends.train->device_name()
              << (world().size() > 1 ? " (rank 0 of " + std::to_string(world().size()) + ")" : "") << ", float64\n";
  std::optional<EpochProgress> progress;
  DominanceObserver observer;
  observer.on_width = [&](int64_t H, const std::string& dir) {
    if (!a.quiet) std::cout << "H = " << H << ": training into " << dir << "\n";
    progress.emplace(std::cout, o.train.epochs, a.quiet);
  };
  observer.training.on_batches = [&](int e, int64_t done, int64_t total) { progress->batches(e, done, total); };
  observer.training.on_epoch = [&](const EpochRecord& r) { progress->epoch(r); };
  observer.on_analysed = [&](const WidthAnalysis& w) {
    if (!a.quiet) std::cout << dominance_summary_line(w) << std::endl;
  };
  dominance(train_set, eval_set, o, backends, observer);
  if (!a.quiet)
    std::cout << "  written to " << a.out
              << ": dominance.json, dominance.csv, term_magnitudes.png, term_shares.png, subterm_counts.png, "
                 "dominant_ratio.png, H<H>/ (θ*, curves, tensor histograms)\n";
  return 0;
}

}  // namespace

Command add_dominance_command(CLI::App& app) {
  auto args = std::make_shared<DominanceArgs>();
  CLI::App* cmd = app.add_subcommand(
      "dominance", "seed 000's dominance analysis: train θ* at each H, decompose S_2, S_3 on --eval");
  add_data_flags(cmd, args->data);
  cmd->add_option("--eval", args->eval_spec, "evaluation data: θ* is analysed here")->required();
  cmd->add_option("--out", args->out, "output directory")->required();
  whole(cmd->add_option("--hidden", args->hidden, "hidden widths, comma-separated")->delimiter(',')->required(),
        int64_t{1});
  whole(cmd->add_option("--order", args->order, "expansion order K (5.." + std::to_string(kMaxOrder) +
                                                    ": D/S up to n = 4)")
            ->capture_default_str(),
        5, kMaxOrder);
  whole(cmd->add_option("--bins", args->bins, "histogram bins of the tensor statistics (1..100000)")
            ->capture_default_str(),
        1, 100000);
  add_trainer_flags(cmd, args->trainer, "f64");  // best/ holds θ*: exact, as the analysis saw it
  cmd->add_flag("--resume", args->resume, "continue each width's training from its checkpoint");
  cmd->add_flag("--quiet", args->quiet, "no progress or summary lines");
  return {cmd, [args] { return run_dominance(*args); }};
}

}  // namespace taylorscope::cli
