// The `taylorscope` executable as scripts use it (INTERFACES.md): exit codes,
// one-line errors, and the report's keys, on a small Fashion-MNIST subset.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli_fixtures.hpp"
#include "cli_support.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

using taylorscope::testing::CliRun;
using taylorscope::testing::expect_one_error_line;
using taylorscope::testing::ScopedEnv;
using taylorscope::testing::TempDir;
using taylorscope::testing::write_npy_dataset;
using taylorscope::testing::have_fashion_mnist;
using taylorscope::testing::lines;
using taylorscope::testing::run_cli;

TEST(Cli, HelpExitsZero) {
  EXPECT_EQ(run_cli("--help").status, 0);
  const CliRun r = run_cli("expand --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--order"), std::string::npos);
}

TEST(Cli, UsageAndInputErrorsExitTwoWithOneLine) {
  for (const std::string& args :
       {std::string("expand"),                                        // --data missing
        std::string("expand --data nosuch:thing"),                    // unknown scheme
        std::string("expand --data idx:/nonexistent/a,/nonexistent/b"),  // missing file
        std::string("expand --data fashion-mnist:test --limit 2 --order 0"),
        std::string("expand --data fashion-mnist:test --limit 2 --activation swish9"),
        std::string("expand --data fashion-mnist:test --limit 2 --device cuda:x"),
        std::string("expand --data fashion-mnist:test --limit 2 --params /nonexistent/dir"),
        std::string("expand --data fashion-mnist:test --no-such-flag"),  // a CLI11 parse error
        std::string("frobnicate")}) {
    expect_one_error_line(run_cli(args), 2, args);
  }
}

