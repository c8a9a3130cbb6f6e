// `taylorscope train` as scripts use it (INTERFACES.md): the run directory,
// one-line errors with exit 2, and resuming: an interrupted run continues
// from its last checkpoint to the same result, and a damaged checkpoint is
// refused, never read.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_support.hpp"
#include "taylorscope/npy.hpp"

extern char** environ;

namespace taylorscope {
namespace {

namespace fs = std::filesystem;
using testing::CliRun;
using testing::lines;
using testing::run_cli;

fs::path scratch(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("ts_train_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// curves.csv without the two wall-time columns, which no two runs share.
std::string curves_without_seconds(const fs::path& dir) {
  std::istringstream in(slurp(dir / "curves.csv"));
  std::string line, out;
  while (std::getline(in, line)) {
    const std::string head = line.substr(0, line.rfind(','));
    out += head.substr(0, head.rfind(',')) + "\n";
  }
  return out;
}

// 784-24-10 on 30 images a class: epochs of a few tens of milliseconds.
const std::string kSmallRun =
    "train --data fashion-mnist:train --eval fashion-mnist:test --limit 30 --hidden 24 --batch 16 "
    "--device cpu --save-precision f64 --quiet";

// Step sizes that learn on kSmallRun (measured: momentum's effective 10·α
// and RNGD's up-to-1/λ scaling diverge or stall at α = 0.05).
std::string optimizer_flags(const std::string& opt) {
  const char* lr = opt == "sgd" ? "0.05" : opt == "momentum" ? "0.01" : "0.005";
  return " --optimizer " + opt + " --lr " + lr;
}

TEST(TrainCli, EveryOptimizerWritesTheRunDirectoryThatExpandReads) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  for (const std::string opt : {"sgd", "momentum", "adam", "rngd"}) {
    const fs::path dir = scratch("dir_" + opt);
    const CliRun r = run_cli(kSmallRun + " --epochs 2 --l2 1e-3" + optimizer_flags(opt) + " --out " + dir.string());
    ASSERT_EQ(r.status, 0) << opt << ": " << r.err;
    for (const char* f : {"U.npy", "W.npy", "b.npy", "c.npy", "best/U.npy", "best/W.npy", "best/b.npy",
                          "best/c.npy", "curves.csv", "report.json", "checkpoint.bin"})
      EXPECT_TRUE(fs::exists(dir / f)) << opt << ": " << f;
    const std::string curves = slurp(dir / "curves.csv");
    EXPECT_EQ(curves.substr(0, curves.find('\n')),
              "epoch,train_loss,train_acc,eval_loss,eval_acc,grad_dot,lr,seconds,step_seconds");
    EXPECT_EQ(lines(curves), 4) << "header + epochs 0, 1, 2";
    const nlohmann::json j = nlohmann::json::parse(slurp(dir / "report.json"));
    for (const char* k : {"settings", "final", "best", "stop"}) EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_TRUE(j["stop"].contains("by_grad_dot_epoch"));
    EXPECT_TRUE(j["stop"].contains("by_eval_loss_epoch"));
    EXPECT_EQ(j["settings"]["optimizer"], opt);
    EXPECT_LT(j["final"]["train_loss"].get<double>(), 2.0) << opt << " did not learn";
    const CliRun e = run_cli("expand --data fashion-mnist:test --limit 5 --order 4 --device cpu --quiet --params " +
                             dir.string());
    EXPECT_EQ(e.status, 0) << opt << ": " << e.err;
    fs::remove_all(dir);
  }
}

TEST(TrainCli, BadSettingsExitTwoWithOneLine) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const fs::path dir = scratch("bad");
  const std::string base = "train --data fashion-mnist:train --eval fashion-mnist:test --limit 2 --epochs 1 "
                           "--device cpu --out " + dir.string();
  for (const std::string extra : {" --lr 0", " --lr -0.1", " --batch 0", " --optimizer lbfgs",
                                  " --early-stop never", " --momentum 1.5", " --activation swish9"}) {
    const CliRun r = run_cli(base + extra);
    EXPECT_EQ(r.status, 2) << extra << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1) << extra << "\n" << r.err;
  }
  const CliRun missing = run_cli("train --data fashion-mnist:train --out " + dir.string());
  EXPECT_EQ(missing.status, 2) << "--eval is required";
  fs::remove_all(dir);
}

// A little-endian int64 .npy vector, as numpy.save writes one.
void write_int_npy(const fs::path& path, const std::vector<int64_t>& values) {
  std::string dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (" + std::to_string(values.size()) + ",), }";
  dict.append(64 - (10 + dict.size() + 1) % 64, ' ');
  dict += '\n';
  std::string bytes = "\x93NUMPY\x01";
  bytes += '\0';
  bytes += static_cast<char>(dict.size() & 0xff);
  bytes += static_cast<char>(dict.size() >> 8);
  bytes += dict;
  bytes.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t));
  std::ofstream(path, std::ios::binary) << bytes;
}

