// The process-level pieces every command stands on: output-path checks, the
// memory budget and its TAYLORSCOPE_MAX_MEMORY cap, the warnings queue, the
// directory lock, and the removal of a failed command's outputs.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "taylorscope/created_outputs.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/memory_budget.hpp"
#include "taylorscope/output_paths.hpp"
#include "taylorscope/run_lock.hpp"
#include "taylorscope/warnings.hpp"
#include "temp_dir.hpp"

namespace taylorscope {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void touch(const fs::path& p) { std::ofstream(p) << "x"; }

// The InputError's message, or "" when nothing was thrown.
template <class F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(OutputPaths, AFileInAWritableDirectoryPasses) {
  const TempDir d("ts_sys_paths");
  EXPECT_EQ(refusal([&] { check_output_file(d.file("r.json"), "--report"); }), "");
  touch(d.path() / "old.json");  // replacing an existing file is allowed
  EXPECT_EQ(refusal([&] { check_output_file(d.file("old.json"), "--report"); }), "");
  EXPECT_EQ(refusal([&] { check_output_file("relative_here.json", "--report"); }), "") << "the cwd is the parent";
}

TEST(OutputPaths, AFileWhoseParentIsMissingOrAFileOrThatIsADirectoryIsRefusedNamingTheFlag) {
  const TempDir d("ts_sys_paths_bad");
  touch(d.path() / "plain");
  fs::create_directories(d.path() / "sub");
  for (const fs::path& p : {d.path() / "missing" / "r.json", d.path() / "plain" / "r.json", d.path() / "sub"}) {
    const std::string why = refusal([&] { check_output_file(p.string(), "--report"); });
    EXPECT_EQ(why.rfind("--report " + p.string() + ": ", 0), 0u) << p << ": " << why;
  }
  EXPECT_NE(refusal([&] { check_output_file("", "--plot"); }), "");
}

TEST(OutputPaths, ADirectoryMayExistOrBeCreatableUnderAnExistingDirectory) {
  const TempDir d("ts_sys_dirs");
  EXPECT_EQ(refusal([&] { check_output_dir(d.str(), "--dump"); }), "");
  EXPECT_EQ(refusal([&] { check_output_dir(d.file("a/b/c"), "--dump"); }), "");
  EXPECT_FALSE(fs::exists(d.path() / "a")) << "the check only looks";
}

TEST(OutputPaths, ADirectoryThatIsAFileOrLiesUnderAFileIsRefused) {
  const TempDir d("ts_sys_dirs_bad");
  touch(d.path() / "plain");
  for (const fs::path& p : {d.path() / "plain", d.path() / "plain" / "x" / "y"}) {
    const std::string why = refusal([&] { check_output_dir(p.string(), "--save-params"); });
    EXPECT_EQ(why.rfind("--save-params " + p.string() + ": ", 0), 0u) << p << ": " << why;
  }
}

TEST(OutputPaths, AReadOnlyDirectoryIsRefused) {
  const TempDir d("ts_sys_ro");
  const fs::path ro = d.path() / "ro";
  fs::create_directories(ro);
  ::chmod(ro.c_str(), 0555);
  const bool still_writable = ::access(ro.c_str(), W_OK) == 0;  // root ignores the mode bits
  const std::string file_why = refusal([&] { check_output_file((ro / "r.json").string(), "--report"); });
  const std::string dir_why = refusal([&] { check_output_dir((ro / "new").string(), "--dump"); });
  ::chmod(ro.c_str(), 0755);
  if (still_writable) GTEST_SKIP() << "this process may write in a mode-0555 directory (root)";
  EXPECT_NE(file_why.find("cannot write in"), std::string::npos) << file_why;
  EXPECT_NE(dir_why.find("cannot write in"), std::string::npos) << dir_why;
}

// Sets TAYLORSCOPE_MAX_MEMORY for one test and restores it afterwards.
class MemoryCap {
 public:
  explicit MemoryCap(const char* value) {
    if (const char* old = std::getenv(kName)) old_ = old, had_ = true;
    if (value) ::setenv(kName, value, 1);
    else ::unsetenv(kName);
  }
  ~MemoryCap() {
    if (had_) ::setenv(kName, old_.c_str(), 1);
    else ::unsetenv(kName);
  }