// F8: a warning queued while the inputs are read (unbalanced classes) must
// not precede the error that a later input raises: a failing command prints
// its one error line and nothing else.
TEST(Cli, AFailingCommandPrintsOnlyItsErrorNotTheWarningsBeforeIt) {
  const TempDir dir("ts_cli_warn");
  const std::string data = write_npy_dataset(dir.path(), {3, 5}, 4);
  const CliRun r = run_cli("expand --data " + data + " --params " + dir.file("no_theta") + " --device cpu");
  expect_one_error_line(r, 2, "unbalanced data, missing --params");
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

TEST(Cli, AWarningIsALineOfItsOwnWhenTheCommandSucceeds) {
  const TempDir dir("ts_cli_warn_ok");
  const std::string data = write_npy_dataset(dir.path(), {3, 5}, 4);
  const CliRun r = run_cli("expand --quiet --data " + data + " --hidden 3 --order 2 --device cpu");
  ASSERT_EQ(r.status, 0) << r.err;
  // Every stderr line is a whole warning (others may join the balance one).
  std::istringstream err(r.err);
  int warnings = 0;
  for (std::string line; std::getline(err, line); ++warnings)
    EXPECT_EQ(line.rfind("taylorscope: warning: ", 0), 0u) << line;
  EXPECT_GE(warnings, 1);
  EXPECT_NE(r.err.find("not balanced"), std::string::npos) << r.err;
}

// A message that spans lines (here a file name with a newline in it) is
// folded into the one error line.
TEST(Cli, AnErrorMessageWithANewlineIsFoldedIntoOneLine) {
  const CliRun r = run_cli("expand --device cpu --data 'npy:/nonexistent/first\nsecond.npy,/nonexistent/y.npy'");
  expect_one_error_line(r, 2, "file name with a newline");
  EXPECT_NE(r.err.find("first second.npy"), std::string::npos) << r.err;
}

TEST(Cli, ExpandWritesReportWithInterfaceKeysAndConsistentNumbers) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const fs::path dir = fs::temp_directory_path() / ("ts_cli_report_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string report = (dir / "r.json").string();
  const CliRun r = run_cli("expand --data fashion-mnist:test --limit 10 --order 5 --hidden 16 --device cpu"
                        " --save-params " + (dir / "theta").string() + " --report " + report);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Seed terms"), std::string::npos);
  std::ifstream in(report);
  const nlohmann::json j = nlohmann::json::parse(in);
  for (const char* k : {"data", "model", "order", "S_direct", "S_k", "partial_sums", "terms",
                        "subterm_counts", "dominant", "device", "timing_ms"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["data"]["N"], 100);
  EXPECT_EQ(j["data"]["E"], 784);
  EXPECT_EQ(j["data"]["M"], 10);
  EXPECT_EQ(j["data"]["balanced"], true);
  EXPECT_EQ(j["model"]["H"], 16);
  EXPECT_EQ(j["model"]["sigma_derivs"].size(), 6u);
  EXPECT_EQ(j["S_k"].size(), 6u);
  EXPECT_EQ(j["dominant"].size(), 4u);
  for (const char* k : {"ccc", "Ub_c", "Z_UW_c", "J_UWb", "J_UWW"}) {
    EXPECT_TRUE(j["terms"]["S3"].contains(k)) << k;
    EXPECT_TRUE(j["subterm_counts"]["S3"].contains(k)) << k;
  }
  EXPECT_LT(j["terms_check"]["S2_rel_diff"].get<double>(), 1e-10);
  EXPECT_LT(j["terms_check"]["S3_rel_diff"].get<double>(), 1e-10);

  // The saved θ, read back with --params, gives the same expansion (f32
  // rounding of θ changes S_k only at the 1e-7 level).
  const std::string report2 = (dir / "r2.json").string();
  const CliRun r2 = run_cli("expand --data fashion-mnist:test --limit 10 --order 5 --device cpu --params " +
                         (dir / "theta").string() + " --report " + report2 + " --quiet");
  ASSERT_EQ(r2.status, 0) << r2.err;
  std::ifstream in2(report2);
  const nlohmann::json j2 = nlohmann::json::parse(in2);
  for (int k = 0; k <= 5; ++k)
    EXPECT_NEAR(j2["S_k"][k].get<double>(), j["S_k"][k].get<double>(),
                1e-5 * std::fabs(j["S_k"][k].get<double>()) + 1e-12);
  fs::remove_all(dir);
}

// The entries of a directory, by name (to see what a failed command left).
static std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// F4: an output path that cannot be written is refused before the data is
// read — the data here does not exist, and the error names the output flag.
TEST(Cli, AnUnwritableOutputPathIsRefusedBeforeAnythingIsRead) {
  const TempDir dir("ts_cli_paths");
  std::ofstream(dir.path() / "plain") << "a file";
  fs::create_directories(dir.path() / "adir");
  const std::string base = "expand --device cpu --data npy:" + dir.file("none/X.npy") + "," + dir.file("none/y.npy");
  const std::pair<std::string, std::string> cases[] = {
      {" --report " + dir.file("missing/r.json"), "--report"},
      {" --report " + dir.file("plain/r.json"), "--report"},
      {" --report " + dir.file("adir"), "--report"},
      {" --save-params " + dir.file("plain/theta"), "--save-params"},
      {" --save-params " + dir.file("plain"), "--save-params"}};
  for (const auto& [extra, flag] : cases) {
    const CliRun r = run_cli(base + extra);
    expect_one_error_line(r, 2, extra);
    EXPECT_EQ(r.err.rfind("taylorscope: error: " + flag + " ", 0), 0u) << extra << ": " << r.err;
  }
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"adir", "plain"}));
}

// F21: θ is written only after every flag was checked and the expansion
// succeeded; a usage error leaves neither θ nor the report behind.
TEST(Cli, AFailingExpandWritesNeitherThetaNorTheReport) {
  const TempDir dir("ts_cli_f21");
  const std::string data = write_npy_dataset(dir.path(), {4, 4}, 3);
  const std::string outputs = " --save-params " + dir.file("theta") + " --report " + dir.file("r.json");
  for (const std::string& bad : {" --order 0", " --t-values nan", " --t-values 0.5,inf", " --device cuda:999",
                                 " --activation nope", " --save-precision f16", " --init nope"}) {
    const CliRun r = run_cli("expand --quiet --data " + data + " --hidden 3" + outputs + bad);
    expect_one_error_line(r, 2, bad);
    EXPECT_FALSE(fs::exists(dir.path() / "theta")) << bad;
    EXPECT_FALSE(fs::exists(dir.path() / "r.json")) << bad;
  }
  // The same command without the bad flag writes both.
  const CliRun ok = run_cli("expand --quiet --device cpu --data " + data + " --hidden 3 --order 2" + outputs);
  ASSERT_EQ(ok.status, 0) << ok.err;
  EXPECT_TRUE(fs::exists(dir.path() / "theta" / "c.npy"));
  EXPECT_TRUE(fs::exists(dir.path() / "r.json"));
}

