// `taylorscope train`: trains the MLP on --data, measures on --eval, writes
// the run directory of INTERFACES.md (θ, best/, curves.csv, report.json).
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "flag_checks.hpp"
#include "progress.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/output_paths.hpp"
#include "taylorscope/training.hpp"
#include "taylorscope/warnings.hpp"

namespace taylorscope::cli {
namespace {

struct TrainArgs {
  DataFlags data;
  std::string eval_spec;
  std::string out;
  int64_t hidden = kDefaultHidden;
  bool resume = false, quiet = false;
  TrainerFlags trainer;
};

int run_train(TrainArgs& a) {
  // A typo in --out costs a line, not a data load; nothing is created until
  // train() has judged every input.
  check_output_dir(a.out, "--out");
  const Dataset train_set = load_data(a.data);
  const Dataset eval_set = load_eval_data(a.data, a.eval_spec, train_set);
  if (!train_set.balanced) warn(train_set.spec + " is not balanced across classes");

  NpyPrecision precision;
  TrainConfig c = resolve_trainer_flags(a.trainer, &precision);
  c.hidden = a.hidden;
  auto backend = make_train_backend(a.trainer.device);

  TrainObserver observer;
  observer.on_start = [&] {
    flush_warnings();
    if (a.quiet) return;
    std::cout << "taylorscope train: " << train_set.spec << " (N=" << train_set.N << ") → eval "
              << eval_set.spec << " (N=" << eval_set.N << ")\n  model " << train_set.E << "-"
              << c.hidden << "-" << train_set.M << " " << activation_name(c.act) << ", "
              << optimizer_name(c.opt.kind) << " lr " << c.opt.lr << ", batch " << c.batch
              << ", l2 " << c.opt.l2 << ", seed " << c.seed << "\n  device "
              << backend->device_name() << ", float64" << std::endl;
  };
  EpochProgress progress(std::cout, c.epochs, a.quiet);
  observer.on_batches = [&](int e, int64_t done, int64_t total) { progress.batches(e, done, total); };
  observer.on_epoch = [&](const EpochRecord& r) { progress.epoch(r); };

  const TrainResult result = train(train_set, eval_set, c, *backend, a.out, a.resume,
                                   precision, observer);
  if (!a.quiet) {
    if (a.resume && result.resumed_from < 0)
      std::cout << "  (--resume: no checkpoint in " << a.out << ", so this was a fresh run)\n";
    if (result.resumed_from >= 0) std::cout << "  resumed from the checkpoint of epoch " << result.resumed_from << "\n";
    auto show = [](int e) { return e >= 0 ? std::to_string(e) : std::string("not reached"); };
    std::cout << "  stopping epochs: grad-dot " << show(result.stop.by_grad_dot) << ", eval-loss "
              << show(result.stop.by_eval_loss) << "; best/ holds epoch " << result.chosen_epoch
              << " (" << result.chosen_by << ")\n  written to " << a.out << "\n";
  }
  return 0;
}

}  // namespace

Command add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "train the MLP (SGD, momentum, Adam, RNGD)");
  add_data_flags(cmd, args->data);
  cmd->add_option("--eval", args->eval_spec, "evaluation data (same forms as --data)")->required();
  cmd->add_option("--out", args->out, "run directory")->required();
  add_hidden_flag(cmd, args->hidden, "hidden width H");
  add_trainer_flags(cmd, args->trainer);
  cmd->add_flag("--resume", args->resume, "continue from --out's checkpoint if there is one");
  cmd->add_flag("--quiet", args->quiet, "no progress or per-epoch lines");
  return {cmd, [args] { return run_train(*args); }};
}

}  // namespace taylorscope::cli
