// `taylorscope dominance`: seed 000's dominance analysis across hidden widths.
// For each H: train θ* with the trainer's flags into OUT/H<H>/ (a complete
// `train` run directory), then analyse θ* on the --eval split
// (dominance.hpp). OUT/dominance.json and OUT/dominance.csv are rewritten
// after every width, so an interrupted run keeps what it finished; --resume
// continues each width's training from its checkpoint.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "flag_checks.hpp"
#include "progress.hpp"
#include "taylorscope/atomic_file.hpp"
#include "taylorscope/dominance.hpp"
#include "taylorscope/dominance_report.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/output_paths.hpp"
#include "taylorscope/sample_action.hpp"
#include "taylorscope/run_lock.hpp"
#include "taylorscope/tensor_report.hpp"
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

// Width H's run directory.
std::string width_dir(const std::string& out, int64_t H) {
  return (std::filesystem::path(out) / ("H" + std::to_string(H))).string();
}

int run_dominance(DominanceArgs& a) {
  namespace fs = std::filesystem;
  if (a.hidden.empty()) throw InputError("--hidden needs at least one width");
  // --out is judged before the data load, and every input before OUT is
  // created: a refused run leaves nothing behind.
  check_output_dir(a.out, "--out");
  for (int64_t H : a.hidden) check_output_dir(width_dir(a.out, H), "--out");
  const Dataset train_set = load_data(a.data);
  const Dataset eval_set = load_eval_data(a.data, a.eval_spec, train_set);
  if (!eval_set.balanced)
    warn(eval_set.spec + " is not balanced across classes; docs/math.md §3's closed forms assume balance");
  NpyPrecision precision;
  const TrainConfig base = resolve_trainer_flags(a.trainer, &precision);
  auto train_backend = make_train_backend(a.trainer.device);
  auto pass = make_backend(a.trainer.device);
  auto tensors = make_tensor_backend(a.trainer.device);
  const nlohmann::json settings = settings_json(a, train_set, eval_set, base);
  for (int64_t H : a.hidden) {
    TrainConfig c = base;
    c.hidden = H;
    check_train_inputs(train_set, eval_set, c);
  }
  // One dominance run per OUT for its whole run (creates OUT); each width's
  // run directory is locked again by train().
  const DirectoryLock lock(a.out);
  flush_warnings();

  if (!a.quiet)
    std::cout << "taylorscope dominance: train " << train_set.spec << " (N=" << train_set.N << "), analyse on "
              << eval_set.spec << " (N=" << eval_set.N << "), E = " << eval_set.E << ", M = " << eval_set.M
              << "\n  " << optimizer_name(base.opt.kind) << " lr " << base.opt.lr << ", " << base.epochs
              << " epochs, " << activation_name(base.act) << "; device " << train_backend->device_name()
              << ", float64\n";
  std::vector<WidthAnalysis> rows;
  for (int64_t H : a.hidden) {
    TrainConfig c = base;
    c.hidden = H;
    const std::string dir = width_dir(a.out, H);
    if (!a.quiet) std::cout << "H = " << H << ": training into " << dir << "\n";
    EpochProgress progress(std::cout, c.epochs, a.quiet);
    TrainObserver observer;
    observer.on_batches = [&](int e, int64_t done, int64_t total) { progress.batches(e, done, total); };
    observer.on_epoch = [&](const EpochRecord& r) { progress.epoch(r); };
    // train() locks dir and writes its report.json.
    const TrainResult result = train(train_set, eval_set, c, *train_backend, dir, a.resume, precision, observer);

    const Params theta = load_params((fs::path(dir) / "best").string());
    WidthAnalysis w = analyse_width(eval_set, theta, c.act, a.order, a.bins, *pass, *tensors);
    for (const EpochRecord& r : result.records)
      if (r.epoch == result.chosen_epoch) {
        w.train_loss = r.train_loss, w.train_acc = r.train_acc;
        w.eval_loss = r.eval_loss, w.eval_acc = r.eval_acc;
      }
    w.chosen_epoch = result.chosen_epoch;
    w.chosen_by = result.chosen_by;
    w.train_seconds = result.seconds;
    for (const TensorStatistics& t : w.tensors)
      write_tensor_histograms((fs::path(dir) / ("tensors_n" + std::to_string(t.order) + ".png")).string(), t,
                              eval_set.spec + " at theta*, H = " + std::to_string(H) + ", n = " + std::to_string(t.order));
    rows.push_back(std::move(w));
    if (!a.quiet) std::cout << dominance_summary_line(rows.back()) << std::endl;

    write_file_atomically((fs::path(a.out) / "dominance.json").string(), dominance_report(rows, settings).dump(2) + "\n");
    write_file_atomically((fs::path(a.out) / "dominance.csv").string(), dominance_csv(rows));
  }
  write_dominance_plots(a.out, rows);
  if (!a.quiet)
    std::cout << "  written to " << a.out
              << ": dominance.json, dominance.csv, term_magnitudes.png, term_shares.png, subterm_counts.png, "
                 "dominant_ratio.png, H<H>/ (θ*, curves, tensor histograms)\n";
  return 0;
}

}  // namespace

Command add_dominance_command(CLI::App& app) {
  auto args = std::make_shared<DominanceArgs>();
  args->trainer.save_precision = "f64";  // θ* is analysed from best/: keep it exact
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
  add_trainer_flags(cmd, args->trainer);
  cmd->add_flag("--resume", args->resume, "continue each width's training from its checkpoint");
  cmd->add_flag("--quiet", args->quiet, "no progress or summary lines");
  return {cmd, [args] { return run_dominance(*args); }};
}

}  // namespace taylorscope::cli
