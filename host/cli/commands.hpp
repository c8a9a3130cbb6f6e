// The subcommands of the `taylorscope` executable. Each registers its flags
// on the CLI11 app and runs after parsing; errors travel as exceptions to
// main(), which turns them into one line and an exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "taylorscope/backends.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/training.hpp"

namespace taylorscope::cli {

// ---- flag groups: each flag's name, help, check and default defined once
// (model_flags.cpp), for every command that takes it.

// --activation --omega --iota.
struct ActivationFlags {
  std::string activation = "silu";
  double omega = 1.0, iota = 0.0;
};
void add_activation_flags(CLI::App* cmd, ActivationFlags& flags);
Activation resolve_activation_flags(const ActivationFlags& flags);

// --init --init-scale --seed: a random θ. One default for every command, the
// library's (TrainConfig: Glorot-uniform, docs/math.md §9). `seed_help` says
// what else the seed drives in that command (train: the shuffling);
// `excluded_by` is --params where a θ can be read instead.
struct InitFlags {
  std::string init = TrainConfig{}.init;
  double init_scale = TrainConfig{}.init_scale;
  uint64_t seed = TrainConfig{}.seed;
};
void add_init_flags(CLI::App* cmd, InitFlags& flags, const std::string& seed_help,
                    CLI::Option* excluded_by = nullptr);

// --hidden: one width (expand's random θ, train). dominance takes a list.
CLI::Option* add_hidden_flag(CLI::App* cmd, int64_t& hidden, const std::string& help);
inline const int64_t kDefaultHidden = TrainConfig{}.hidden;

// The model of a random θ: activation, width and initialisation (expand).
struct ModelFlags : ActivationFlags, InitFlags {
  int64_t hidden = kDefaultHidden;
};

// --device (every command): cpu, cuda, cuda:<i> or auto (backends.hpp).
void add_device_flag(CLI::App* cmd, std::string& device);

// --save-precision: f32 or f64. The default is the command's: f32 where θ
// is a result to keep, f64 in dominance, so that its best/ holds θ* exactly
// as the analysis saw it (`expand --params H<H>/best` gives its numbers).
void add_save_precision_flag(CLI::App* cmd, std::string& precision, const std::string& default_precision);

// The data flags every command accepts (INTERFACES.md "Data sets").
struct DataFlags {
  std::string spec;
  DataOptions options;
  bool scale = false, no_scale = false;
};
void add_data_flags(CLI::App* cmd, DataFlags& flags, const std::string& name = "--data");
Dataset load_data(const DataFlags& flags);

// The trainer's flags (`train`, and `dominance` at each width): the model's
// activation and initialisation groups, the optimizer, early stopping,
// --device and --save-precision; not --hidden.
struct TrainerFlags : ActivationFlags, InitFlags {
  std::string optimizer = "sgd";
  std::string early_stop = "none";
  std::string device = "auto";
  std::string save_precision;
  TrainConfig config;
};
void add_trainer_flags(CLI::App* cmd, TrainerFlags& flags, const std::string& default_precision = "f32");
// --save-precision (train, dominance, expand --save-params): f32 or f64.
NpyPrecision parse_save_precision(const std::string& name);
// Parses the names into the config; throws InputError on a bad value.
TrainConfig resolve_trainer_flags(const TrainerFlags& flags, NpyPrecision* save_precision);
// The --eval set, standardized (when asked) with the train set's statistics.
Dataset load_eval_data(const DataFlags& train_flags, const std::string& eval_spec, const Dataset& train_set);

// Returns the subcommand and fills *run with what to execute when it was chosen.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};
Command add_expand_command(CLI::App& app);
Command add_train_command(CLI::App& app);
Command add_tensors_command(CLI::App& app);
Command add_dominance_command(CLI::App& app);
Command add_meanfield_command(CLI::App& app);
Command add_bn_check_command(CLI::App& app);
Command add_spurious_command(CLI::App& app);

}  // namespace taylorscope::cli