// A write that fails part way (c.npy cannot replace a directory of that
// name) fails the command, and what it had written — the report, U, W, b and
// the lock file — is removed; what was there before stays.
TEST(Cli, WhenOneOutputCannotBeWrittenTheOthersAreRemoved) {
  const TempDir dir("ts_cli_rollback");
  const std::string data = write_npy_dataset(dir.path(), {4, 4}, 3);
  fs::create_directories(dir.path() / "theta" / "c.npy");
  std::ofstream(dir.path() / "theta" / "notes.txt") << "the user's";
  const CliRun r = run_cli("expand --quiet --device cpu --data " + data + " --hidden 3 --order 2 --save-params " +
                           dir.file("theta") + " --report " + dir.file("r.json"));
  expect_one_error_line(r, 1, "c.npy is a directory");
  EXPECT_FALSE(fs::exists(dir.path() / "r.json"));
  EXPECT_EQ(entries(dir.path() / "theta"), (std::vector<std::string>{"c.npy", "notes.txt"}));
}

// F3, F6: every numeric flag of every command refuses NaN, Inf, non-numbers
// and out-of-range values while parsing — before the data (absent here) is
// read — in one line a person would write (CLI11 printed "Value 0 not in
// range 0.000000 to 1797693134862315708145…", 309 digits).
TEST(Cli, NumericFlagsRefuseNonFiniteAndOutOfRangeValuesInOneReadableLine) {
  const std::string data = " --data npy:/nonexistent/X.npy,/nonexistent/y.npy";
  const std::string expand = "expand" + data, tensors = "tensors" + data;
  const std::string train = "train" + data + " --eval npy:/nonexistent/a,/nonexistent/b --out /nonexistent/run";
  const std::string dominance = "dominance" + data + " --eval npy:/nonexistent/a,/nonexistent/b --out /nonexistent/d";
  const std::pair<std::string, std::string> cases[] = {
      {expand + " --hidden 0", "--hidden must be a whole number ≥ 1, got 0"},
      {expand + " --hidden 1e11", "--hidden must be a whole number ≥ 1, got 1e11"},
      {expand + " --hidden 99999999999999999999", "--hidden must be a whole number ≥ 1, got 99999999999999999999 (too large)"},
      {expand + " --order 65", "--order must be a whole number from 1 to 64, got 65"},
      {expand + " --order abc", "--order must be a whole number from 1 to 64, got abc"},
      {expand + " --t-values 0.5,nan", "--t-values must be a finite number, got nan"},
      {expand + " --t-values 1e400", "--t-values must be a finite number, got 1e400"},
      {expand + " --init-scale inf", "--init-scale must be a finite number > 0, got inf"},
      {expand + " --omega 0", "--omega must be a finite number > 0, got 0"},
      {expand + " --iota 1", "--iota must be a number in [0, 1), got 1"},
      {expand + " --seed -1", "--seed must be a whole number ≥ 0, got -1"},
      {expand + " --limit -1", "--limit must be a whole number ≥ 1, got -1 (leave --limit out to keep every sample)"},
      {expand + " --classes 0", "--classes must be a whole number ≥ 1, got 0"},
      {tensors + " --dump-limit nan", "--dump-limit must be a finite number > 0, got nan"},
      {tensors + " --dump-limit -1", "--dump-limit must be a finite number > 0, got -1"},
      {tensors + " --bins 0", "--bins must be a whole number from 1 to 100000, got 0"},
      {tensors + " --order 5", "--order must be a whole number from 1 to 4, got 5"},
      {train + " --hidden 0", "--hidden must be a whole number ≥ 1, got 0"},
      {train + " --lr nan", "--lr must be a finite number > 0, got nan"},
      {train + " --lr -1", "--lr must be a finite number > 0, got -1"},
      {train + " --batch 0", "--batch must be a whole number ≥ 1, got 0"},
      {train + " --epochs -1", "--epochs must be a whole number ≥ 0, got -1"},
      {train + " --epochs 3000000000", "--epochs must be a whole number ≥ 0, got 3000000000 (too large)"},
      {train + " --momentum 2", "--momentum must be a number in [0, 1), got 2"},
      {train + " --beta2 nan", "--beta2 must be a number in [0, 1), got nan"},
      {train + " --l2 -1", "--l2 must be a finite number ≥ 0, got -1"},
      {train + " --eps 0", "--eps must be a finite number > 0, got 0"},
      {train + " --rngd-period 0", "--rngd-period must be a whole number ≥ 1, got 0"},
      {train + " --rngd-damping inf", "--rngd-damping must be a finite number > 0, got inf"},
      {train + " --patience 0", "--patience must be a whole number ≥ 1, got 0"},
      {train + " --init-scale -1", "--init-scale must be a finite number > 0, got -1"},
      {dominance + " --hidden 4,0", "--hidden must be a whole number ≥ 1, got 0"},
      {dominance + " --hidden 4 --order 4", "--order must be a whole number from 5 to 64, got 4"},
      {dominance + " --hidden 4 --bins 100001", "--bins must be a whole number from 1 to 100000, got 100001"}};
  for (const auto& [args, message] : cases) {
    const CliRun r = run_cli(args);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_EQ(r.err, "taylorscope: error: " + message + "\n") << args;
  }
}

