// The one place --device is resolved (backends.hpp) and the CLI's shared
// flag groups (host/cli/commands.hpp): one default per flag in every command.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "cli_fixtures.hpp"
#include "cli_support.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/params.hpp"
#include "temp_dir.hpp"

namespace ts = taylorscope;
using namespace taylorscope::testing;

namespace {

// Rank `rank` of `ranks`, the `local`-th on its machine: what resolve_device
// reads of a job without starting one.
class FakeRank final : public ts::Communicator {
 public:
  FakeRank(int rank, int ranks, int local) : rank_(rank), ranks_(ranks), local_(local) {}
  int rank() const override { return rank_; }
  int size() const override { return ranks_; }
  int local_rank() const override { return local_; }
  std::string transport() const override { return "fake"; }
  void allreduce_sum(double*, size_t) override { ADD_FAILURE() << "resolve_device must not be a collective"; }
  void broadcast(void*, size_t, int) override { ADD_FAILURE() << "resolve_device must not be a collective"; }
  std::vector<std::string> allgather(const std::string& b) override {
    ADD_FAILURE() << "resolve_device must not be a collective";
    return {b};
  }
  void barrier() override { ADD_FAILURE() << "resolve_device must not be a collective"; }

 private:
  int rank_, ranks_, local_;
};

}  // namespace

TEST(ResolveDevice, NamesMapToOneDeviceIndex) {
  const FakeRank one(0, 1, 0);
  EXPECT_EQ(ts::resolve_device("cpu", one), -1);
  EXPECT_EQ(ts::resolve_device("cuda", one), 0);
  EXPECT_EQ(ts::resolve_device("cuda:3", one), 3);
  std::string why;
  EXPECT_EQ(ts::resolve_device("auto", one), ts::cuda_backend_available(&why) ? 0 : -1);
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:10000", "CPU", ""})
    EXPECT_THROW(ts::resolve_device(bad, one), ts::InputError) << bad;
  EXPECT_EQ(ts::device_label(-1), "cpu");
  EXPECT_EQ(ts::device_label(2), "cuda:2");
}

TEST(ResolveDevice, UnderMpirunCudaIsTheGpuOfTheNodeLocalRank) {
  std::string why;
  const bool gpus = ts::cuda_backend_available(&why);
  // Rank 5 of 8, the second of its machine's ranks: cuda:1 (INTERFACES.md
  // "Several processes"); an explicit index stays what it says on every rank.
  const FakeRank r(5, 8, 1);
  if (!gpus) EXPECT_EQ(ts::resolve_device("cuda", r), 1);
  EXPECT_EQ(ts::resolve_device("cuda:0", r), 0);
  EXPECT_EQ(ts::resolve_device("cpu", r), -1);
  if (!gpus) EXPECT_EQ(ts::resolve_device("auto", r), -1) << "auto without CUDA is the CPU on every rank";
}

TEST(MakeBackends, BuildsWhatIsAskedForOnOneDevice) {
  const ts::Backends none = ts::make_backends("cpu", {});
  EXPECT_EQ(none.device, -1);
  EXPECT_FALSE(none.pass || none.tensors || none.train);
  const ts::Backends all = ts::make_backends("cpu", {.pass = true, .tensors = true, .train = true});
  ASSERT_TRUE(all.pass && all.tensors && all.train);
  EXPECT_EQ(all.pass->device_name().rfind("cpu", 0), 0u) << all.pass->device_name();
  EXPECT_EQ(all.train->device_name().rfind("cpu", 0), 0u) << all.train->device_name();
  std::string why;
  if (!ts::cuda_backend_available(&why)) {
    EXPECT_THROW(ts::make_backends("cuda", {.pass = true}), ts::InputError);
    // Nothing asked for, nothing refused: resolving alone needs no GPU.
    EXPECT_EQ(ts::make_backends("cuda", {}).device, 0);
  }
}

// --init, --init-scale and --seed are one group with one default: a random θ
// drawn by `expand` without --init is the Glorot θ that `train` starts from.
TEST(FlagGroups, ExpandAndTrainDrawTheSameDefaultTheta) {
  const TempDir dir("ts_flag_groups");
  const std::string data = write_npy_dataset(dir.path(), {3, 3}, 4);
  const std::string common = "expand --quiet --device cpu --order 2 --hidden 3 --save-precision f64 --data " + data;
  const CliRun by_default = run_cli(common + " --save-params " + dir.file("default"));
  ASSERT_EQ(by_default.status, 0) << by_default.err;
  const CliRun glorot = run_cli(common + " --init glorot --save-params " + dir.file("glorot"));
  ASSERT_EQ(glorot.status, 0) << glorot.err;
  const CliRun gaussian = run_cli(common + " --init gaussian --save-params " + dir.file("gaussian"));
  ASSERT_EQ(gaussian.status, 0) << gaussian.err;
  const ts::Params a = ts::load_params(dir.file("default")), b = ts::load_params(dir.file("glorot")),
                   c = ts::load_params(dir.file("gaussian"));
  EXPECT_EQ(a.U, b.U);
  EXPECT_EQ(a.W, b.W);
  EXPECT_NE(a.U, c.U) << "the test cannot tell the initialisations apart";
  // Glorot's biases are zero; the gaussian's are not.
  for (double v : a.b) EXPECT_EQ(v, 0.0);

  // `train --epochs 0` keeps its initial θ: the same default θ.
  const CliRun train = run_cli("train --quiet --device cpu --hidden 3 --epochs 0 --save-precision f64 --data " + data +
                               " --eval " + data + " --out " + dir.file("run"));
  ASSERT_EQ(train.status, 0) << train.err;
  const ts::Params t = ts::load_params(dir.file("run"));
  EXPECT_EQ(t.U, a.U);
  EXPECT_EQ(t.W, a.W);
}

TEST(FlagGroups, EveryCommandSharesTheModelFlagsDefaults) {
  for (const std::string cmd : {"expand", "train", "dominance"}) {
    const CliRun r = run_cli(cmd + " --help");
    ASSERT_EQ(r.status, 0) << cmd;
    for (const char* flag : {"--activation TEXT=silu", "--init TEXT=glorot", "--init-scale FLOAT=0.05",
                             "--seed UINT=0", "--device TEXT=auto"})
      EXPECT_NE(r.out.find(flag), std::string::npos) << cmd << " lacks " << flag << "\n" << r.out;
  }
  // --save-precision's default is the command's (commands.hpp says why).
  EXPECT_NE(run_cli("expand --help").out.find("--save-precision TEXT=f32"), std::string::npos);
  EXPECT_NE(run_cli("train --help").out.find("--save-precision TEXT=f32"), std::string::npos);
  EXPECT_NE(run_cli("dominance --help").out.find("--save-precision TEXT=f64"), std::string::npos);
}
