// Small inputs for the CLI tests, written where a test wants them: an npy
// data set with chosen class counts (unbalanced ones included), and the
// checks every failing command must pass (one error line, exit status).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "taylorscope/npy.hpp"

namespace taylorscope::testing {

// Integer labels as '<i8' .npy (write_npy writes floats only).
inline void write_npy_labels(const std::string& path, const std::vector<int64_t>& labels) {
  std::string header = "{'descr': '<i8', 'fortran_order': False, 'shape': (" + std::to_string(labels.size()) + ",), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out << header;
  for (int64_t v : labels) {
    char b[8];
    std::memcpy(b, &v, 8);  // the test machines are little-endian, as the format asks
    out.write(b, 8);
  }
}

// DIR/X.npy (N×E, f8) and DIR/y.npy with counts[α] samples of class α;
// returns the --data spec. Values vary with the sample and the feature so
// no statistic is degenerate.
inline std::string write_npy_dataset(const std::filesystem::path& dir, const std::vector<int64_t>& counts,
                                     int64_t E) {
  std::vector<double> X;
  std::vector<int64_t> y;
  for (size_t a = 0; a < counts.size(); ++a)
    for (int64_t s = 0; s < counts[a]; ++s) {
      y.push_back(static_cast<int64_t>(a));
      for (int64_t g = 0; g < E; ++g)
        X.push_back(0.1 * static_cast<double>(a + 1) + 0.01 * static_cast<double>((s * 7 + g * 3) % 11));
    }
  const std::string xs = (dir / "X.npy").string(), ys = (dir / "y.npy").string();
  write_npy(xs, {static_cast<int64_t>(y.size()), E}, X, NpyPrecision::f64);
  write_npy_labels(ys, y);
  return "npy:" + xs + "," + ys;
}

// Sets an environment variable for the commands a test runs (they inherit
// it) and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(name_.c_str(), old_.c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// A failing command: the expected status and exactly one stderr line, the
// error, in the form main() prints it.
inline void expect_one_error_line(const CliRun& r, int status, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << "\n" << r.err;
  EXPECT_EQ(lines(r.err), 1) << what << "\n" << r.err;
  EXPECT_EQ(r.err.rfind("taylorscope: error: ", 0), 0u) << what << "\n" << r.err;
}

}  // namespace taylorscope::testing