// CLI11 reads integers in base 0 ("010" is octal 8); the checks hand it
// plain decimal, so --order 010 is order 10.
TEST(Cli, WholeNumberFlagsAreReadAsDecimal) {
  const TempDir dir("ts_cli_decimal");
  const std::string data = write_npy_dataset(dir.path(), {4, 4}, 3);
  const CliRun r = run_cli("expand --quiet --device cpu --data " + data + " --hidden 3 --order 010 --report " +
                           dir.file("r.json"));
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream in(dir.file("r.json"));
  EXPECT_EQ(nlohmann::json::parse(in)["order"], 10);
}

// F18: --limit 0 used to mean "no limit" without saying so; it is refused
// (leaving the flag out keeps every sample), and --help says so.
TEST(Cli, LimitZeroIsRefusedAndLeavingItOutKeepsEverySample) {
  const TempDir dir("ts_cli_limit");
  const std::string data = write_npy_dataset(dir.path(), {5, 5}, 3);
  const CliRun zero = run_cli("expand --quiet --device cpu --data " + data + " --hidden 3 --order 2 --limit 0");
  EXPECT_EQ(zero.status, 2);
  EXPECT_EQ(zero.err, "taylorscope: error: --limit must be a whole number ≥ 1, got 0 (leave --limit out to keep every sample)\n");
  EXPECT_NE(run_cli("expand --help").out.find("(default: all)"), std::string::npos);

  auto samples = [&](const std::string& limit) {
    const CliRun r = run_cli("expand --quiet --device cpu --data " + data + " --hidden 3 --order 2" + limit +
                             " --report " + dir.file("r.json"));
    EXPECT_EQ(r.status, 0) << r.err;
    std::ifstream in(dir.file("r.json"));
    return nlohmann::json::parse(in)["data"]["N"].get<int>();
  };
  EXPECT_EQ(samples(""), 10);
  EXPECT_EQ(samples(" --limit 2"), 4);
}

