// Running `mpirun -np R taylorscope …` from a test and comparing what it
// wrote with a single process's (INTERFACES.md "Several processes").
// Tests that need it skip, with the reason, in a build without MPI.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_support.hpp"

namespace taylorscope::testing {

// MPI_LAUNCHER is mpiexec's path when CMake found MPI, else "".
inline bool have_mpi() { return std::string(TS_MPIEXEC).size() > 0; }

#define TS_SKIP_WITHOUT_MPI() \
  if (!::taylorscope::testing::have_mpi()) GTEST_SKIP() << "this build has no MPI (install libopenmpi-dev)"

// `mpirun -np ranks taylorscope ARGS`: oversubscribed (CI has 2 cores and
// runs -np 3), allowed as root (CI runs as root), with one OpenMP thread per
// rank so that ranks do not fight over the cores, and without vader's
// single-copy transfers (CMA), which a container without CAP_SYS_PTRACE
// refuses for every message over 4 KiB (tests/CMakeLists.txt sets the same
// for the tests ctest starts under mpirun).
inline CliRun run_mpi(int ranks, const std::string& args) {
  const std::string launcher = std::string("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 "
                                           "OMPI_MCA_btl_vader_single_copy_mechanism=none ") +
                               TS_MPIEXEC + " -np " + std::to_string(ranks) + " --oversubscribe";
  return run_cli_with_prefix(launcher, args);
}

// Every number of `a` against `b` at the same path, to `rel` relative
// (absolute below `floor`); strings, booleans and nulls must be equal. Keys
// in `skip` (timing_ms, device, ranks: what differs by construction) are not
// compared. Returns the first difference, or "" when they agree.
inline std::string json_difference(const nlohmann::json& a, const nlohmann::json& b, double rel, double floor,
                                   const std::vector<std::string>& skip, const std::string& path = "") {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    if (x == y) return "";
    if (std::fabs(x - y) <= rel * std::max(std::fabs(x), std::fabs(y)) || std::fabs(x - y) <= floor) return "";
    return path + ": " + a.dump() + " vs " + b.dump();
  }
  if (a.type() != b.type()) return path + ": " + a.dump() + " vs " + b.dump();
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (std::find(skip.begin(), skip.end(), it.key()) != skip.end()) continue;
      if (!b.contains(it.key())) return path + "." + it.key() + ": missing";
      const std::string d = json_difference(it.value(), b[it.key()], rel, floor, skip, path + "." + it.key());
      if (!d.empty()) return d;
    }
    for (auto it = b.begin(); it != b.end(); ++it)
      if (std::find(skip.begin(), skip.end(), it.key()) == skip.end() && !a.contains(it.key()))
        return path + "." + it.key() + ": missing";
    return "";
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return path + ": " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + " items";
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string d = json_difference(a[i], b[i], rel, floor, skip, path + "[" + std::to_string(i) + "]");
      if (!d.empty()) return d;
    }
    return "";
  }
  return a == b ? "" : path + ": " + a.dump() + " vs " + b.dump();
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

}  // namespace taylorscope::testing