// F7: inputs that are refused (exit 2, one line) leave no run directory
// behind, and an --out that cannot be one is refused before any data is read
// (the data named here does not exist, so the message shows which came first).
TEST(TrainCli, RefusedInputsCreateNoRunDirectory) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const fs::path work = scratch("refused");
  fs::create_directories(work);
  write_npy((work / "Z5.npy").string(), {10, 5}, std::vector<double>(50, 0.5), NpyPrecision::f64);
  write_int_npy(work / "y.npy", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  const fs::path out = work / "run";
  const std::string data = "--data fashion-mnist:train --limit 3 --epochs 1 --hidden 4 --device cpu ";
  const std::string ev = "--eval fashion-mnist:test ";
  for (const std::string cmd : {"train " + data + "--eval npy:" + (work / "Z5.npy").string() + "," +
                                    (work / "y.npy").string(),
                                "train " + data + ev + "--init foo",
                                "train " + data + ev + "--init gaussian --init-scale -1",
                                "dominance " + data + ev + "--init foo",
                                "dominance " + data + ev + "--hidden 4,0"}) {
    const CliRun r = run_cli(cmd + " --out " + out.string());
    EXPECT_EQ(r.status, 2) << cmd << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1) << cmd << "\n" << r.err;
    EXPECT_FALSE(fs::exists(out)) << cmd << ": left " << out;
  }
  std::ofstream(work / "afile") << "not a directory\n";
  const std::string missing = " --data npy:" + (work / "none.npy").string() + "," + (work / "none.npy").string() +
                              " --eval npy:" + (work / "none.npy").string() + "," + (work / "none.npy").string();
  for (const std::string cmd : {"train" + missing + " --out " + (work / "afile").string(),
                                "train" + missing + " --out " + (work / "afile" / "run").string(),
                                "dominance --hidden 4" + missing + " --out " + (work / "afile").string()}) {
    const CliRun r = run_cli(cmd);
    EXPECT_EQ(r.status, 2) << cmd << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1) << cmd << "\n" << r.err;
    EXPECT_NE(r.err.find("--out"), std::string::npos) << "the data was read before --out was judged: " << r.err;
  }
  fs::remove_all(work);
}

// Starts the CLI without waiting for it.
pid_t spawn_cli(const std::string& args, const fs::path& log) {
  std::vector<std::string> words = {TS_CLI_PATH};
  std::istringstream in(args);
  for (std::string w; in >> w;) words.push_back(w);
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// Polls until done() (kReached), or the child exits (kExited, reaped into
// *status), or ten minutes pass (kTimedOut): events, not a guess at how fast
// a loaded machine or a sanitizer build is.
enum class Wait { kReached, kExited, kTimedOut };
template <class Done>
Wait wait_for(Done done, pid_t child, int* status) {
  const auto cap = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (std::chrono::steady_clock::now() < cap) {
    if (done()) return Wait::kReached;
    if (::waitpid(child, status, WNOHANG) == child) return Wait::kExited;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return Wait::kTimedOut;
}

// Epochs finished so far by a run writing dir: curves.csv's rows (the file
// is replaced atomically, so it is read whole or not at all).
int epochs_in_curves(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / "curves.csv", ec)) return 0;
  return std::max(0, lines(slurp(dir / "curves.csv")) - 1);
}

