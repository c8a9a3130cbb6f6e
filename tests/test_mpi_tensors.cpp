// `mpirun -np R taylorscope tensors …` against one process (INTERFACES.md
// "Several processes"): the tiles of each sweep are shared among the ranks
// (tile_partition, balanced by tile_cost), the moment accumulators merged in
// rank order, the histograms binned over the merged (global) min and max and
// summed. Also, without MPI: the partition itself, and the library's sweep
// of a tile range, whose shares merge to the whole sweep.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_fixtures.hpp"
#include "mpi_support.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/npy.hpp"
#include "taylorscope/packed_tiles.hpp"
#include "taylorscope/params.hpp"
#include "temp_dir.hpp"

namespace taylorscope {
namespace {

namespace fs = std::filesystem;

// ---- the partition (no MPI) ----

TEST(TilePartition, CoversEveryTileOnceInOrderWithinOneTileOfAnEqualShare) {
  for (int64_t E : {1, 2, 7, 40, 100})
    for (int n = 1; n <= kMaxTensorOrder; ++n)
      for (int R : {1, 2, 3, 4, 7, 16, 200}) {
        const std::string what = "E=" + std::to_string(E) + " n=" + std::to_string(n) + " R=" + std::to_string(R);
        const std::vector<TilePrefix> tiles = tile_prefixes(E, n);
        const std::vector<int64_t> b = tile_partition(E, n, R);
        ASSERT_EQ(b.size(), static_cast<size_t>(R + 1)) << what;
        // Contiguous runs in tile order that together are every tile once.
        EXPECT_EQ(b.front(), 0) << what;
        EXPECT_EQ(b.back(), static_cast<int64_t>(tiles.size())) << what;
        for (int r = 0; r < R; ++r) {
          EXPECT_LE(b[r], b[r + 1]) << what << " rank " << r;
          const TileRange share = tile_share(E, n, r, R);
          EXPECT_EQ(share.begin, b[r]) << what;
          EXPECT_EQ(share.end, b[r + 1]) << what;
        }
        // Each run's cost is within the largest tile's cost of an equal share.
        double total = 0, largest = 0;
        for (const TilePrefix& p : tiles) {
          total += tile_cost(E, n, p);
          largest = std::max(largest, tile_cost(E, n, p));
        }
        for (int r = 0; r < R; ++r) {
          double cost = 0;
          for (int64_t t = b[r]; t < b[r + 1]; ++t) cost += tile_cost(E, n, tiles[t]);
          EXPECT_LE(std::fabs(cost - total / R), largest) << what << " rank " << r;
        }
        // The cut is a function of the shape and R alone.
        EXPECT_EQ(tile_partition(E, n, R), b) << what;
      }
}

TEST(TilePartition, ATileCostsItsSquare) {
  // n = 3, E = 5: prefixes g = 0..4, L = g, squares (5 − g)².
  const std::vector<TilePrefix> tiles = tile_prefixes(5, 3);
  for (size_t g = 0; g < tiles.size(); ++g) EXPECT_EQ(tile_cost(5, 3, tiles[g]), (5.0 - g) * (5.0 - g));
  EXPECT_EQ(tile_cost(5, 1, tile_prefixes(5, 1)[0]), 5.0);   // the row 1 × E
  EXPECT_EQ(tile_cost(5, 2, tile_prefixes(5, 2)[0]), 25.0);  // one square E × E
  // Two ranks of 55: the boundary nearest 27.5 is after tile 0 (25 before
  // it, 2.5 away), not after tile 1 (41, 13.5 away): 25 | 16 + 9 + 4 + 1.
  EXPECT_EQ(tile_partition(5, 3, 2), (std::vector<int64_t>{0, 1, 5}));
}

// ---- the library: a rank's sweep is a tile range of the backend's ----

Dataset small_dataset(int64_t per_class, int M, int64_t E, uint64_t seed) {
  Dataset d;
  d.spec = "test";
  d.N = per_class * M;
  d.E = E;
  d.M = M;
  uint64_t s = seed;
  auto uniform = [&s] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(s >> 11) / 9007199254740992.0;
  };
  for (int64_t i = 0; i < d.N; ++i) {
    d.labels.push_back(static_cast<int>(i % M));
    for (int64_t g = 0; g < E; ++g) d.Z.push_back(uniform() < 0.2 ? 0.0 : uniform());
  }
  count_classes(d);
  return d;
}

TEST(TensorRanks, SharesOfTheTilesMergeToTheWholeSweep) {
  const Dataset data = small_dataset(6, 3, 9, 7);
  const Params theta = init_glorot_uniform(3, 5, 9, 11);
  TensorSources src{&data, &theta};
  auto backend = make_cpu_tensor_backend();
  backend->upload(src);
  ASSERT_EQ(backend->E(), 9);
  for (int n = 1; n <= 4; ++n)
    for (int R : {2, 5}) {
      const std::string what = "n=" + std::to_string(n) + " R=" + std::to_string(R);
      const TensorSweep whole = backend->sweep(n, nullptr, {});
      TensorSweep merged;
      int64_t tiles_seen = 0;
      for (int r = 0; r < R; ++r) {
        const TileRange share = tile_share(9, n, r, R);
        int64_t last_total = 0;
        const TensorSweep part = backend->sweep(n, nullptr, [&](int64_t, int64_t total) { last_total = total; }, share);
        tiles_seen += last_total;
        for (int k = 0; k < 3; ++k) moments_merge(merged.acc[k], part.acc[k]);
        merged.gemm_flops += part.gemm_flops;
      }
      EXPECT_EQ(tiles_seen, static_cast<int64_t>(tile_prefixes(9, n).size())) << what;
      EXPECT_EQ(merged.gemm_flops, whole.gemm_flops) << what;  // integers below 2^53: exact
      for (int k = 0; k < 3; ++k) {
        const MomentAccumulator &a = merged.acc[k], &b = whole.acc[k];
        // Counts, extremes and the weight of zeros and negatives are exact;
        // the central sums are grouped differently: rounding, ~1e-15 here.
        EXPECT_EQ(a.n, b.n) << what;
        EXPECT_EQ(a.min, b.min) << what;
        EXPECT_EQ(a.max, b.max) << what;
        EXPECT_EQ(a.negative, b.negative) << what;
        EXPECT_EQ(a.zero, b.zero) << what;
        EXPECT_NEAR(a.mean, b.mean, 1e-12 * std::sqrt(b.M2 / b.n)) << what;
        EXPECT_NEAR(a.M2, b.M2, 1e-12 * b.M2) << what;
        EXPECT_NEAR(a.M4, b.M4, 1e-12 * b.M4) << what;
      }
      // Histograms over one range: every element lands in the same bin
      // whichever rank sweeps its tile, so the summed counts are exact.
      HistogramRange ranges[3];
      for (int k = 0; k < 3; ++k) ranges[k] = histogram_range(finish_stats(whole.acc[k]), 13);
      const TensorSweep whole_h = backend->sweep(n, ranges, {});
      std::vector<uint64_t> sum[3];
      for (int k = 0; k < 3; ++k) sum[k].assign(13, 0);
      for (int r = 0; r < R; ++r) {
        const TensorSweep part = backend->sweep(n, ranges, {}, tile_share(9, n, r, R));
        for (int k = 0; k < 3; ++k)
          for (int b = 0; b < 13; ++b) sum[k][b] += part.histogram[k][b];
      }
      for (int k = 0; k < 3; ++k) EXPECT_EQ(sum[k], whole_h.histogram[k]) << what << " stream " << k;
    }
}

TEST(TensorRanks, ARangeOutsideTheTilesIsRefused) {
  const Dataset data = small_dataset(2, 2, 4, 3);
  auto backend = make_cpu_tensor_backend();
  backend->upload(TensorSources{&data, nullptr});
  EXPECT_THROW(backend->sweep(3, nullptr, {}, TileRange{3, 2}), std::invalid_argument);
  EXPECT_THROW(backend->sweep(3, nullptr, {}, TileRange{5, 9}), std::invalid_argument);  // 4 tiles
  EXPECT_EQ(backend->sweep(3, nullptr, {}, TileRange{4, 4}).acc[kStreamJ].n, 0.0);     // empty: nothing
}

// ---- the CLI under mpirun ----

// Fashion-MNIST's test images, 20 of each class (N = 200), cut to the two
// middle rows of pixels (E = 56, zeros at the borders included), as npy:
// order 3 over 56 tiles stays well under a second a run.
std::string fashion_rows(const fs::path& dir) {
  DataOptions o;
  o.limit = 20;
  const Dataset full = load_dataset("fashion-mnist:test", o);
  const int64_t E = 56, first = 13 * 28;
  std::vector<double> X;
  std::vector<int64_t> y;
  for (int64_t s = 0; s < full.N; ++s) {
    X.insert(X.end(), full.row(s) + first, full.row(s) + first + E);
    y.push_back(full.labels[s]);
  }
  const std::string xs = (dir / "X.npy").string(), ys = (dir / "y.npy").string();
  write_npy(xs, {full.N, E}, X, NpyPrecision::f64);
  testing::write_npy_labels(ys, y);
  return "npy:" + xs + "," + ys;
}

class MpiTensors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::have_mpi() || !testing::have_fashion_mnist()) return;
    dir_ = new testing::TempDir("ts_mpi_tensors");
    data_ = fashion_rows(dir_->path());
    save_params(init_glorot_uniform(10, 8, 56, 5), dir_->file("theta"), NpyPrecision::f64);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    TS_SKIP_WITHOUT_MPI();
    if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  }
  // The command line of order n writing its report to `report`.
  static std::string args(int n, const std::string& report) {
    return "tensors --quiet --device cpu --data " + data_ + " --params " + dir_->file("theta") + " --order " +
           std::to_string(n) + " --bins 32 --report " + report;
  }
  static testing::TempDir* dir_;
  static std::string data_;
};