 private:
  static constexpr const char* kName = "TAYLORSCOPE_MAX_MEMORY";
  std::string old_;
  bool had_ = false;
};

TEST(MemoryBudget, TheCapIsReadInBytesOrWithABinarySuffix) {
  // Each cap is below what any test machine has free, so it is the minimum.
  const std::pair<const char*, double> cases[] = {
      {"4096", 4096.0}, {"64M", 64.0 * 1024 * 1024}, {"2k", 2048.0}, {"0.5M", 512.0 * 1024}, {"1e3", 1000.0}};
  for (const auto& [text, bytes] : cases) {
    const MemoryCap cap(text);
    EXPECT_EQ(available_memory_bytes(), bytes) << text;
  }
}

TEST(MemoryBudget, AMalformedCapIsRefusedNamingTheVariable) {
  for (const char* text : {"abc", "0", "-5M", "12X", "64MB", "nan", "inf", "1e400", "M"}) {
    const MemoryCap cap(text);
    const std::string why = refusal([] { available_memory_bytes(); });
    EXPECT_EQ(why.rfind(std::string("TAYLORSCOPE_MAX_MEMORY=") + text + ": ", 0), 0u) << text << ": " << why;
  }
}

TEST(MemoryBudget, WithoutACapTheMachinesFreeMemoryIsAFinitePositiveAmount) {
  const MemoryCap cap(nullptr);
  const double bytes = available_memory_bytes();
  EXPECT_GT(bytes, 0.0);
  EXPECT_TRUE(std::isfinite(bytes)) << "Linux has /proc/meminfo";
}

// ulimit -v counts mapped address space, not free memory: the budget takes
// what is left of it (F15's repro ran under ulimit -v and died in bad_alloc).
TEST(MemoryBudget, AnAddressSpaceLimitBoundsTheBudget) {
  const MemoryCap cap(nullptr);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_AS, &old), 0);
  std::ifstream statm("/proc/self/statm");
  double pages = 0;
  ASSERT_TRUE(statm >> pages);
  const double mapped = pages * static_cast<double>(::sysconf(_SC_PAGESIZE));
  const double headroom = 256.0 * 1024 * 1024;
  if (old.rlim_max != RLIM_INFINITY && static_cast<double>(old.rlim_max) < mapped + headroom)
    GTEST_SKIP() << "the hard limit leaves no room to lower the soft one";
  rlimit lowered = old;
  lowered.rlim_cur = static_cast<rlim_t>(mapped + headroom);
  ASSERT_EQ(::setrlimit(RLIMIT_AS, &lowered), 0);
  const double budget = available_memory_bytes();
  ASSERT_EQ(::setrlimit(RLIMIT_AS, &old), 0);
  // What is mapped may grow a little between the two readings (a page or two
  // of the stream's buffer): allow 16 MiB of slack below the headroom.
  EXPECT_LE(budget, headroom);
  EXPECT_GT(budget, headroom - 16.0 * 1024 * 1024);
}

TEST(MemoryBudget, CheckMemoryRefusesMoreThanTheCapWithSizesAPersonReads) {
  const MemoryCap cap("1M");
  EXPECT_EQ(refusal([] { check_memory(1024.0 * 1024, "exactly the cap"); }), "");
  const std::string why = refusal([] { check_memory(3.0 * 1024 * 1024 * 1024, "--hidden 9: θ"); });
  EXPECT_EQ(why, "--hidden 9: θ needs 3.0 GiB of memory, more than the 1.0 MiB available");
  EXPECT_NE(refusal([] { check_memory(std::nan(""), "a NaN size"); }), "") << "a NaN size must not pass";
}

TEST(MemoryBudget, FormatBytesPicksTheUnit) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(340.0 * 1024 * 1024), "340 MiB");
  EXPECT_EQ(format_bytes(17.5 * 1024 * 1024 * 1024), "17.5 GiB");
  EXPECT_EQ(format_bytes(1023.0 * 1024), "1023 KiB") << "≥ 100 of a unit: no decimals";
  EXPECT_EQ(format_bytes(2.0 * 1024 * 1024 * 1024 * 1024 * 1024 * 1024 * 1024), "2048 EiB");
}

