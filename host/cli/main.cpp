// `taylorscope`: exit 0 on success, 2 on a usage or input error, 1 on
// anything else (INTERFACES.md). A failing command prints exactly one line,
// "taylorscope: error: …": warnings it had queued are dropped, and a message
// that spans lines is folded into one, so scripts can read stderr line by line.
//
// Under mpirun every rank runs this main; rank 0 alone prints (the other
// ranks' stdout goes nowhere) and writes. A rank that fails ends the whole
// job (abort_processes) so that no rank waits forever in a collective.
#include <chrono>
#include <streambuf>
#include <iostream>
#include <new>
#include <string>
#include <thread>

#include "commands.hpp"
#include "taylorscope/communicator.hpp"
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

// One error line, then — in a job of several ranks — the end of the job.
// Every rank usually fails alike (each reads the same flags and files), so
// rank 0 speaks at once and the others wait a moment before speaking: if
// rank 0 failed too, its abort ends them first and the error is said once;
// if only rank r failed, its line (naming the rank) still comes.
int fail(const std::string& message, int status) {
  using taylorscope::world;
  taylorscope::discard_warnings();
  std::cout.flush();
  const int ranks = world().size(), rank = world().rank();
  if (ranks > 1 && rank != 0) std::this_thread::sleep_for(std::chrono::seconds(2));
  // One write of the whole line: under mpirun the launcher forwards a
  // rank's stderr in the chunks it was written in, and would otherwise put
  // its own abort banner between "taylorscope: error: " and the message.
  const std::string line = "taylorscope: error: " +
                           (ranks > 1 && rank != 0 ? "rank " + std::to_string(rank) + ": " : std::string()) +
                           one_line(message) + "\n";
  std::cerr.write(line.data(), static_cast<std::streamsize>(line.size()));
  std::cerr.flush();
  if (ranks > 1) taylorscope::abort_processes(status);
  taylorscope::finish_processes();
  return status;
}

// Where the stdout of ranks other than 0 goes.
struct NullBuffer : std::streambuf {
  int overflow(int ch) override { return traits_type::not_eof(ch); }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace taylorscope;
  start_processes(&argc, &argv);
  // Never destroyed: std::cout is flushed after main returns (by the
  // iostreams' own exit handler), and a static buffer destroyed before it
  // would be written to after its lifetime.
  static NullBuffer* const nowhere = new NullBuffer;
  if (!world().is_root()) std::cout.rdbuf(nowhere);
  CLI::App app{"taylorscope: exact Taylor expansion of a softmax MLP's cross-entropy action"};
  app.require_subcommand(1);
  const cli::Command commands[] = {cli::add_expand_command(app), cli::add_train_command(app),
                                   cli::add_tensors_command(app), cli::add_dominance_command(app),
                                   cli::add_meanfield_command(app), cli::add_bn_check_command(app),
                                   cli::add_spurious_command(app)};
  try {
    // The flag validators (flag_checks.hpp) throw InputError from inside parse.
    app.parse(argc, argv);
    for (const cli::Command& command : commands)
      if (*command.app) {
        const int status = command.run();
        flush_warnings();  // any raised after the command's own flush
        finish_processes();
        return status;
      }
    return fail("no command ran", 1);
  } catch (const CLI::CallForHelp& e) {
    finish_processes();
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    finish_processes();
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