testing::TempDir* MpiTensors::dir_ = nullptr;
std::string MpiTensors::data_;

// Keys that differ between runs by construction: wall times, the device
// (one string, or every rank's), and the rank count itself.
const std::vector<std::string> kDiffers = {"timing_ms", "device", "ranks"};

// Every number to 1e-12 relative (json_difference with no floor) but one:
// the mean, to 1e-12 of the std. J's mean is 0 by construction for balanced
// data (Σ_α J_α = 0 element by element), so what either run reports is
// rounding noise of a few ε·std (measured: 8e-20 against a std of 1e-6),
// which no relative tolerance can compare; its error on the scale of the
// elements is what the grouping of the merges changes. Histogram counts are
// compared exactly: both runs bin the same element values over the same
// (global) min and max. Measured on these inputs (n = 2..4, R = 2, 3):
// everything else agrees to ≤ 2e-13 relative, the counts exactly.
std::string stats_difference(const nlohmann::json& a, const nlohmann::json& b) {
  nlohmann::json u = a, v = b;
  for (const char* s : {"J", "T", "JT"}) {
    if (!a.contains(s)) continue;
    const nlohmann::json &x = a.at(s), &y = b.at(s);
    if (x.at("histogram").at("counts") != y.at("histogram").at("counts"))
      return std::string(s) + ".histogram.counts differ";
    const double mx = x.at("mean").get<double>(), my = y.at("mean").get<double>();
    if (!(std::fabs(mx - my) <= 1e-12 * x.at("std").get<double>()))
      return std::string(s) + ".mean: " + x.at("mean").dump() + " vs " + y.at("mean").dump();
    u[s].erase("mean");
    v[s].erase("mean");
  }
  return testing::json_difference(u, v, 1e-12, 0.0, kDiffers);
}