// F11: while one run holds a directory (stopped with SIGSTOP after its first
// checkpoint, so it holds the lock whatever the machine's speed), a second
// `train` and a `dominance` on it are refused at once: exit 2, one line
// naming the directory and the holder's pid. The first then finishes as if
// alone.
TEST(TrainCli, ASecondRunOnADirectoryInUseIsRefusedAndTheFirstFinishes) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const fs::path dir = scratch("busy");
  const std::string args = kSmallRun + optimizer_flags("sgd") + " --out " + dir.string();
  pid_t first = -1;
  for (int attempt = 0; attempt < 3 && first < 0; ++attempt) {
    fs::remove_all(dir);
    const pid_t pid = spawn_cli(args + " --epochs 40", scratch("busy_log"));
    ASSERT_GT(pid, 0);
    int status = 0;
    const Wait w = wait_for([&] { return fs::exists(dir / "checkpoint.bin"); }, pid, &status);
    if (w == Wait::kTimedOut) ::kill(pid, SIGKILL);
    ASSERT_NE(w, Wait::kTimedOut) << "no checkpoint within ten minutes";
    if (w == Wait::kExited) {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(scratch("busy_log"));
      continue;  // it finished all 40 epochs between two polls: try again
    }
    ::kill(pid, SIGSTOP);
    ::waitpid(pid, &status, WUNTRACED);
    if (WIFSTOPPED(status)) first = pid;
  }
  ASSERT_GT(first, 0) << "three runs finished before they could be stopped";
  const std::string holder = "pid " + std::to_string(first);
  const CliRun second = run_cli(args + " --epochs 1");
  const CliRun dominance = run_cli("dominance --data fashion-mnist:train --eval fashion-mnist:test --limit 30 "
                                   "--hidden 4 --epochs 1 --device cpu --quiet --out " + dir.string());
  ::kill(first, SIGCONT);
  int status = 0;
  ::waitpid(first, &status, 0);
  for (const CliRun& r : {second, dominance}) {
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(dir.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(holder), std::string::npos) << r.err;
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(scratch("busy_log"));
  const nlohmann::json j = nlohmann::json::parse(slurp(dir / "report.json"));
  EXPECT_EQ(j["epochs_run"], 40) << "the refused run wrote into the directory";
  EXPECT_FALSE(fs::exists(dir / "dominance.json"));
  fs::remove_all(dir);
}

// RNGD with a refresh period (7) that does not divide the 19 steps of an
// epoch, so the resumed run needs the checkpoint's RFIM batch to continue
// exactly; Adam's moments likewise. The kill lands once curves.csv shows
// epoch 2 (an event, however slow the machine), and a run that finished its
// 25 epochs before the signal arrived is simply started again (F20).
TEST(TrainCli, KilledRunResumesFromItsLastCheckpointToTheSameResult) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  for (const std::string opt : {"rngd", "adam"}) {
    const std::string args = kSmallRun + " --epochs 25 --rngd-period 7" + optimizer_flags(opt);
    const fs::path whole = scratch("whole"), cut = scratch("cut");
    ASSERT_EQ(run_cli(args + " --out " + whole.string()).status, 0);

    bool killed = false;
    for (int attempt = 0; attempt < 3 && !killed; ++attempt) {
      fs::remove_all(cut);
      const pid_t pid = spawn_cli(args + " --out " + cut.string(), scratch("log"));
      ASSERT_GT(pid, 0);
      int status = 0;
      const Wait w = wait_for([&] { return epochs_in_curves(cut) >= 3; }, pid, &status);
      if (w == Wait::kExited) {
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(scratch("log"));
        continue;  // all 25 epochs ran between two polls
      }
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ASSERT_NE(w, Wait::kTimedOut) << opt << ": epoch 2 did not finish within ten minutes";
      killed = WIFSIGNALED(status);  // not if it exited on its own before the signal came
    }
    ASSERT_TRUE(killed) << opt << ": three runs finished before they could be killed";
    ASSERT_TRUE(fs::exists(cut / "checkpoint.bin"));
    const CliRun resumed = run_cli(args + " --resume --out " + cut.string());
    ASSERT_EQ(resumed.status, 0) << resumed.err;
    const nlohmann::json j = nlohmann::json::parse(slurp(cut / "report.json"));
    EXPECT_FALSE(j["resumed_from_epoch"].is_null());
    EXPECT_GE(j["resumed_from_epoch"].get<int>(), 2);
    // A write the kill cut short leaves at most a temporary; resuming removes it.
    for (const auto& entry : fs::recursive_directory_iterator(cut))
      EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
    EXPECT_EQ(curves_without_seconds(cut), curves_without_seconds(whole)) << opt;
    for (const char* f : {"U.npy", "W.npy", "b.npy", "c.npy", "best/W.npy"})
      EXPECT_EQ(slurp(cut / f), slurp(whole / f)) << opt << ": " << f;
    fs::remove_all(whole);
    fs::remove_all(cut);
  }
}

