// `taylorscope`: exit 0 on success, 2 on a usage or input error (one line on
// stderr), 1 on anything else (INTERFACES.md).
#include <iostream>

#include "commands.hpp"
#include "taylorscope/errors.hpp"

int main(int argc, char** argv) {
  using namespace taylorscope;
  CLI::App app{"taylorscope: exact Taylor expansion of a softmax MLP's cross-entropy action"};
  app.require_subcommand(1);
  const cli::Command expand = cli::add_expand_command(app);
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
    if (*expand.app) return expand.run();
  } catch (const InputError& e) {
    std::cerr << "taylorscope: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "taylorscope: error: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