TEST_F(MpiTensors, RanksAgreeWithOneProcessAndAFixedRankCountRepeatsItsBits) {
  for (int n = 1; n <= 3; ++n) {
    const std::string one = dir_->file("one_" + std::to_string(n) + ".json");
    const testing::CliRun single = testing::run_cli(args(n, one));
    ASSERT_EQ(single.status, 0) << single.err;
    const nlohmann::json ref = testing::read_json(one);
    EXPECT_EQ(ref.at("ranks"), 1);
    EXPECT_TRUE(ref.at("device").is_string());
    EXPECT_FALSE(ref.at("timing_ms").contains("allreduce"));
    for (int R : {2, 3}) {
      const std::string what = "n=" + std::to_string(n) + " R=" + std::to_string(R);
      const std::string path = dir_->file("r" + std::to_string(R) + "_" + std::to_string(n) + ".json");
      const testing::CliRun run = testing::run_mpi(R, args(n, path));
      ASSERT_EQ(run.status, 0) << what << ": " << run.err;
      const nlohmann::json got = testing::read_json(path);
      EXPECT_EQ(got.at("ranks"), R) << what;
      ASSERT_TRUE(got.at("device").is_array()) << what;
      EXPECT_EQ(got.at("device").size(), static_cast<size_t>(R)) << what;
      EXPECT_TRUE(got.at("timing_ms").contains("allreduce")) << what;
      EXPECT_EQ(stats_difference(got, ref), "") << what;
      EXPECT_EQ(stats_difference(ref, got), "") << what;

      if (R != 2) continue;
      // The same R again: the same bits (timings aside).
      const std::string again = dir_->file("again_" + std::to_string(n) + ".json");
      ASSERT_EQ(testing::run_mpi(R, args(n, again)).status, 0) << what;
      nlohmann::json a = got, b = testing::read_json(again);
      a.erase("timing_ms");
      b.erase("timing_ms");
      EXPECT_EQ(a.dump(), b.dump()) << what;
    }
  }
}