// F13: momentum at an absurd step overflows — the loss grows like lr^4 per
// epoch here: ≈ 5e154 at epoch 1, ≈ 4e310 (past the largest double, 1.8e308)
// at epoch 2, margins of 10^150 and 200× whatever the last bits do. The run
// stops with one line and exit 1; no NaN or Inf reaches curves.csv; the
// checkpoint holds epoch 1, and --resume --epochs 1 writes its θ and a
// report of numbers.
TEST(TrainCli, ADivergingRunStopsWithOneLineAndResumesToItsLastFiniteEpoch) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const fs::path dir = scratch("diverge");
  const std::string args = "train --data fashion-mnist:train --eval fashion-mnist:test --limit 10 --hidden 8 "
                           "--device cpu --quiet --optimizer momentum --lr 1e78 --out " + dir.string();
  const CliRun r = run_cli(args + " --epochs 5");
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("diverged at epoch 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checkpoint.bin still holds epoch 1"), std::string::npos) << r.err;
  std::string curves = slurp(dir / "curves.csv");
  EXPECT_EQ(lines(curves), 1 + 2) << curves;
  std::transform(curves.begin(), curves.end(), curves.begin(), ::tolower);
  EXPECT_EQ(curves.find("nan"), std::string::npos) << curves;
  EXPECT_EQ(curves.find("inf"), std::string::npos) << curves;
  EXPECT_FALSE(fs::exists(dir / "report.json"));

  const CliRun resumed = run_cli(args + " --epochs 1 --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir / "report.json"));
  EXPECT_EQ(j["final"]["epoch"], 1);
  for (const char* k : {"train_loss", "eval_loss", "grad_dot"}) EXPECT_TRUE(j["final"][k].is_number()) << k;
  EXPECT_TRUE(fs::exists(dir / "U.npy"));
  fs::remove_all(dir);
}

// A small npy data set (3 classes × 20 samples, E = 12) in dir: runs on it
// take milliseconds, so a test can afford many of them even under a sanitizer.
std::string small_npy_set(const fs::path& dir, double shift = 0.0) {
  std::vector<double> Z;
  std::vector<int64_t> y;
  for (int s = 0; s < 60; ++s) {
    y.push_back(s % 3);
    for (int g = 0; g < 12; ++g) Z.push_back(std::sin(1.3 * s + 0.7 * g) + 0.5 * (s % 3 == g % 3) + shift);
  }
  fs::create_directories(dir);
  write_npy((dir / "Z.npy").string(), {60, 12}, Z, NpyPrecision::f64);
  write_int_npy(dir / "y.npy", y);
  return "npy:" + (dir / "Z.npy").string() + "," + (dir / "y.npy").string();
}

