// `taylorscope`: exit 0 on success, 2 on a usage or input error (one line on
// stderr), 1 on anything else (INTERFACES.md).
#include <iostream>

#include "commands.hpp"
#include "taylorscope/errors.hpp"

int main(int argc, char** argv) {
  using namespace taylorscope;
  CLI::App app{"taylorscope: exact Taylor expansion of a softmax MLP's cross-entropy action"};
  app.require_subcommand(1);
  const cli::Command commands[] = {cli::add_expand_command(app), cli::add_train_command(app),
                                   cli::add_tensors_command(app), cli::add_dominance_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "taylorscope: " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    for (const cli::Command& command : commands)
      if (*command.app) return command.run();
  } catch (const InputError& e) {
    std::cerr << "taylorscope: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "taylorscope: error: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