// F5: a bad --eval spec is reported as --eval, not as --data (the data flags
// are shared by both sets), and nothing is created for the run.
TEST(Cli, AnEvalSpecErrorNamesEval) {
  const TempDir dir("ts_cli_eval");
  const std::string data = write_npy_dataset(dir.path(), {4, 4}, 3);
  // The spec's own form is wrong: the message names --eval and the spec.
  for (const std::string& eval : {"npy:" + dir.file("X.npy"), std::string("nosuch:thing")}) {
    const CliRun r = run_cli("train --device cpu --data " + data + " --eval " + eval + " --hidden 2 --epochs 1 --out " +
                             dir.file("run"));
    expect_one_error_line(r, 2, eval);
    EXPECT_EQ(r.err.rfind("taylorscope: error: --eval " + eval, 0), 0u) << r.err;
    EXPECT_FALSE(fs::exists(dir.path() / "run")) << eval;
  }
  // A file of the spec is wrong: the message names the file, not --data.
  const CliRun r = run_cli("train --device cpu --data " + data + " --eval npy:" + dir.file("missing.npy") + "," +
                           dir.file("y.npy") + " --hidden 2 --epochs 1 --out " + dir.file("run"));
  expect_one_error_line(r, 2, "missing file");
  EXPECT_NE(r.err.find("missing.npy"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--data"), std::string::npos) << r.err;
}

// F15: large buffers are sized before they are allocated and refused in one
// line naming what drives the size, when they exceed the memory there is.
// TAYLORSCOPE_MAX_MEMORY makes "the memory there is" the same on every
// machine; each refusal must come from the check (exit 2, its wording), not
// from operator new (exit 1, "out of memory").
TEST(Cli, ThetaLargerThanTheMemoryIsRefusedNamingHidden) {
  const TempDir dir("ts_cli_mem_theta");
  const std::string data = write_npy_dataset(dir.path(), {4, 4}, 784);
  const std::string expand = "expand --quiet --device cpu --data " + data + " --order 2 --save-params " +
                             dir.file("theta") + " --report " + dir.file("r.json");
  {
    const ScopedEnv cap("TAYLORSCOPE_MAX_MEMORY", "64M");
    // θ = 3e6 × (784 + 2 + 1) doubles = 17.6 GiB: F15's typo.
    const CliRun r = run_cli(expand + " --hidden 3000000");
    expect_one_error_line(r, 2, "--hidden 3000000 under a 64M cap");
    EXPECT_EQ(r.err, "taylorscope: error: --hidden 3000000: θ (2×3000000 U, 3000000×784 W) needs 17.6 GiB of "
                     "memory, more than the 64.0 MiB available\n");
    // The same command with a θ that fits runs to the end under the cap.
    const CliRun small = run_cli(expand + " --hidden 16");
    EXPECT_EQ(small.status, 0) << small.err;
    fs::remove_all(dir.path() / "theta");
    fs::remove(dir.path() / "r.json");
  }
  // Without a cap: 10^11 hidden units (584 TiB) exceed any machine.
  const CliRun huge = run_cli(expand + " --hidden 100000000000");
  expect_one_error_line(huge, 2, "--hidden 1e11");
  EXPECT_EQ(huge.err.rfind("taylorscope: error: --hidden 100000000000: θ (", 0), 0u) << huge.err;
  EXPECT_NE(huge.err.find("needs 573 TiB of memory"), std::string::npos) << huge.err;
  EXPECT_FALSE(fs::exists(dir.path() / "theta"));
  EXPECT_FALSE(fs::exists(dir.path() / "r.json"));

  // train draws its θ the same way.
  const ScopedEnv cap("TAYLORSCOPE_MAX_MEMORY", "64M");
  const CliRun t = run_cli("train --quiet --device cpu --data " + data + " --eval " + data +
                           " --hidden 3000000 --epochs 1 --out " + dir.file("run"));
  expect_one_error_line(t, 2, "train --hidden 3000000");
  EXPECT_NE(t.err.find("--hidden 3000000: θ"), std::string::npos) << t.err;
}

// θ fits but the CPU expansion pass's buffers (16 rows × H × (order + t
// values) channels) do not: refused before they are allocated.
TEST(Cli, AnExpansionPassLargerThanTheMemoryIsRefused) {
  const TempDir dir("ts_cli_mem_pass");
  const std::string data = write_npy_dataset(dir.path(), {4, 4}, 3);
  const ScopedEnv cap("TAYLORSCOPE_MAX_MEMORY", "256M");
  // θ: 10^6 × 6 doubles = 46 MiB; the pass, per thread: a 64-row A0 block
  // (0.5 GB) and the class power sums, 63 × 2 × 10^6 doubles (1 GB).
  const CliRun r = run_cli("expand --quiet --device cpu --data " + data + " --hidden 1000000 --order 64");
  expect_one_error_line(r, 2, "order-64 pass at H = 10^6");
  // The thread count in the message is the machine's.
  EXPECT_EQ(r.err.rfind("taylorscope: error: the CPU expansion pass (H = 1000000, order 64, ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(" × 64 rows at a time) needs "), std::string::npos) << r.err;
}

// The tensor sweep's tiles (M × E × E per tensor) and the dense --dump.
TEST(Cli, TensorBuffersLargerThanTheMemoryAreRefused) {
  const TempDir dir("ts_cli_mem_tensors");
  const std::string data = write_npy_dataset(dir.path(), {4, 4}, 3000);
  const ScopedEnv cap("TAYLORSCOPE_MAX_MEMORY", "64M");
  // J^(2) tiles: 2 × 3000 × 3000 doubles = 137 MiB, plus scratch per thread.
  const CliRun sweep = run_cli("tensors --quiet --device cpu --data " + data + " --order 2");
  expect_one_error_line(sweep, 2, "order-2 tiles at E = 3000");
  EXPECT_EQ(sweep.err.rfind("taylorscope: error: the CPU tensor sweep's order-2 tiles (M = 2, E = 3000) needs ", 0), 0u)
      << sweep.err;
  EXPECT_NE(sweep.err.find(" MiB of memory, more than the 64.0 MiB available"), std::string::npos) << sweep.err;
  // The dense J (137 MiB, under --dump-limit's 1024 MiB) is refused before the sweep.
  const CliRun dump = run_cli("tensors --quiet --device cpu --data " + data + " --order 2 --dump " + dir.file("dump"));
  expect_one_error_line(dump, 2, "dense dump at E = 3000");
  EXPECT_EQ(dump.err, "taylorscope: error: --dump: one dense tensor (M·E^n float64) needs 137 MiB of memory, more "
                      "than the 64.0 MiB available\n");
  EXPECT_FALSE(fs::exists(dir.path() / "dump"));
}

// The CPU trainer: its activations over a chunk of rows (--hidden), and
// RNGD's blocks, which grow as H·B² and (B·M)² (--batch).
TEST(Cli, TrainingBuffersLargerThanTheMemoryAreRefused) {
  const TempDir dir("ts_cli_mem_train");
  const std::string data = write_npy_dataset(dir.path(), {500, 500}, 3);
  const ScopedEnv cap("TAYLORSCOPE_MAX_MEMORY", "64M");
  const std::string train = "train --quiet --device cpu --data " + data + " --eval " + data + " --epochs 1";
  // θ: 10^5 × 6 doubles (5 MiB); activations: 1000 rows × 3·10^5 doubles (2.2 GiB).
  const CliRun act = run_cli(train + " --hidden 100000 --out " + dir.file("act"));
  expect_one_error_line(act, 2, "activations at H = 10^5");
  EXPECT_EQ(act.err.rfind("taylorscope: error: --hidden 100000 with 1000 rows at a time: the CPU trainer's activations needs ", 0),
            0u)
      << act.err;
  // RNGD with batches of 1000 rows: one 2000 × 2000 output block, 2 blocks of 1000 × 1000 (≥ 45 MiB),
  // under a cap of 40 MiB; everything else here is under 1 MiB.
  const ScopedEnv tighter("TAYLORSCOPE_MAX_MEMORY", "40M");
  const CliRun rngd = run_cli(train + " --hidden 2 --optimizer rngd --batch 1000 --out " + dir.file("rngd"));
  expect_one_error_line(rngd, 2, "RNGD at --batch 1000");
  EXPECT_EQ(rngd.err.rfind("taylorscope: error: --batch 1000: RNGD's blocks (H = 2 blocks of 1000×1000, one of 2000×2000) needs ", 0),
            0u)
      << rngd.err;
}