// Captures std::cerr for the lifetime of the object.
class CerrCapture {
 public:
  CerrCapture() : old_(std::cerr.rdbuf(buffer_.rdbuf())) {}
  ~CerrCapture() { std::cerr.rdbuf(old_); }
  std::string text() const { return buffer_.str(); }

 private:
  std::ostringstream buffer_;
  std::streambuf* old_;
};

TEST(Warnings, AreHeldUntilFlushedThenPrintedOneLineEach) {
  discard_warnings();
  warn("first thing");
  warn("second thing");
  EXPECT_EQ(pending_warnings(), (std::vector<std::string>{"first thing", "second thing"}));
  std::string printed;
  {
    const CerrCapture capture;
    flush_warnings();
    printed = capture.text();
  }
  EXPECT_EQ(printed, "taylorscope: warning: first thing\ntaylorscope: warning: second thing\n");
  EXPECT_TRUE(pending_warnings().empty());
}

TEST(Warnings, DiscardedWarningsAreNeverPrinted) {
  warn("about an input that then failed");
  discard_warnings();
  std::string printed;
  {
    const CerrCapture capture;
    flush_warnings();
    printed = capture.text();
  }
  EXPECT_EQ(printed, "");
}

TEST(DirectoryLock, ASecondHolderIsRefusedUntilTheFirstReleases) {
  const TempDir d("ts_sys_lock");
  const std::string dir = d.file("run");
  {
    const DirectoryLock first(dir);
    EXPECT_TRUE(fs::is_directory(dir));
    const std::string why = refusal([&] { DirectoryLock second(dir); });
    EXPECT_NE(why.find("in use by another taylorscope process (pid " + std::to_string(::getpid()) + ")"),
              std::string::npos)
        << why;
  }
  EXPECT_EQ(refusal([&] { DirectoryLock again(dir); }), "");
}

TEST(CreatedOutputs, AFailedCommandRemovesWhatItCreatedAndNothingElse) {
  const TempDir d("ts_sys_outputs");
  touch(d.path() / "old.json");
  fs::create_directories(d.path() / "existing" / "sub");
  touch(d.path() / "existing" / "mine.txt");
  {
    CreatedOutputs out;
    out.file(d.file("old.json"));  // existed: kept, even though it is rewritten
    std::ofstream(d.path() / "old.json") << "new";
    out.file(d.file("new.json"));
    touch(d.path() / "new.json");
    out.directory(d.file("a/b"));  // created with its parent, files written into it
    fs::create_directories(d.path() / "a" / "b");
    touch(d.path() / "a" / "b" / "U.npy");
    out.directory(d.file("existing"));  // written into
    touch(d.path() / "existing" / "J.npy");
    std::ofstream(d.path() / "existing" / "mine.txt") << "rewritten";
  }  // not kept: the command failed
  EXPECT_TRUE(fs::exists(d.path() / "old.json"));
  EXPECT_FALSE(fs::exists(d.path() / "new.json"));
  EXPECT_FALSE(fs::exists(d.path() / "a")) << "a and a/b were created by the command";
  EXPECT_TRUE(fs::is_directory(d.path() / "existing" / "sub"));
  EXPECT_TRUE(fs::exists(d.path() / "existing" / "mine.txt"));
  EXPECT_FALSE(fs::exists(d.path() / "existing" / "J.npy"));
}

TEST(CreatedOutputs, ACreatedDirectoryThatIsNotEmptyStays) {
  const TempDir d("ts_sys_outputs_nonempty");
  {
    CreatedOutputs out;
    out.directory(d.file("dump"));
    fs::create_directories(d.path() / "dump" / "inner");  // a directory: never removed
  }
  EXPECT_TRUE(fs::is_directory(d.path() / "dump" / "inner"));
}

TEST(CreatedOutputs, KeptOutputsStay) {
  const TempDir d("ts_sys_outputs_keep");
  {
    CreatedOutputs out;
    out.directory(d.file("theta"));
    fs::create_directories(d.path() / "theta");
    touch(d.path() / "theta" / "U.npy");
    out.file(d.file("r.json"));
    touch(d.path() / "r.json");
    out.keep();
  }
  EXPECT_TRUE(fs::exists(d.path() / "theta" / "U.npy"));
  EXPECT_TRUE(fs::exists(d.path() / "r.json"));
}

}  // namespace
}  // namespace taylorscope
