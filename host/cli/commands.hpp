// The subcommands of the `taylorscope` executable. Each registers its flags
// on the CLI11 app and runs after parsing; errors travel as exceptions to
// main(), which turns them into one line and an exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "taylorscope/dataset.hpp"
#include "taylorscope/training.hpp"

namespace taylorscope::cli {

// The data flags every command accepts (INTERFACES.md "Data sets").
struct DataFlags {
  std::string spec;
  DataOptions options;
  bool scale = false, no_scale = false;
};
void add_data_flags(CLI::App* cmd, DataFlags& flags, const std::string& name = "--data");
Dataset load_data(const DataFlags& flags);

// The trainer's flags (`train`, and `dominance` at each width); not --hidden.
struct TrainerFlags {
  std::string activation = "silu";
  double omega = 1.0, iota = 0.0;
  std::string optimizer = "sgd";
  std::string early_stop = "none";
  std::string device = "auto";
  std::string save_precision = "f32";
  TrainConfig config;
};
void add_trainer_flags(CLI::App* cmd, TrainerFlags& flags);
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

}  // namespace taylorscope::cli
