// What every harness shares: one scratch directory per process, reused by
// every execution (a file write per input, not a mkdir), and the check that
// a refusal is what the readers promise — an InputError whose message is one
// line naming the file (or, for data-set options, the flag). Anything else —
// another exception, a message of two lines, a sanitizer report — aborts,
// which libFuzzer records as a crash and the replay test as a failure.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "taylorscope/errors.hpp"

namespace taylorscope::fuzz {

[[noreturn]] inline void fail(const std::string& why) {
  std::fprintf(stderr, "fuzz harness: %s\n", why.c_str());
  std::fflush(stderr);
  std::abort();
}

class Scratch {
 public:
  Scratch() {
    dir_ = std::filesystem::temp_directory_path() /
           ("taylorscope_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string dir() const { return dir_.string(); }

  std::string write(const std::string& name, std::string_view bytes) const {
    const std::string p = path(name);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) fail("cannot write scratch file " + p);
    return p;
  }
  void remove(const std::string& name) const {
    std::error_code ec;
    std::filesystem::remove(path(name), ec);
  }

 private:
  std::filesystem::path dir_;
};

// The harness's process-wide scratch directory, removed at exit.
inline const Scratch& scratch() {
  static const Scratch s;
  return s;
}

// Runs fn. Success is fine; an InputError must be one line containing one of
// `names`; anything else aborts.
template <typename Fn>
void expect_clean_refusal(const std::vector<std::string>& names, Fn fn) {
  try {
    fn();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    if (msg.find('\n') != std::string::npos || msg.find('\r') != std::string::npos)
      fail("refusal is not one line: " + msg);
    for (const std::string& n : names)
      if (msg.find(n) != std::string::npos) return;
    fail("refusal names neither the file nor the flag: " + msg);
  } catch (const std::exception& e) {
    fail(std::string("escaped as a non-input error (exit 1, not 2): ") + e.what());
  }
}

// Splits a fuzzer input into the files of a multi-file target at each
// kSeparator; a file the input does not reach is absent.
inline constexpr std::string_view kSeparator = "|FILE|";
inline std::vector<std::string_view> split_files(const uint8_t* data, size_t size) {
  std::vector<std::string_view> parts;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (;;) {
    const size_t at = rest.find(kSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kSeparator.size());
  }
  parts.push_back(rest);
  return parts;
}

}  // namespace taylorscope::fuzz
