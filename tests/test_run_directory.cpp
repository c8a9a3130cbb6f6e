// The run directory of `train` as a library call (training.hpp): what the
// trainer removes (only its own stale temporaries), what it locks, what a
// checkpoint must hold to be resumed from, what a diverging run leaves, and
// what a resume must find unchanged.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "taylorscope/atomic_file.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/params.hpp"
#include "taylorscope/run_lock.hpp"
#include "taylorscope/training.hpp"
#include "training/checkpoint.hpp"
#include "input_error.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

namespace taylorscope {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The pid of a process that has exited and been reaped: what a killed run
// leaves in its temporaries' names.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

// A small, fast problem: 3 classes, E = 4, H = 3.
struct TinyRun {
  Dataset tr = testing::synthetic_data({6, 5, 7}, 4, 21);
  Dataset ev = testing::synthetic_data({3, 3, 3}, 4, 22);
  TrainConfig c;
  TinyRun() {
    c.hidden = 3;
    c.act = parse_activation("tanh");
    c.opt.lr = 0.05;
    c.batch = 4;
    c.epochs = 2;
  }
  TrainResult run(const std::string& out, bool resume = false) const {
    auto be = make_cpu_train_backend();
    return run_on(*be, out, resume);
  }
  TrainResult run_on(TrainBackend& be, const std::string& out, bool resume = false) const {
    return train(tr, ev, c, be, out, resume, NpyPrecision::f64, {});
  }
};

TEST(TemporaryNames, OnlyNamePlusTmpPlusDigitsIsATemporaryOfName) {
  EXPECT_TRUE(is_temporary_of("checkpoint.bin.tmp.12345", "checkpoint.bin"));
  EXPECT_TRUE(is_temporary_of("U.npy.tmp.7", "U.npy"));
  EXPECT_FALSE(is_temporary_of("checkpoint.bin.tmp.", "checkpoint.bin"));
  EXPECT_FALSE(is_temporary_of("checkpoint.bin.tmp.12a", "checkpoint.bin"));
  EXPECT_FALSE(is_temporary_of("xcheckpoint.bin.tmp.1", "checkpoint.bin"));
  EXPECT_FALSE(is_temporary_of("results.tmp.csv", "results"));
  EXPECT_FALSE(is_temporary_of("U.npy.tmp.1.bak", "U.npy"));
}

// F9: the sweep of a killed run's temporaries removes its own, by name, in
// the run directory and best/, and nothing of the user's at any depth.
TEST(RunDirectory, StartingARunRemovesOnlyItsOwnStaleTemporaries) {
  TempDir dir("ts_rundir");
  const fs::path out = dir.path();
  const std::string stale = ".tmp." + std::to_string(dead_pid());
  const std::vector<std::string> users = {"results.tmp.csv", "sub/deeper/my.tmp.backup", "notes.tmp.1",
                                          "sub/checkpoint.bin" + stale, "sub/plain.txt"};
  for (const std::string& f : users) write_text(out / f, "the user's\n");
  const std::vector<std::string> ours = {"checkpoint.bin.tmp.12345", "checkpoint.bin" + stale,
                                         "curves.csv" + stale, "report.json" + stale, "U.npy" + stale,
                                         "best/W.npy" + stale};
  for (const std::string& f : ours) write_text(out / f, "half a write");
  // A live writer's temporary (this test's parent stands in for one) is in
  // use, not stale.
  const std::string live = "c.npy.tmp." + std::to_string(::getppid());
  write_text(out / live, "in flight");

  TinyRun run;
  run.c.epochs = 0;
  run.run(out.string());
  for (const std::string& f : users) EXPECT_EQ(read_text(out / f), "the user's\n") << f;
  EXPECT_TRUE(fs::exists(out / live));
  // 12345 may be a live process on this machine; if so its file stays, rightly.
  for (const std::string& f : ours)
    if (f != "checkpoint.bin.tmp.12345" || ::kill(12345, 0) != 0) EXPECT_FALSE(fs::exists(out / f)) << f;
}

// A child process that holds DIR's lock until told to let go (its pipe closes).
class LockHolder {
 public:
  explicit LockHolder(const std::string& dir) {
    int ready[2], release[2];
    if (::pipe(ready) != 0 || ::pipe(release) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(release[1]);
      try {
        const DirectoryLock lock(dir);
        const char ok = 1;
        if (::write(ready[1], &ok, 1) != 1) ::_exit(3);
        char ignored;
        while (::read(release[0], &ignored, 1) > 0) {
        }
      } catch (...) {
        ::_exit(2);
      }
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(release[0]);
    release_ = release[1];
    char ok = 0;
    holding_ = ::read(ready[0], &ok, 1) == 1 && ok == 1;  // blocks until the lock is taken
    ::close(ready[0]);
  }
  bool holding() const { return holding_; }
  pid_t pid() const { return pid_; }
  // Lets go and waits for the child to exit; its exit status.
  int release() {
    if (release_ >= 0) ::close(release_);
    release_ = -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ~LockHolder() {
    if (release_ >= 0) release();
  }

 private:
  pid_t pid_ = -1;
  int release_ = -1;
  bool holding_ = false;
};

using testing::input_error;

// F11: another process's lock refuses both a DirectoryLock and a whole
// train() on the directory, naming it and the holder; once the holder exits
// (its descriptor closes) the lock is free again.
TEST(DirectoryLock, HeldByAnotherProcessRefusesUntilThatProcessExits) {
  TempDir dir("ts_lock");
  const std::string out = (dir.path() / "run").string();
  LockHolder holder(out);
  ASSERT_TRUE(holder.holding());
  const std::string pid = "pid " + std::to_string(holder.pid());
  for (const std::string& why : {input_error([&] { DirectoryLock second(out); }),
                                 input_error([&] { TinyRun().run(out); })}) {
    EXPECT_NE(why.find(out), std::string::npos) << why;
    EXPECT_NE(why.find(pid), std::string::npos) << why;
    EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  }
  EXPECT_FALSE(fs::exists(fs::path(out) / "checkpoint.bin")) << "the refused run wrote into the directory";
  EXPECT_EQ(holder.release(), 0);
  EXPECT_EQ(input_error([&] { DirectoryLock again(out); }), "NO EXCEPTION");
  EXPECT_EQ(input_error([&] { TinyRun().run(out); }), "NO EXCEPTION");
}

// ---- checkpoints with a valid CRC but a header or arrays that lie (F16, F17)

struct Craft {
  std::string what;
  std::function<void(Checkpoint&)> edit;
  std::string named;  // a word the refusal must contain
};

nlohmann::json& rec(Checkpoint& ck, int i) { return ck.header["records"][i]; }
std::vector<double>& arr(Checkpoint& ck, const std::string& name) {
  for (auto& [key, values] : ck.arrays)
    if (key == name) return values;
  throw std::runtime_error("no array " + name);
}

// Each crafted file is refused on --resume with one line naming the file and
// the field, by the trainer and by the loader alone (what a fuzzer drives);
// the refused file is left as it was. The untouched checkpoint resumes, so
// every refusal comes from its one edit.
TEST(Checkpoint, EveryHeaderFieldAndArrayIsValidatedNamingTheFile) {
  TempDir dir("ts_ckpt");
  TinyRun run;
  run.c.opt.kind = OptimizerKind::momentum;  // the checkpoint holds 'velocity'
  run.run(dir.str());
  const std::string ck = dir.file("checkpoint.bin");
  const Checkpoint good = read_checkpoint(ck);
  const double nan = std::nan("");
  const std::vector<Craft> crafts = {
      {"another version", [](Checkpoint& c) { c.header["version"] = kCheckpointVersion + 1; }, "version"},
      {"no version", [](Checkpoint& c) { c.header.erase("version"); }, "version"},
      {"no identity", [](Checkpoint& c) { c.header.erase("identity"); }, "identity"},
      {"identity a number", [](Checkpoint& c) { c.header["identity"] = 5; }, "identity"},
      {"step −1", [](Checkpoint& c) { c.header["step"] = -1; }, "step"},
      {"step 1.5", [](Checkpoint& c) { c.header["step"] = 1.5; }, "step"},
      {"no records", [](Checkpoint& c) { c.header["records"] = nlohmann::json::array(); }, "records"},
      {"records an object", [](Checkpoint& c) { c.header["records"] = nlohmann::json::object(); }, "records"},
      {"a record of 3 fields", [](Checkpoint& c) { rec(c, 1) = {1, 0.5, 0.5}; }, "record 1"},
      {"epoch −5", [](Checkpoint& c) { rec(c, 1)[0] = -5; }, "epoch"},
      {"epoch 1.5", [](Checkpoint& c) { rec(c, 1)[0] = 1.5; }, "epoch"},
      {"a gap", [](Checkpoint& c) { rec(c, 2)[0] = 3; }, "epoch"},
      {"a repeat", [](Checkpoint& c) { rec(c, 2)[0] = 1; }, "epoch"},
      {"epoch INT_MAX", [](Checkpoint& c) { rec(c, 2)[0] = INT_MAX; }, "epoch"},
      {"a null loss", [](Checkpoint& c) { rec(c, 1)[1] = nullptr; }, "null"},
      {"a string loss", [](Checkpoint& c) { rec(c, 1)[3] = "low"; }, "record 1"},
      {"chosen epoch 10^6", [](Checkpoint& c) { c.header["chosen_epoch"] = 1000000; }, "chosen_epoch"},
      {"chosen epoch −1", [](Checkpoint& c) { c.header["chosen_epoch"] = -1; }, "chosen_epoch"},
      {"stopped_early \"yes\"", [](Checkpoint& c) { c.header["stopped_early"] = "yes"; }, "stopped_early"},
      {"NaN in theta", [&](Checkpoint& c) { arr(c, "theta")[3] = nan; }, "theta"},
      {"Inf in velocity", [](Checkpoint& c) { arr(c, "velocity")[0] = INFINITY; }, "velocity"},
      {"best_theta one short", [](Checkpoint& c) { arr(c, "best_theta").pop_back(); }, "best_theta"},
      {"theta one long", [](Checkpoint& c) { arr(c, "theta").push_back(0.0); }, "theta"},
      {"no theta", [](Checkpoint& c) { c.arrays.erase(c.arrays.begin()); }, "theta"},
      {"velocity one short", [](Checkpoint& c) { arr(c, "velocity").pop_back(); }, "velocity"},
      {"no velocity", [](Checkpoint& c) { c.arrays.pop_back(); }, "velocity"},
      {"theta twice", [](Checkpoint& c) { c.arrays.push_back(c.arrays.front()); }, "twice"},
  };
  CheckpointShape shape;
  shape.param_count = static_cast<int64_t>(good.array("theta").size());
  shape.optimizer_arrays = {{"velocity", good.array("theta").size()}};
  for (const Craft& craft : crafts) {
    Checkpoint bad = good;
    craft.edit(bad);
    write_checkpoint(ck, bad);
    const std::string written = read_text(ck);
    for (const std::string& why : {input_error([&] { run.run(dir.str(), true); }),
                                   input_error([&] { read_checkpoint_state(ck, shape); })}) {
      EXPECT_NE(why.find(ck), std::string::npos) << craft.what << ": " << why;
      EXPECT_NE(why.find(craft.named), std::string::npos) << craft.what << ": " << why;
      EXPECT_EQ(why.find('\n'), std::string::npos) << craft.what << ": " << why;
      EXPECT_EQ(why.find("json"), std::string::npos) << craft.what << ": a parser's words: " << why;
    }
    EXPECT_EQ(read_text(ck), written) << craft.what << ": the refused run wrote a checkpoint";
  }
  write_checkpoint(ck, good);
  run.c.epochs = 3;
  EXPECT_EQ(input_error([&] { run.run(dir.str(), true); }), "NO EXCEPTION");
}

// F16: a directory where the checkpoint should be is named, not read.
TEST(Checkpoint, ADirectoryInItsPlaceIsRefusedNamingIt) {
  TempDir dir("ts_ckdir");
  fs::create_directories(dir.path() / "checkpoint.bin");
  const std::string why = input_error([&] { TinyRun().run(dir.str(), true); });
  EXPECT_NE(why.find(dir.file("checkpoint.bin")), std::string::npos) << why;
  EXPECT_NE(why.find("directory"), std::string::npos) << why;
}

// ---- what a resume must find unchanged (F10) --------------------------------

// Every change of the data's files or of what the loader did to them is
// refused on --resume, naming the setting by its dotted key with both
// values; report.json records the same. The Datasets are built here, so the
// test does not depend on the loader.
TEST(ResumeIdentity, ChangedDataFilesOrPreprocessingAreRefusedNamingTheKey) {
  TempDir dir("ts_identity");
  TinyRun base;
  base.tr.sources = {{"/data/train-images", 1000, 0x1234}, {"/data/train-labels", 100, 0x5678}};
  base.ev.sources = {{"/data/test-images", 500, 0x9abc}, {"/data/test-labels", 50, 0xdef0}};
  base.tr.preprocessing.scaled = base.ev.preprocessing.scaled = true;
  base.run(dir.str());
  const nlohmann::json settings = nlohmann::json::parse(read_text(dir.path() / "report.json"))["settings"];
  EXPECT_EQ(settings["data"]["preprocessing"]["scaled"], true);
  EXPECT_EQ(settings["data"]["sources"][0]["crc32"], 0x1234);
  EXPECT_EQ(settings["data"]["sources"][0]["path"], "/data/train-images");
  EXPECT_EQ(settings["eval"]["sources"][1]["bytes"], 50);
  EXPECT_EQ(settings["eval"]["preprocessing"]["limit"], 0);

  struct Change {
    std::function<void(TinyRun&)> edit;
    std::string says;
  };
  const std::vector<Change> changes = {
      {[](TinyRun& r) { r.tr.preprocessing.scaled = false; }, "'data.preprocessing.scaled' was true and is now false"},
      {[](TinyRun& r) { r.tr.preprocessing.standardized = true; }, "'data.preprocessing.standardized' was false"},
      {[](TinyRun& r) { r.ev.preprocessing.pad32 = true; }, "'eval.preprocessing.pad32' was false and is now true"},
      {[](TinyRun& r) { r.tr.preprocessing.limit = 10; }, "'data.preprocessing.limit' was 0 and is now 10"},
      {[](TinyRun& r) { r.tr.preprocessing.classes = 3; }, "'data.preprocessing.classes' was 0 and is now 3"},
      {[](TinyRun& r) { r.tr.sources[0].crc32 = 0x1235; }, "'data.sources[0].crc32' was 4660 and is now 4661"},
      {[](TinyRun& r) { r.ev.sources[1].bytes = 51; }, "'eval.sources[1].bytes' was 50 and is now 51"},
      {[](TinyRun& r) { r.tr.sources[0].path = "/elsewhere/train-images"; }, "'data.sources[0].path'"},
      {[](TinyRun& r) { r.tr.sources.pop_back(); }, "'data.sources' was"},
      {[](TinyRun& r) { r.c.opt.lr = 0.07; }, "'lr' was 0.05 and is now 0.07"},
  };
  const std::string ck = dir.file("checkpoint.bin");
  for (const Change& change : changes) {
    TinyRun run = base;
    change.edit(run);
    const std::string why = input_error([&] { run.run(dir.str(), true); });
    EXPECT_NE(why.find(ck + ": cannot resume, " + change.says), std::string::npos) << why;
  }
  TinyRun same = base;
  same.c.epochs = 3;
  EXPECT_EQ(input_error([&] { same.run(dir.str(), true); }), "NO EXCEPTION");
}

// ---- a run that diverges (F13) ----------------------------------------------

// The CPU backend, except that the steps of one epoch leave a NaN in θ: a
// divergence at a known epoch, whatever the arithmetic.
class DivergingBackend : public TrainBackend {
 public:
  explicit DivergingBackend(int epoch) : epoch_(epoch), cpu_(make_cpu_train_backend()) {}
  std::string device_name() const override { return cpu_->device_name(); }
  void upload(const Dataset& t, const Dataset& e) override { cpu_->upload(t, e); }
  void init(const Params& p, const Activation& a, const OptimizerConfig& o) override { cpu_->init(p, a, o); }
  void step(const std::vector<int64_t>& rows) override { cpu_->step(rows); }
  void set_order(const std::vector<int64_t>& order) override {
    ++epochs_started_;
    cpu_->set_order(order);
  }
  void run_batches(int64_t first, int64_t count, int64_t batch_size) override {
    cpu_->run_batches(first, count, batch_size);
    if (epochs_started_ != epoch_) return;
    std::vector<double> theta = cpu_->flat_params();
    theta[1] = std::nan("");
    cpu_->restore(theta, cpu_->optimizer_state());
  }
  SplitMetrics evaluate(Split split, std::vector<double>* grad) override { return cpu_->evaluate(split, grad); }
  std::vector<double> flat_params() const override { return cpu_->flat_params(); }
  OptimizerState optimizer_state() const override { return cpu_->optimizer_state(); }
  void restore(const std::vector<double>& flat, const OptimizerState& state) override { cpu_->restore(flat, state); }

 private:
  int epoch_, epochs_started_ = 0;
  std::unique_ptr<TrainBackend> cpu_;
};

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// The run stops at the first non-finite epoch with a message naming it, what
// is not finite and the last finite epoch; that epoch is what the checkpoint
// and curves.csv hold (nothing of the bad one), and resuming to it writes its
// θ and a report of finite numbers.
TEST(Divergence, ANonFiniteEpochStopsTheRunAndTheCheckpointKeepsTheLastFiniteOne) {
  TempDir dir("ts_diverge");
  TinyRun run;
  run.c.opt.kind = OptimizerKind::momentum;
  run.c.epochs = 6;
  DivergingBackend diverging(4);
  std::string why = "NO EXCEPTION";
  try {
    run.run_on(diverging, dir.str());
  } catch (const TrainingDiverged& e) {
    why = e.what();
  }
  const std::string ck = dir.file("checkpoint.bin");
  EXPECT_NE(why.find("diverged at epoch 4: train loss is NaN"), std::string::npos) << why;
  EXPECT_NE(why.find(ck + " still holds epoch 3"), std::string::npos) << why;
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  const CheckpointState saved = read_checkpoint_state(ck, {});
  ASSERT_EQ(saved.records.size(), 4u);
  EXPECT_EQ(saved.records.back().epoch, 3);
  EXPECT_EQ(count_lines(read_text(dir.path() / "curves.csv")), 1 + 4) << "header + epochs 0..3";
  EXPECT_FALSE(fs::exists(dir.path() / "U.npy"));
  EXPECT_FALSE(fs::exists(dir.path() / "report.json"));

  run.c.epochs = 3;
  const TrainResult r = run.run(dir.str(), true);
  EXPECT_EQ(r.resumed_from, 3);
  EXPECT_EQ(r.records.back().epoch, 3);
  EXPECT_EQ(flatten(load_params(dir.str())), saved.theta) << "θ written is not the checkpoint's";
  const nlohmann::json report = nlohmann::json::parse(read_text(dir.path() / "report.json"));
  for (const char* k : {"train_loss", "eval_loss", "grad_dot"})
    EXPECT_TRUE(report["final"][k].is_number()) << k << ": " << report["final"][k];
}

// Finite data and a finite draw can still overflow: that is the inputs'
// doing, refused as such (exit 2) before the run directory is created.
TEST(Divergence, AnInitialThetaWithNonFiniteResultsIsAnInputError) {
  TempDir dir("ts_diverge0");
  TinyRun run;
  run.c.init = "gaussian";
  run.c.init_scale = 1e308;  // logits Σ U h + c past the largest double
  const std::string why = input_error([&] { run.run((dir.path() / "run").string()); });
  EXPECT_NE(why.find("initial θ"), std::string::npos) << why;
  EXPECT_FALSE(fs::exists(dir.path() / "run"));
}

// TrainResult carries the final θ and best/'s θ (what dominance analyses),
// the same numbers as the files (written in f64 here), for a fresh run and
// for one resumed from its checkpoint.
TEST(TrainResultParams, FinalAndBestThetaAreTheWrittenOnes) {
  TempDir dir("ts_result_theta");
  TinyRun run;
  run.c.epochs = 4;
  run.c.early_stop = EarlyStop::eval_loss;
  run.c.patience = 10;
  for (bool resume : {false, true}) {
    if (resume) run.c.epochs = 6;
    const TrainResult r = run.run(dir.str(), resume);
    EXPECT_EQ(r.resumed_from, resume ? 4 : -1);
    const Params final_theta = load_params(dir.str()), best = load_params(dir.file("best"));
    for (const auto& [got, want] : {std::pair{&r.theta, &final_theta}, std::pair{&r.best_theta, &best}}) {
      EXPECT_EQ(got->M, want->M);
      EXPECT_EQ(got->H, want->H);
      EXPECT_EQ(got->E, want->E);
      EXPECT_EQ(got->U, want->U);
      EXPECT_EQ(got->W, want->W);
      EXPECT_EQ(got->b, want->b);
      EXPECT_EQ(got->c, want->c);
    }
    EXPECT_FALSE(r.theta.W.empty());
  }
}

}  // namespace
}  // namespace taylorscope

