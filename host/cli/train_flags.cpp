// The trainer's flags, shared by `train` and `dominance` (which trains θ* at
// each hidden width with them). --hidden is each command's own.
#include "commands.hpp"
#include "flag_checks.hpp"
#include "taylorscope/errors.hpp"

namespace taylorscope::cli {

void add_trainer_flags(CLI::App* cmd, TrainerFlags& f, const std::string& default_precision) {
  TrainConfig& c = f.config;
  add_activation_flags(cmd, f);
  cmd->add_option("--optimizer", f.optimizer, "sgd, momentum, adam or rngd")->capture_default_str();
  positive(cmd->add_option("--lr", c.opt.lr, "learning rate α (> 0)")->capture_default_str());
  whole(cmd->add_option("--batch", c.batch, "mini-batch size (≥ 1)")->capture_default_str(), int64_t{1});
  whole(cmd->add_option("--epochs", c.epochs, "epochs")->capture_default_str(), 0);
  below_one(cmd->add_option("--momentum", c.opt.momentum, "β of the heavy ball, in [0, 1)")->capture_default_str());
  at_least(cmd->add_option("--l2", c.opt.l2, "L2 weight decay of U and W (≥ 0)")->capture_default_str(), 0.0);
  below_one(cmd->add_option("--beta1", c.opt.beta1, "Adam β1, in [0, 1)")->capture_default_str());
  below_one(cmd->add_option("--beta2", c.opt.beta2, "Adam β2, in [0, 1)")->capture_default_str());
  positive(cmd->add_option("--eps", c.opt.eps, "Adam ε (> 0)")->capture_default_str());
  whole(cmd->add_option("--rngd-period", c.opt.rngd_period, "RNGD: refresh the RFIM every T steps (≥ 1)")
            ->capture_default_str(),
        1);
  positive(cmd->add_option("--rngd-damping", c.opt.rngd_damping, "RNGD: λ in (G + λI)^-1 (> 0)")->capture_default_str());
  positive(cmd->add_option("--rngd-omega", c.opt.rngd_omega, "RNGD: ω of the relu_ω smoothing for relu (> 0)")
               ->capture_default_str());
  add_init_flags(cmd, f, "seed of the initialisation and the shuffling");
  cmd->add_option("--early-stop", f.early_stop, "grad-dot, eval-loss or none")->capture_default_str();
  whole(cmd->add_option("--patience", c.patience, "eval-loss: epochs without a new minimum (≥ 1)")
            ->capture_default_str(),
        1);
  add_device_flag(cmd, f.device);
  add_save_precision_flag(cmd, f.save_precision, default_precision);
}

NpyPrecision parse_save_precision(const std::string& name) {
  if (name == "f32") return NpyPrecision::f32;
  if (name == "f64") return NpyPrecision::f64;
  throw InputError("--save-precision must be f32 or f64, got '" + name + "'");
}

TrainConfig resolve_trainer_flags(const TrainerFlags& f, NpyPrecision* save_precision) {
  TrainConfig c = f.config;
  c.act = resolve_activation_flags(f);
  c.init = f.init;
  c.init_scale = f.init_scale;
  c.seed = f.seed;
  c.opt.kind = parse_optimizer(f.optimizer);
  c.early_stop = parse_early_stop(f.early_stop);
  *save_precision = parse_save_precision(f.save_precision);
  check_optimizer_config(c.opt);
  return c;
}

Dataset load_eval_data(const DataFlags& train_flags, const std::string& eval_spec, const Dataset& train_set) {
  DataFlags eval_flags = train_flags;
  eval_flags.spec = eval_spec;
  eval_flags.options.flag = "--eval";  // its errors name the flag the user got wrong (F5)
  eval_flags.options.standardize_like = &train_set;  // the train set's statistics, not its own
  return load_data(eval_flags);
}

}  // namespace taylorscope::cli
