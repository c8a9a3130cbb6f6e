// The subcommands of the `taylorscope` executable. Each registers its flags
// on the CLI11 app and runs after parsing; errors travel as exceptions to
// main(), which turns them into one line and an exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "taylorscope/dataset.hpp"

namespace taylorscope::cli {

// The data flags every command accepts (INTERFACES.md "Data sets").
struct DataFlags {
  std::string spec;
  DataOptions options;
  bool scale = false, no_scale = false;
};
void add_data_flags(CLI::App* cmd, DataFlags& flags, const std::string& name = "--data");
Dataset load_data(const DataFlags& flags);

// Returns the subcommand and fills *run with what to execute when it was chosen.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};
Command add_expand_command(CLI::App& app);
Command add_train_command(CLI::App& app);

}  // namespace taylorscope::cli
