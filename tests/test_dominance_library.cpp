// dominance() as a library call (dominance.hpp): the rows, the files of OUT,
// the observer's order — and, through a communicator that says it is rank
// 1 of 2, that a rank other than 0 writes none of dominance()'s own files.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli_fixtures.hpp"
#include "mpi_support.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/dominance.hpp"
#include "taylorscope/errors.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
namespace ts = taylorscope;
using namespace taylorscope::testing;

namespace {

// Rank 1 of 2 whose partner is its own copy: every collective behaves as if
// the other rank held the same values (allreduce doubles, allgather repeats).
// The numbers it yields are not one process's; the test asks only what it
// writes.
class SecondOfTwo final : public ts::Communicator {
 public:
  int rank() const override { return 1; }
  int size() const override { return 2; }
  int local_rank() const override { return 1; }
  std::string transport() const override { return "mirror"; }
  void allreduce_sum(double* d, size_t n) override {
    for (size_t i = 0; i < n; ++i) d[i] += d[i];
  }
  void broadcast(void*, size_t, int) override {}
  std::vector<std::string> allgather(const std::string& b) override { return {b, b}; }
  void barrier() override {}
};

struct Fixture {
  TempDir dir{"ts_dominance_lib"};
  ts::Dataset data;
  ts::DominanceOptions options;
  ts::Backends backends = ts::make_backends("cpu", {.pass = true, .tensors = true, .train = true});
  Fixture() {
    // 12 rows of 3 classes in turn (0, 1, 2, 0, …), so that any contiguous
    // half of them — a rank's share — holds every class.
    std::vector<double> X;
    std::vector<int64_t> y;
    for (int i = 0; i < 12; ++i) {
      y.push_back(i % 3);
      for (int g = 0; g < 3; ++g) X.push_back(0.1 * (i % 3 + 1) + 0.01 * ((i * 7 + g * 3) % 11));
    }
    ts::write_npy(dir.file("X.npy"), {12, 3}, X, ts::NpyPrecision::f64);
    write_npy_labels(dir.file("y.npy"), y);
    ts::DataOptions o;
    data = ts::load_dataset("npy:" + dir.file("X.npy") + "," + dir.file("y.npy"), o);
    options.hidden = {2, 3};
    options.order = 5;
    options.bins = 8;
    options.train.epochs = 1;
    options.train.batch = 4;
    options.train.act = ts::parse_activation("tanh");
    options.settings = {{"note", "test"}};
  }
};

}  // namespace

TEST(DominanceLibrary, TrainsAndAnalysesEachWidthAndWritesOut) {
  Fixture f;
  f.options.out = f.dir.file("out");
  std::vector<std::string> events;
  ts::DominanceObserver observer;
  observer.on_width = [&](int64_t H, const std::string& dir) {
    events.push_back("width " + std::to_string(H));
    EXPECT_EQ(dir, ts::dominance_width_dir(f.options.out, H));
  };
  observer.on_analysed = [&](const ts::WidthAnalysis& w) { events.push_back("analysed " + std::to_string(w.H)); };
  auto single = ts::make_single_communicator();
  const std::vector<ts::WidthAnalysis> rows = ts::dominance(f.data, f.data, f.options, f.backends, observer, *single);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].H, 2);
  EXPECT_EQ(rows[1].H, 3);
  EXPECT_EQ(events, (std::vector<std::string>{"width 2", "analysed 2", "width 3", "analysed 3"}));
  for (const ts::WidthAnalysis& w : rows) {
    EXPECT_EQ(w.tensors.size(), 2u);
    EXPECT_EQ(static_cast<int>(w.expansion.S_k.size()), f.options.order + 1);
  }
  const nlohmann::json j = read_json(f.dir.file("out/dominance.json"));
  EXPECT_EQ(j.at("ranks"), 1);
  EXPECT_EQ(j.at("settings"), f.options.settings);
  ASSERT_EQ(j.at("widths").size(), 2u);
  EXPECT_TRUE(j["widths"][0].at("device").is_string());
  for (const char* file : {"dominance.csv", "term_magnitudes.png", "dominant_ratio.png", "H2/tensors_n1.png",
                           "H3/tensors_n2.png", "H2/best/U.npy"})
    EXPECT_TRUE(fs::exists(f.dir.path() / "out" / file)) << file;
}

TEST(DominanceLibrary, ARankOtherThanZeroWritesNoneOfItsFiles) {
  Fixture f;
  // Rank 0's run directories, as its train() would have left them.
  const std::string out0 = f.dir.file("rank0");
  f.options.out = out0;
  auto single = ts::make_single_communicator();
  ts::dominance(f.data, f.data, f.options, f.backends, {}, *single);
  fs::remove(fs::path(out0) / "dominance.json");
  fs::remove(fs::path(out0) / "dominance.csv");
  for (const char* png : {"term_magnitudes.png", "term_shares.png", "subterm_counts.png", "dominant_ratio.png",
                          "H2/tensors_n1.png", "H2/tensors_n2.png", "H3/tensors_n1.png", "H3/tensors_n2.png"})
    fs::remove(fs::path(out0) / png);

  f.options.resume = true;  // the runs are complete: train() only reads them back
  SecondOfTwo rank1;
  const std::vector<ts::WidthAnalysis> rows = ts::dominance(f.data, f.data, f.options, f.backends, {}, rank1);
  EXPECT_EQ(rows.size(), 2u);
  for (const char* file : {"dominance.json", "dominance.csv", "term_magnitudes.png", "H2/tensors_n1.png"})
    EXPECT_FALSE(fs::exists(fs::path(out0) / file)) << file << " written by rank 1";
}

TEST(DominanceLibrary, RefusesWhatItCannotAnalyseBeforeWriting) {
  Fixture f;
  f.options.out = f.dir.file("refused");
  f.options.hidden = {};
  EXPECT_THROW(ts::dominance(f.data, f.data, f.options, f.backends), ts::InputError);
  f.options.hidden = {2};
  f.options.order = 4;
  EXPECT_THROW(ts::dominance(f.data, f.data, f.options, f.backends), ts::InputError);
  EXPECT_FALSE(fs::exists(f.options.out));
}
