// `taylorscope`: exit 0 on success, 2 on a usage or input error, 1 on
// anything else (INTERFACES.md). A failing command prints exactly one line,
// "taylorscope: error: …": warnings it had queued are dropped, and a message
// that spans lines is folded into one, so scripts can read stderr line by line.
#include <iostream>
#include <new>
#include <string>

#include "commands.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/warnings.hpp"

namespace {

// Newlines (and the blanks around them) become one space; no trailing space.
std::string one_line(const std::string& message) {
  std::string out;
  bool folding = false;
  for (char ch : message) {
    if (ch == '\n' || ch == '\r') {
      while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
      folding = true;
      continue;
    }
    if (folding && (ch == ' ' || ch == '\t')) continue;
    if (folding && !out.empty()) out += ' ';
    folding = false;
    out += ch;
  }
  return out;
}

int fail(const std::string& message, int status) {
  taylorscope::discard_warnings();
  std::cout.flush();
  std::cerr << "taylorscope: error: " << one_line(message) << std::endl;
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace taylorscope;
  CLI::App app{"taylorscope: exact Taylor expansion of a softmax MLP's cross-entropy action"};
  app.require_subcommand(1);
  const cli::Command commands[] = {cli::add_expand_command(app), cli::add_train_command(app),
                                   cli::add_tensors_command(app), cli::add_dominance_command(app)};
  try {
    // The flag validators (flag_checks.hpp) throw InputError from inside parse.
    app.parse(argc, argv);
    for (const cli::Command& command : commands)
      if (*command.app) {
        const int status = command.run();
        flush_warnings();  // any raised after the command's own flush
        return status;
      }
    return fail("no command ran", 1);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (see --help)", 2);
  } catch (const InputError& e) {
    return fail(e.what(), 2);
  } catch (const std::bad_alloc&) {
    return fail("out of memory: an allocation failed (std::bad_alloc)", 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}
