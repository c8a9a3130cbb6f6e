// `taylorscope train`: trains the MLP on --data, measures on --eval, writes
// the run directory of INTERFACES.md (θ, best/, curves.csv, report.json).
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "progress.hpp"
#include "taylorscope/atomic_file.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/training.hpp"
#include "taylorscope/training_report.hpp"

namespace taylorscope::cli {
namespace {

struct TrainArgs {
  DataFlags data;
  std::string eval_spec;
  std::string out;
  std::string activation = "silu";
  double omega = 1.0, iota = 0.0;
  std::string optimizer = "sgd";
  std::string early_stop = "none";
  std::string device = "auto";
  std::string save_precision = "f32";
  bool resume = false, quiet = false;
  TrainConfig config;
};

int run_train(TrainArgs& a) {
  const Dataset train_set = load_data(a.data);
  DataFlags eval_flags = a.data;
  eval_flags.spec = a.eval_spec;
  eval_flags.options.standardize_like = &train_set;  // the train set's statistics, not its own
  const Dataset eval_set = load_data(eval_flags);
  if (!train_set.balanced)
    std::cerr << "taylorscope: warning: " << train_set.spec << " is not balanced across classes\n";

  TrainConfig& c = a.config;
  c.act = parse_activation(a.activation, a.omega, a.iota);
  c.opt.kind = parse_optimizer(a.optimizer);
  c.early_stop = parse_early_stop(a.early_stop);
  if (a.save_precision != "f32" && a.save_precision != "f64")
    throw InputError("--save-precision must be f32 or f64, got '" + a.save_precision + "'");
  check_optimizer_config(c.opt);
  auto backend = make_train_backend(a.device);

  if (!a.quiet)
    std::cout << "taylorscope train: " << train_set.spec << " (N=" << train_set.N << ") → eval "
              << eval_set.spec << " (N=" << eval_set.N << ")\n  model " << train_set.E << "-"
              << c.hidden << "-" << train_set.M << " " << activation_name(c.act) << ", "
              << optimizer_name(c.opt.kind) << " lr " << c.opt.lr << ", batch " << c.batch
              << ", l2 " << c.opt.l2 << ", seed " << c.seed << "\n  device "
              << backend->device_name() << ", float64\n";
  EpochProgress progress(std::cout, c.epochs, a.quiet);
  TrainObserver observer;
  observer.on_batches = [&](int e, int64_t done, int64_t total) { progress.batches(e, done, total); };
  observer.on_epoch = [&](const EpochRecord& r) { progress.epoch(r); };

  const TrainResult result = train(train_set, eval_set, c, *backend, a.out, a.resume,
                                   a.save_precision == "f64" ? NpyPrecision::f64 : NpyPrecision::f32,
                                   observer);
  const TrainReportContext ctx{train_set, eval_set, c, backend->device_name()};
  const std::string report = (std::filesystem::path(a.out) / "report.json").string();
  write_file_atomically(report, training_report(result, ctx).dump(2) + "\n");
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
  TrainConfig& c = args->config;
  CLI::App* cmd = app.add_subcommand("train", "train the MLP (SGD, momentum, Adam, RNGD)");
  add_data_flags(cmd, args->data);
  cmd->add_option("--eval", args->eval_spec, "evaluation data (same forms as --data)")->required();
  cmd->add_option("--out", args->out, "run directory")->required();
  cmd->add_option("--hidden", c.hidden, "hidden width H")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--activation", args->activation,
                  "silu relu tanh sigmoid gelu softplus elu relu_omega")->capture_default_str();
  cmd->add_option("--omega", args->omega, "ω of relu_omega")->capture_default_str();
  cmd->add_option("--iota", args->iota, "ι of relu_omega")->capture_default_str();
  cmd->add_option("--optimizer", args->optimizer, "sgd, momentum, adam or rngd")->capture_default_str();
  cmd->add_option("--lr", c.opt.lr, "learning rate α (> 0)")->capture_default_str();
  cmd->add_option("--batch", c.batch, "mini-batch size (≥ 1)")->capture_default_str();
  cmd->add_option("--epochs", c.epochs, "epochs")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--momentum", c.opt.momentum, "β of the heavy ball")->capture_default_str();
  cmd->add_option("--l2", c.opt.l2, "L2 weight decay of U and W")->capture_default_str();
  cmd->add_option("--beta1", c.opt.beta1, "Adam β1")->capture_default_str();
  cmd->add_option("--beta2", c.opt.beta2, "Adam β2")->capture_default_str();
  cmd->add_option("--eps", c.opt.eps, "Adam ε")->capture_default_str();
  cmd->add_option("--rngd-period", c.opt.rngd_period, "RNGD: refresh the RFIM every T steps")
      ->capture_default_str();
  cmd->add_option("--rngd-damping", c.opt.rngd_damping, "RNGD: λ in (G + λI)^-1")->capture_default_str();
  cmd->add_option("--rngd-omega", c.opt.rngd_omega, "RNGD: ω of the relu_ω smoothing for relu")
      ->capture_default_str();
  cmd->add_option("--seed", c.seed, "seed of the initialisation and the shuffling")->capture_default_str();
  cmd->add_option("--init", c.init, "glorot or gaussian")->capture_default_str();
  cmd->add_option("--init-scale", c.init_scale, "std of the gaussian init")->capture_default_str();
  cmd->add_option("--early-stop", args->early_stop, "grad-dot, eval-loss or none")->capture_default_str();
  cmd->add_option("--patience", c.patience, "eval-loss: epochs without a new minimum")->capture_default_str();
  cmd->add_option("--device", args->device, "cpu, cuda, cuda:<i> or auto")->capture_default_str();
  cmd->add_option("--save-precision", args->save_precision, "f32 or f64")->capture_default_str();
  cmd->add_flag("--resume", args->resume, "continue from --out's checkpoint if there is one");
  cmd->add_flag("--quiet", args->quiet, "no progress or per-epoch lines");
  return {cmd, [args] { return run_train(*args); }};
}

}  // namespace taylorscope::cli
