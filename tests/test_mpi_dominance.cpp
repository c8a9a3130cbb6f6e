// `mpirun -np 2 taylorscope dominance …` against one process: the same
// widths, the same θ* to training's tolerance, the same analysis, one
// combined OUT written by rank 0 alone (INTERFACES.md "Several processes").
//
// Each width's training is data-parallel (train()'s all-reduce of the
// gradients) and its analysis distributed by expand and tensor_statistics:
// these tests need those library calls distributed, which their own branches
// bring, and θ* handed over in memory (TrainResult), not read back from
// rank 0's best/ by every rank.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "cli_support.hpp"
#include "mpi_support.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace taylorscope::testing;

namespace {

// Every path under `root`, relative to it: what a run left behind.
std::set<std::string> tree(const fs::path& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) out.insert(fs::relative(e.path(), root).string());
  return out;
}

}  // namespace

TEST(MpiDominance, TwoRanksGiveOneProcesssAnalysisAndWriteOneOut) {
  TS_SKIP_WITHOUT_MPI();
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const TempDir dir("ts_mpi_dominance");
  // Tiny: 2 widths, 2 epochs of 5 steps (100 rows, --batch 20), so that
  // both ranks get rows of every mini-batch and the test stays a few seconds.
  const std::string args = "dominance --quiet --data fashion-mnist:train --eval fashion-mnist:test --limit 10 "
                           "--hidden 2,4 --epochs 2 --batch 20 --lr 0.05 --device cpu --out ";
  const CliRun one = run_cli(args + dir.file("one"));
  ASSERT_EQ(one.status, 0) << one.err;
  const CliRun two = run_mpi(2, args + dir.file("two"));
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_EQ(two.err, "") << "rank 0 alone speaks, and had nothing to say";

  const nlohmann::json a = read_json(dir.file("one/dominance.json"));
  const nlohmann::json b = read_json(dir.file("two/dominance.json"));
  EXPECT_EQ(a.at("ranks"), 1);
  EXPECT_EQ(b.at("ranks"), 2);
  ASSERT_EQ(b.at("widths").size(), 2u);
  for (const nlohmann::json& w : b["widths"]) {
    ASSERT_TRUE(w.at("device").is_array()) << w["device"];
    EXPECT_EQ(w["device"].size(), 2u);
  }
  // Training across ranks groups each mini-batch's gradient sum differently:
  // θ* agrees to 1e-9 relative (the training tolerance), and every number
  // computed from it to the same. The floor, 1e-12 absolute, is for numbers
  // that are zero up to rounding (S_1 of balanced data, the means of
  // centred tensors): a 1e-9 relative change of O(1) inputs moves them by
  // far less. Not compared: wall times, the devices and ranks (they differ
  // by construction), and the histograms' bin counts (an element within
  // rounding of a bin edge may change bins; the edges, min, max and moments
  // are compared).
  const std::string d = json_difference(a, b, 1e-9, 1e-12, {"train_seconds", "device", "ranks", "counts"});
  EXPECT_EQ(d, "") << "dominance.json differs between 1 and 2 ranks";

  // The same files, and nothing more: the other rank created nothing.
  EXPECT_EQ(tree(dir.path() / "one"), tree(dir.path() / "two"));
}

// Rank 0 alone writes. Ranks 1 and 2 are given an OUT of their own (mpirun's
// MPMD form, one command line per group of ranks): had any of them written
// — a run directory, a checkpoint, dominance.json, a PNG — it would exist.
TEST(MpiDominance, OnlyRankZeroWritesAndPrints) {
  TS_SKIP_WITHOUT_MPI();
  if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const TempDir dir("ts_mpi_dominance_mpmd");
  const std::string args = "dominance --data fashion-mnist:train --eval fashion-mnist:test --limit 10 "
                           "--hidden 2 --epochs 1 --batch 20 --lr 0.05 --device cpu --out ";
  const std::string launcher = std::string("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 "
                                           "OMPI_MCA_btl_vader_single_copy_mechanism=none ") +
                               TS_MPIEXEC + " --oversubscribe -np 1";
  const CliRun r = run_cli_with_prefix(
      launcher, args + dir.file("rank0") + " : -np 2 " + TS_CLI_PATH + " " + args + dir.file("others"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir.path() / "rank0" / "dominance.json"));
  EXPECT_EQ(read_json(dir.file("rank0/dominance.json")).at("ranks"), 3);
  EXPECT_FALSE(fs::exists(dir.path() / "others")) << "a rank other than 0 created its --out";
  size_t headers = 0;
  for (size_t at = r.out.find("taylorscope dominance:"); at != std::string::npos;
       at = r.out.find("taylorscope dominance:", at + 1))
    ++headers;
  EXPECT_EQ(headers, 1u) << r.out;
}