std::vector<std::string> tree(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) names.push_back(fs::relative(e.path(), dir).string());
  std::sort(names.begin(), names.end());
  return names;
}

// Rank 0 alone writes. Here every other rank is given outputs of its own
// (mpirun's MPMD form: one command line per group of ranks): had any of them
// written, its report, plot or dump directory would exist.
TEST_F(MpiTensors, OnlyRankZeroWritesAndPrints) {
  const testing::TempDir out("ts_mpi_tensors_out");
  auto outputs = [&](const std::string& who) {
    return " --report " + out.file(who + ".json") + " --dump " + out.file(who + "_dump");
  };
  const std::string base = "tensors --device cpu --data " + data_ + " --params " + dir_->file("theta") +
                           " --order 2 --bins 8";
  const std::string launcher = std::string("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 ") +
                               TS_MPIEXEC + " --oversubscribe -np 1";
  const testing::CliRun r = testing::run_cli_with_prefix(
      launcher, base + outputs("rank0") + " : -np 2 " + TS_CLI_PATH + " " + base + outputs("others"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(tree(out.path()), (std::vector<std::string>{"rank0.json", "rank0.png", "rank0_dump", "rank0_dump/.taylorscope.lock", "rank0_dump/J.npy",
                                                        "rank0_dump/JT.npy", "rank0_dump/T.npy"}));
  EXPECT_EQ(testing::read_json(out.file("rank0.json")).at("ranks"), 3);
  // One table, printed once: rank 0's.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n') > 0, true);
  size_t tables = 0;
  for (size_t at = r.out.find("taylorscope tensors:"); at != std::string::npos; at = r.out.find("taylorscope tensors:", at + 1))
    ++tables;
  EXPECT_EQ(tables, 1u) << r.out;
}

}  // namespace
}  // namespace taylorscope
