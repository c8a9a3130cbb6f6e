// `taylorscope tensors` and `taylorscope dominance` as scripts run them:
// the files of INTERFACES.md, their internal consistency, and one-line
// errors with exit status 2. Small Fashion-MNIST subsets keep ctest short.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_fixtures.hpp"
#include "cli_support.hpp"
#include "temp_dir.hpp"
#include "taylorscope/npy.hpp"

namespace taylorscope {
namespace {

namespace fs = std::filesystem;
using testing::run_cli;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("ts_tensors_cli_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

bool is_png(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char sig[8] = {};
  in.read(sig, 8);
  return in && std::string(sig, 8) == "\x89PNG\r\n\x1a\n";
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b)); }

TEST(TensorsCli, ReportHasTheInterfaceKeysAndTheDumpAgreesWithIt) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const fs::path d = fresh_dir("report");
  const std::string data = "--data fashion-mnist:test --limit 20";
  ASSERT_EQ(run_cli("expand " + data + " --hidden 16 --order 2 --quiet --save-precision f64 --save-params " +
                    (d / "theta").string()).status, 0);
  const testing::CliRun t = run_cli("tensors " + data + " --params " + (d / "theta").string() +
                                    " --order 2 --bins 20 --device cpu --report " + (d / "t.json").string() +
                                    " --dump " + (d / "dump").string());
  ASSERT_EQ(t.status, 0) << t.err;
  const nlohmann::json j = read_json(d / "t.json");
  EXPECT_EQ(j.at("order"), 2);
  for (const char* k : {"J", "T", "JT"}) {
    const nlohmann::json& s = j.at(k);
    for (const char* f : {"count", "min", "max", "mean", "std", "skewness", "excess_kurtosis", "frac_negative"})
      EXPECT_TRUE(s.at(f).is_number()) << k << "." << f;
    EXPECT_EQ(s.at("count").get<double>(), 10.0 * 784 * 784) << k;  // M·E^n with multiplicities
    EXPECT_EQ(s.at("histogram").at("edges").size(), 21u) << k;
    double total = 0;
    for (double c : s.at("histogram").at("counts")) total += c;
    EXPECT_EQ(total, 10.0 * 784 * 784) << k;
  }
  // Two routes to ⟨J,T⟩ in float64 over 6·10^6 terms: agreement ~1e-13.
  EXPECT_LT(rel(j.at("dot").get<double>(), j.at("dot_power_sum").get<double>()), 1e-10);
  EXPECT_TRUE(is_png(d / "t.png"));

  // The dense dump holds the same elements the statistics were taken over.
  const NpyArray J = read_npy_floats((d / "dump" / "J.npy").string());
  ASSERT_EQ(J.shape, (std::vector<int64_t>{10, 784, 784}));
  double sum = 0, mn = INFINITY, mx = -INFINITY;
  for (double v : J.values) sum += v, mn = std::min(mn, v), mx = std::max(mx, v);
  EXPECT_EQ(mn, j["J"]["min"].get<double>());
  EXPECT_EQ(mx, j["J"]["max"].get<double>());
  // The mean of J is ~1e-17 (J sums to 0 over classes for balanced data):
  // compare on the scale of the elements' std.
  EXPECT_NEAR(sum / J.values.size(), j["J"]["mean"].get<double>(), 1e-12 * j["J"]["std"].get<double>());
  EXPECT_TRUE(fs::exists(d / "dump" / "T.npy"));
  EXPECT_TRUE(fs::exists(d / "dump" / "JT.npy"));
}

TEST(TensorsCli, BadInputExitsTwoWithOneLine) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const fs::path d = fresh_dir("bad");
  const std::string data = "--data fashion-mnist:test --limit 5";
  ASSERT_EQ(run_cli("expand " + data + " --hidden 4 --order 2 --quiet --save-params " + (d / "theta").string()).status, 0);
  const std::string theta = " --params " + (d / "theta").string();
  for (const std::string& args : {"tensors " + data + " --order 5", "tensors " + data + " --only X",
                                  "tensors " + data + " --only T", "tensors " + data + " --pad32" + theta,
                                  "tensors " + data + theta + " --order 3 --dump " + (d / "big").string()}) {
    const testing::CliRun r = run_cli(args);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_EQ(testing::lines(r.err), 1) << args << ": " << r.err;
  }
  EXPECT_FALSE(fs::exists(d / "big")) << "a refused --dump must not leave a directory behind";
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// F4: every output path — the report, the plot (given, or derived from the
// report) and the dump directory — is checked before the data is read (the
// data here does not exist), and a refusal leaves no output behind.
TEST(TensorsCli, AnUnwritableOutputPathIsRefusedBeforeAnythingIsRead) {
  const testing::TempDir d("ts_tensors_paths");
  std::ofstream(d.path() / "plain") << "a file";
  fs::create_directories(d.path() / "adir.png");
  const std::string base = "tensors --device cpu --order 2 --data npy:" + d.file("none/X.npy") + "," + d.file("none/y.npy");
  const std::string ok_report = " --report " + d.file("a.json");
  const std::pair<std::string, std::string> cases[] = {
      {" --report " + d.file("missing/t.json"), "--report"},
      {ok_report + " --plot /nonexistent/t.png", "--plot"},
      {" --report " + d.file("adir.json"), "--report's plot"},  // adir.png is a directory
      {ok_report + " --dump " + d.file("plain/dump"), "--dump"},
      {ok_report + " --dump " + d.file("plain"), "--dump"}};
  for (const auto& [extra, flag] : cases) {
    const testing::CliRun r = run_cli(base + extra);
    testing::expect_one_error_line(r, 2, extra);
    EXPECT_EQ(r.err.rfind("taylorscope: error: " + flag + " ", 0), 0u) << extra << ": " << r.err;
  }
  EXPECT_EQ(entries(d.path()), (std::vector<std::string>{"adir.png", "plain"}));
}

