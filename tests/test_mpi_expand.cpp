// `mpirun -np R taylorscope expand …` (INTERFACES.md "Several processes"):
// with the rows or the hidden units split across R = 2 and 3 ranks, every
// number of the JSON report agrees with one process to 1e-12 relative; the
// same R twice gives the same bits; rank 0 alone prints and writes.
// Skips without MPI or without Debian's Fashion-MNIST.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "mpi_support.hpp"

namespace taylorscope::testing {
namespace {

namespace fs = std::filesystem;

// Small enough for three oversubscribed ranks on two cores, large enough
// that every rank has rows of every class and H splits unevenly (H = 37 over
// 2 and 3 ranks).
const std::string kArgs = "expand --data fashion-mnist:test --limit 50 --hidden 37 --order 8 --device cpu";

// What differs by construction between a single process and R ranks, and
// three numbers that are differences of nearly equal numbers, checked
// apart (agree_with_one_process).
const std::vector<std::string> kSkip = {"timing_ms", "device", "ranks", "shard",
                                        "S2_rel_diff", "S3_rel_diff", "abs_error"};

// Every number against the single process: 1e-12 relative. The floor is
// for numbers that are rounding noise in both runs, whose relative
// difference means nothing: S_1 on balanced data (exactly 0 by symmetry,
// ~1e-17 here). 1e-15 absolute is 100× above that noise and far below every
// number of this report that is not noise (all ≥ 1e-6 in magnitude).
constexpr double kRel = 1e-12, kFloor = 1e-15;

// The numbers kSkip sets apart: terms_check's relative differences between
// the closed forms and the jets are rounding noise (~1e-16) in any run, so
// each run must keep them below 1e-12; validity's abs_error = |S(tθ) − Σ
// t^k S_k| subtracts two O(1) numbers that agree to ~1e-9 at small t, so its
// own relative rounding is ~1e-7: it must agree to 1e-12 of S(tθ), the scale
// of what it subtracts.
void agree_with_one_process(const nlohmann::json& one, const nlohmann::json& many) {
  EXPECT_EQ(json_difference(one, many, kRel, kFloor, kSkip), "");
  for (const char* k : {"S2_rel_diff", "S3_rel_diff"}) {
    EXPECT_LT(one["terms_check"][k].get<double>(), 1e-12) << k;
    EXPECT_LT(many["terms_check"][k].get<double>(), 1e-12) << k;
  }
  ASSERT_EQ(one["validity"].size(), many["validity"].size());
  for (size_t i = 0; i < one["validity"].size(); ++i) {
    const double scale = std::fabs(one["validity"][i]["S_direct"].get<double>());
    EXPECT_LE(std::fabs(one["validity"][i]["abs_error"].get<double>() - many["validity"][i]["abs_error"].get<double>()),
              kRel * scale)
        << "validity[" << i << "].abs_error";
  }
}

struct MpiExpand : ::testing::Test {
  fs::path dir;
  void SetUp() override {
    if (!have_mpi()) GTEST_SKIP() << "this build has no MPI (install libopenmpi-dev)";
    if (!have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
    dir = fs::temp_directory_path() / ("ts_mpi_expand_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  // One process (no mpirun), its report.
  nlohmann::json single() {
    const std::string report = (dir / "single.json").string();
    const CliRun r = run_cli_with_prefix("OMP_NUM_THREADS=1", kArgs + " --quiet --report " + report);
    EXPECT_EQ(r.status, 0) << r.err;
    return read_json(report);
  }
  nlohmann::json ranks(int R, const std::string& shard, const std::string& name) {
    const std::string report = (dir / name).string();
    const CliRun r = run_mpi(R, kArgs + " --quiet --shard " + shard + " --report " + report);
    EXPECT_EQ(r.status, 0) << r.err;
    return read_json(report);
  }
};

TEST_F(MpiExpand, RowsAndHiddenShardsAgreeWithOneProcessAndRepeatBitwise) {
  const nlohmann::json one = single();
  EXPECT_EQ(one["ranks"], 1);
  EXPECT_TRUE(one["device"].is_string());
  EXPECT_FALSE(one["timing_ms"].contains("allreduce"));
  for (const std::string shard : {"rows", "hidden"})
    for (int R : {2, 3}) {
      SCOPED_TRACE("--shard " + shard + ", R = " + std::to_string(R));
      const nlohmann::json a = ranks(R, shard, shard + std::to_string(R) + "a.json");
      EXPECT_EQ(a["ranks"], R);
      EXPECT_EQ(a["shard"], shard);
      ASSERT_TRUE(a["device"].is_array());
      EXPECT_EQ(a["device"].size(), static_cast<size_t>(R));
      EXPECT_TRUE(a["timing_ms"].contains("allreduce"));
      agree_with_one_process(one, a);
      // The same R again: the same bits (rank-order sums, fixed blocks).
      const nlohmann::json b = ranks(R, shard, shard + std::to_string(R) + "b.json");
      EXPECT_EQ(json_difference(a, b, 0.0, 0.0, {"timing_ms"}), "");
    }
}

// Ranks 1 and 2 are given other output paths (an MPMD launch: one command
// line per rank group); if any of them wrote, its paths would exist. Only
// rank 0's do, and its table is printed once.
TEST_F(MpiExpand, OnlyRankZeroPrintsAndWrites) {
  const std::string report0 = (dir / "rank0.json").string(), theta0 = (dir / "theta0").string();
  const std::string report1 = (dir / "other.json").string(), theta1 = (dir / "theta_other").string();
  const std::string rest = " : -np 2 --oversubscribe " + std::string(TS_CLI_PATH) + " " + kArgs +
                           " --report " + report1 + " --save-params " + theta1;
  const std::string launcher = std::string("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 ") +
                               TS_MPIEXEC + " -np 1 --oversubscribe";
  const CliRun r = run_cli_with_prefix(launcher, kArgs + " --report " + report0 + " --save-params " + theta0 + rest);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(report0));
  EXPECT_TRUE(fs::exists(fs::path(theta0) / "U.npy"));
  EXPECT_FALSE(fs::exists(report1)) << "a rank other than 0 wrote its --report";
  EXPECT_FALSE(fs::exists(theta1)) << "a rank other than 0 created its --save-params";
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"rank0.json", "theta0"}));
  // One table: the header line appears once.
  const std::string head = "taylorscope expand:";
  const size_t first = r.out.find(head);
  ASSERT_NE(first, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(head, first + 1), std::string::npos) << r.out;
  EXPECT_EQ(read_json(report0)["ranks"], 3);
}

TEST_F(MpiExpand, AnUnknownShardIsRefusedWithOneLine) {
  const CliRun r = run_cli(kArgs + " --shard columns");
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("--shard must be rows or hidden"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taylorscope::testing