TEST(TrainCli, TruncatedOrCorruptCheckpointIsRefused) {
  const fs::path dir = scratch("damaged"), data_dir = scratch("damaged_data");
  const std::string data = small_npy_set(data_dir);
  const std::string common = "train --data " + data + " --eval " + data +
                             " --hidden 5 --batch 16 --device cpu --quiet --optimizer momentum --out " + dir.string();
  const std::string args = common + " --lr 0.01";
  ASSERT_EQ(run_cli(args + " --epochs 1").status, 0);
  const std::string good = slurp(dir / "checkpoint.bin");
  auto write = [&](const std::string& bytes) {
    std::ofstream(dir / "checkpoint.bin", std::ios::binary | std::ios::trunc) << bytes;
  };
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x10;
  for (const std::string& bad : {good.substr(0, good.size() / 2), good.substr(0, good.size() - 1),
                                 good.substr(0, 10), flipped, good + "x"}) {
    write(bad);
    const CliRun r = run_cli(args + " --epochs 2 --resume");
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("checkpoint.bin"), std::string::npos) << r.err;
  }
  write(good);
  EXPECT_EQ(run_cli(args + " --epochs 2 --resume").status, 0);
  // Settings that change the run are refused, naming what changed (F10: the
  // data's preprocessing and its files are among them).
  for (const auto& [flag, key] : {std::pair<std::string, std::string>{" --lr 0.07", "'lr' was 0.01"},
                                  {" --lr 0.01 --scale", "'data.preprocessing.scaled' was false and is now true"},
                                  {" --lr 0.01 --standardize", "'data.preprocessing.standardized'"},
                                  {" --lr 0.01 --limit 5", "'data.N'"}}) {
    const CliRun changed = run_cli(common + " --epochs 3 --resume" + flag);
    EXPECT_EQ(changed.status, 2) << flag << ": " << changed.err;
    EXPECT_EQ(lines(changed.err), 1) << changed.err;
    EXPECT_NE(changed.err.find("cannot resume, " + key), std::string::npos) << flag << ": " << changed.err;
  }
  small_npy_set(data_dir, 1e-3);  // the same shapes, other bytes
  const CliRun edited = run_cli(args + " --epochs 3 --resume");
  EXPECT_EQ(edited.status, 2) << edited.err;
  EXPECT_NE(edited.err.find("cannot resume, 'data.sources[0].crc32'"), std::string::npos) << edited.err;
  // F16: a directory where the checkpoint should be.
  fs::remove(dir / "checkpoint.bin");
  fs::create_directory(dir / "checkpoint.bin");
  const CliRun in_place = run_cli(args + " --epochs 3 --resume");
  EXPECT_EQ(in_place.status, 2) << in_place.err;
  EXPECT_EQ(lines(in_place.err), 1) << in_place.err;
  EXPECT_NE(in_place.err.find((dir / "checkpoint.bin").string() + ": is a directory"), std::string::npos)
      << in_place.err;
  fs::remove_all(dir);
  fs::remove_all(data_dir);
}

// F10's repro: a Fashion-MNIST run resumed with --no-scale (raw 0–255 pixels
// fed to a θ trained on /255) is refused, naming the setting.
TEST(TrainCli, ResumingWithOtherPreprocessingIsRefused) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const fs::path dir = scratch("noscale");
  const std::string args = "train --data fashion-mnist:train --eval fashion-mnist:test --limit 10 --hidden 8 "
                           "--seed 3 --device cpu --quiet --out " + dir.string();
  ASSERT_EQ(run_cli(args + " --epochs 1").status, 0);
  const CliRun r = run_cli(args + " --epochs 2 --resume --no-scale");
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("cannot resume, 'data.preprocessing.scaled' was true and is now false"), std::string::npos)
      << r.err;
  const nlohmann::json settings = nlohmann::json::parse(slurp(dir / "report.json"))["settings"];
  EXPECT_EQ(settings["data"]["preprocessing"]["scaled"], true);
  EXPECT_EQ(settings["eval"]["preprocessing"]["limit"], 10);
  EXPECT_NE(settings["data"]["sources"][0]["path"].get<std::string>().find("train-images"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace taylorscope
