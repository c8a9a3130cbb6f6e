// Running the `taylorscope` executable from a test, as scripts do.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace taylorscope::testing {

struct CliRun {
  int status = -1;
  std::string out, err;
};

// Runs `PREFIX taylorscope ARGS` through the shell (PREFIX: environment
// settings, a launcher such as mpirun), capturing stdout and stderr.
inline CliRun run_cli_with_prefix(const std::string& prefix, const std::string& args) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("ts_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string out = (dir / "stdout").string(), err = (dir / "stderr").string();
  const std::string cmd = prefix + " " + std::string(TS_CLI_PATH) + " " + args + " >" + out + " 2>" + err;
  const int raw = std::system(cmd.c_str());
  CliRun r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream o(out), e(err);
  r.out.assign(std::istreambuf_iterator<char>(o), {});
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  return r;
}

// Runs `taylorscope ARGS` through the shell, capturing stdout and stderr.
inline CliRun run_cli(const std::string& args) { return run_cli_with_prefix("", args); }

inline bool have_fashion_mnist() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
}

inline int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace taylorscope::testing