// The report, the plot and the dump are committed together: when the last
// dense tensor cannot be written (JT.npy is a directory), the report, the
// plot, J.npy, T.npy and the lock file this run created are removed.
TEST(TensorsCli, WhenTheDumpFailsTheReportAndPlotAreRemovedToo) {
  const testing::TempDir d("ts_tensors_rollback");
  const std::string data = "--data " + testing::write_npy_dataset(d.path(), {4, 4}, 3);
  ASSERT_EQ(run_cli("expand --quiet --device cpu " + data + " --hidden 3 --order 2 --save-params " + d.file("theta"))
                .status,
            0);
  fs::create_directories(d.path() / "dump" / "JT.npy");
  const std::string args = "tensors --quiet --device cpu " + data + " --params " + d.file("theta") +
                           " --order 2 --report " + d.file("t.json") + " --dump " + d.file("dump");
  const testing::CliRun r = run_cli(args);
  testing::expect_one_error_line(r, 1, "JT.npy is a directory");
  EXPECT_FALSE(fs::exists(d.path() / "t.json"));
  EXPECT_FALSE(fs::exists(d.path() / "t.png"));
  EXPECT_EQ(entries(d.path() / "dump"), (std::vector<std::string>{"JT.npy"}));

  // With the obstacle gone the same command writes all five files.
  fs::remove(d.path() / "dump" / "JT.npy");
  ASSERT_EQ(run_cli(args).status, 0);
  EXPECT_TRUE(is_png(d.path() / "t.png"));
  EXPECT_EQ(entries(d.path() / "dump"), (std::vector<std::string>{".taylorscope.lock", "J.npy", "JT.npy", "T.npy"}));
}

TEST(DominanceCli, WritesTheTableTheJsonAndThePlotsAndResumesToTheSameNumbers) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const fs::path d = fresh_dir("dominance");
  const std::string args = "dominance --data fashion-mnist:train --eval fashion-mnist:test --limit 20 "
                           "--hidden 2,8 --epochs 2 --lr 0.05 --device cpu --out " + d.string();
  const testing::CliRun r = run_cli(args);
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream csv(d / "dominance.csv");
  std::string header, row;
  std::getline(csv, header);
  int rows = 0;
  while (std::getline(csv, row)) ++rows;
  EXPECT_EQ(rows, 2);
  EXPECT_NE(header.find("abs_share_J_UWW"), std::string::npos);
  EXPECT_NE(header.find("D5_over_S5"), std::string::npos);

  const nlohmann::json j = read_json(d / "dominance.json");
  ASSERT_EQ(j.at("widths").size(), 2u);
  for (const nlohmann::json& w : j["widths"]) {
    // docs/math.md §3: the closed-form terms sum to the jet's S_2, S_3 to 1e-10 relative.
    for (const char* k : {"S2", "S3"})
      EXPECT_LT(rel(w[k]["closed_form_sum"].get<double>(), w[k]["exact"].get<double>()), 1e-10) << w["H"] << k;
    EXPECT_EQ(w["dominant"].size(), 4u);
    EXPECT_EQ(w["tensors"]["1"]["JT"]["count"].get<double>(), 10.0 * 784);
    EXPECT_EQ(w["S3"]["terms"]["J_UWW"]["count"].get<double>(), 10.0 * 784 * 784 * w["H"].get<double>());
  }
  for (const char* png : {"term_magnitudes.png", "term_shares.png", "subterm_counts.png", "dominant_ratio.png",
                          "H2/tensors_n1.png", "H8/tensors_n2.png"})
    EXPECT_TRUE(is_png(d / png)) << png;

  // Resumed: the runs are complete, nothing retrains, the analysis repeats
  // exactly (all but the wall time of the invocation).
  auto numbers = [&] {
    nlohmann::json w = read_json(d / "dominance.json")["widths"];
    for (nlohmann::json& x : w) x["theta_star"].erase("train_seconds");
    return w.dump();
  };
  const std::string before = numbers();
  ASSERT_EQ(run_cli(args + " --resume").status, 0);
  EXPECT_TRUE(numbers() == before) << "the resumed analysis differs";
}

TEST(DominanceCli, BadWidthsOrOrderExitTwoWithOneLine) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const fs::path d = fresh_dir("dominance_bad");
  const std::string base = "dominance --data fashion-mnist:train --eval fashion-mnist:test --limit 5 --out " +
                           d.string();
  for (const std::string& extra : {" --hidden 0", " --hidden 4 --order 3", " --hidden 4 --optimizer nope"}) {
    const testing::CliRun r = run_cli(base + extra);
    EXPECT_EQ(r.status, 2) << extra;
    EXPECT_EQ(testing::lines(r.err), 1) << extra << ": " << r.err;
  }
}

}  // namespace
}  // namespace taylorscope
