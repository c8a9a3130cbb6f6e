// θ directories (U, W, b, c as .npy) and seeded initialisation.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "input_error.hpp"
#include "temp_dir.hpp"
#include "taylorscope/checksum.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/npy.hpp"
#include "taylorscope/params.hpp"

namespace fs = std::filesystem;
using namespace taylorscope;

namespace {

class TempDir : public taylorscope::testing::TempDir {
 public:
  TempDir() : taylorscope::testing::TempDir("ts_params") {}
};

using taylorscope::testing::input_error;

void expect_one_line_with(const std::string& msg, const std::string& path, const std::string& word) {
  EXPECT_NE(msg.find(path), std::string::npos) << "message does not name " << path << ": " << msg;
  EXPECT_NE(msg.find(word), std::string::npos) << "message lacks '" << word << "': " << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
}

// Values with more precision than a float holds, distinct everywhere.
Params sample_params(int64_t M, int64_t H, int64_t E) {
  Params p;
  p.M = M;
  p.H = H;
  p.E = E;
  auto fill = [](std::vector<double>& v, size_t n, double base) {
    v.resize(n);
    for (size_t i = 0; i < n; ++i) v[i] = base + 0.1 * static_cast<double>(i) + 1.0 / 3.0;
  };
  fill(p.U, static_cast<size_t>(M * H), 1.0);
  fill(p.W, static_cast<size_t>(H * E), -2.0);
  fill(p.b, static_cast<size_t>(H), 3.0);
  fill(p.c, static_cast<size_t>(M), -4.0);
  return p;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](double x, double y) {
           return std::bit_cast<uint64_t>(x) == std::bit_cast<uint64_t>(y);
         });
}

// A set as numpy.save alone would leave it: the four files, no manifest.
void save_numpy_style(const Params& p, const std::string& dir, NpyPrecision precision) {
  save_params(p, dir, precision);
  fs::remove(fs::path(dir) / "params.json");
}

std::vector<double> as_float(std::vector<double> v) {
  for (double& x : v) x = static_cast<float>(x);
  return v;
}

}  // namespace

TEST(ParamsIo, F8RoundTripIsExact) {
  TempDir dir;
  const Params p = sample_params(3, 4, 5);
  save_params(p, dir.file("theta"), NpyPrecision::f64);
  const Params q = load_params(dir.file("theta"));
  EXPECT_EQ(q.M, 3);
  EXPECT_EQ(q.H, 4);
  EXPECT_EQ(q.E, 5);
  EXPECT_TRUE(same_bits(q.U, p.U));
  EXPECT_TRUE(same_bits(q.W, p.W));
  EXPECT_TRUE(same_bits(q.b, p.b));
  EXPECT_TRUE(same_bits(q.c, p.c));
}

TEST(ParamsIo, F4RoundTripRoundsEachEntryToFloat) {
  TempDir dir;
  const Params p = sample_params(2, 3, 7);
  save_params(p, dir.str(), NpyPrecision::f32);
  EXPECT_EQ(read_npy_floats(dir.file("U.npy")).descr, "<f4");
  EXPECT_EQ(read_npy_floats(dir.file("W.npy")).shape, (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(read_npy_floats(dir.file("b.npy")).shape, (std::vector<int64_t>{3}));
  const Params q = load_params(dir.str());
  EXPECT_EQ(q.U, as_float(p.U));
  EXPECT_EQ(q.W, as_float(p.W));
  EXPECT_EQ(q.b, as_float(p.b));
  EXPECT_EQ(q.c, as_float(p.c));
  EXPECT_NE(q.U, p.U);  // the f4 file really is single precision
}

TEST(ParamsIo, SaveCreatesNestedDirectoryAndOverwrites) {
  TempDir dir;
  const std::string out = dir.file("a/b/best");
  save_params(sample_params(2, 2, 2), out, NpyPrecision::f64);
  save_params(sample_params(3, 1, 4), out, NpyPrecision::f64);
  const Params q = load_params(out);
  EXPECT_EQ(q.M, 3);
  EXPECT_EQ(q.E, 4);
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

TEST(ParamsIo, MissingFileIsNamed) {
  TempDir dir;
  save_params(sample_params(2, 2, 2), dir.str(), NpyPrecision::f32);
  fs::remove(dir.file("b.npy"));
  expect_one_line_with(input_error([&] { load_params(dir.str()); }), dir.file("b.npy"), "missing");
}

TEST(ParamsIo, ShapeMismatchBetweenFilesNamesTheFile) {
  TempDir dir;
  save_numpy_style(sample_params(3, 4, 5), dir.str(), NpyPrecision::f32);
  // W with 5 rows where U says H = 4.
  write_npy(dir.file("W.npy"), {5, 5}, std::vector<double>(25, 0.0), NpyPrecision::f32);
  std::string msg = input_error([&] { load_params(dir.str()); });
  expect_one_line_with(msg, dir.file("W.npy"), "expected shape (4, 5)");
  EXPECT_NE(msg.find("found (5, 5)"), std::string::npos) << msg;

  save_numpy_style(sample_params(3, 4, 5), dir.str(), NpyPrecision::f32);
  write_npy(dir.file("b.npy"), {3}, {0, 0, 0}, NpyPrecision::f32);
  msg = input_error([&] { load_params(dir.str()); });
  expect_one_line_with(msg, dir.file("b.npy"), "expected shape (4,)");

  save_numpy_style(sample_params(3, 4, 5), dir.str(), NpyPrecision::f32);
  write_npy(dir.file("c.npy"), {4}, {0, 0, 0, 0}, NpyPrecision::f32);
  msg = input_error([&] { load_params(dir.str()); });
  expect_one_line_with(msg, dir.file("c.npy"), "expected shape (3,)");
  EXPECT_NE(msg.find("M = 3"), std::string::npos) << msg;
}

TEST(ParamsIo, WrongRankIsRefusedWithFileNamed) {
  TempDir dir;
  save_numpy_style(sample_params(3, 4, 5), dir.str(), NpyPrecision::f64);
  write_npy(dir.file("U.npy"), {12}, std::vector<double>(12, 0.0), NpyPrecision::f64);
  const std::string msg = input_error([&] { load_params(dir.str()); });
  expect_one_line_with(msg, dir.file("U.npy"), "(M, H)");
  EXPECT_NE(msg.find("found (12,)"), std::string::npos) << msg;
}

TEST(ParamsIo, MalformedNpyInsideTheDirectoryIsNamed) {
  TempDir dir;
  save_numpy_style(sample_params(2, 2, 2), dir.str(), NpyPrecision::f64);
  fs::resize_file(dir.file("W.npy"), fs::file_size(dir.file("W.npy")) - 3);
  expect_one_line_with(input_error([&] { load_params(dir.str()); }), dir.file("W.npy"), "truncated");
}

// F1: θ with NaN or Inf is refused on load, naming the file, the array and
// how many of its values are not finite.
TEST(ParamsIo, NonFiniteValuesAreRefusedNamingFileArrayAndCount) {
  TempDir dir;
  Params p = sample_params(2, 3, 4);
  p.W[1] = std::nan("");
  p.W[5] = -INFINITY;
  save_params(p, dir.str(), NpyPrecision::f64);
  expect_one_line_with(input_error([&] { load_params(dir.str()); }), dir.file("W.npy"),
                       "W holds 2 non-finite values (NaN or Inf) of 12");
  p = sample_params(2, 3, 4);
  p.c[0] = INFINITY;  // also as f4, where a too-large f8 would become Inf
  save_params(p, dir.str(), NpyPrecision::f32);
  expect_one_line_with(input_error([&] { load_params(dir.str()); }), dir.file("c.npy"), "c holds 1 non-finite value");
}

// ---- the set as a whole (F14): params.json ---------------------------------

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

Params other_epoch(int64_t M, int64_t H, int64_t E) {
  Params p = sample_params(M, H, E);
  for (double* v : {p.U.data(), p.W.data(), p.b.data(), p.c.data()}) *v += 0.5;
  return p;
}

// The manifest lists each file with its shape, dtype, size and the CRC-32 a
// reader computes from the file alone.
TEST(ParamsSet, TheManifestDescribesEachFileAsWritten) {
  TempDir dir;
  save_params(sample_params(3, 4, 5), dir.str(), NpyPrecision::f32);
  const nlohmann::json m = nlohmann::json::parse(slurp(dir.file("params.json")));
  EXPECT_EQ(m["complete"], true);
  for (const char* f : {"U.npy", "W.npy", "b.npy", "c.npy"}) {
    const std::string bytes = slurp(dir.file(f));
    EXPECT_EQ(m["files"][f]["bytes"], bytes.size()) << f;
    EXPECT_EQ(m["files"][f]["crc32"], crc32_of(bytes.data(), bytes.size())) << f;
    EXPECT_EQ(m["files"][f]["dtype"], "<f4") << f;
  }
  EXPECT_EQ(m["files"]["W.npy"]["shape"], nlohmann::json::array({4, 5}));
  EXPECT_EQ(load_params(dir.str()).W, as_float(sample_params(3, 4, 5).W));
}

// The states a kill between the renames can leave, made by hand: an old
// manifest beside a new U (a writer without the "incomplete" mark first would
// leave exactly this) is refused naming U.npy; a manifest marked incomplete —
// what save_params writes before touching any file — is refused whatever the
// files; with the manifest removed the files load as numpy's would.
TEST(ParamsSet, AnInterruptedWriteIsRefusedNeverLoadedMixed) {
  TempDir a, b;
  save_params(sample_params(3, 4, 5), a.str(), NpyPrecision::f64);
  save_params(other_epoch(3, 4, 5), b.str(), NpyPrecision::f64);
  fs::copy_file(b.file("U.npy"), a.file("U.npy"), fs::copy_options::overwrite_existing);
  const std::string mixed = input_error([&] { load_params(a.str()); });
  expect_one_line_with(mixed, a.str(), "U.npy does not match the manifest");
  EXPECT_NE(mixed.find("mixed"), std::string::npos) << mixed;

  fs::remove(a.file("params.json"));  // numpy style: the user's files, as they are
  const Params loose = load_params(a.str());
  EXPECT_EQ(loose.U, other_epoch(3, 4, 5).U);
  EXPECT_EQ(loose.W, sample_params(3, 4, 5).W);

  // A first save cut short after U: the manifest says incomplete.
  TempDir c;
  save_params(sample_params(3, 4, 5), c.str(), NpyPrecision::f64);
  const std::string complete = slurp(c.file("params.json"));
  nlohmann::json m = nlohmann::json::parse(complete);
  m.erase("files");
  m["complete"] = false;
  std::ofstream(c.file("params.json"), std::ios::trunc) << m.dump();
  for (const char* f : {"W.npy", "b.npy", "c.npy"}) fs::remove(c.file(f));
  expect_one_line_with(input_error([&] { load_params(c.str()); }), c.str(), "incomplete");
  save_params(sample_params(3, 4, 5), c.str(), NpyPrecision::f64);  // the rewrite the message asks for
  EXPECT_EQ(load_params(c.str()).U, sample_params(3, 4, 5).U);
  EXPECT_EQ(slurp(c.file("params.json")), complete);
}

// A manifest that is not one is named, in one line.
TEST(ParamsSet, AMalformedManifestIsNamed) {
  TempDir dir;
  save_params(sample_params(2, 2, 2), dir.str(), NpyPrecision::f64);
  for (const std::string text : {"not json", "{\"format\": \"something else\"}", "[1, 2]",
                                 "{\"format\": \"taylorscope parameter set\", \"version\": 9, \"complete\": true}"}) {
    std::ofstream(dir.file("params.json"), std::ios::trunc) << text;
    expect_one_line_with(input_error([&] { load_params(dir.str()); }), dir.file("params.json"), "manifest");
  }
}

// Real kills at every moment of a save over a numpy-style set (no manifest
// yet: the case the "incomplete" mark exists for): whatever the moment, the
// directory loads as the old θ exactly, as the new θ exactly, or is refused
// — never as a mix. The kill moments spread over one measured save, so the
// machine's speed sets the schedule, not a guess; the property is checked at
// every one of them.
TEST(ParamsSet, KilledMidSaveTheSetLoadsWholeOrNotAtAll) {
  const Params old_theta = sample_params(10, 64, 300), new_theta = other_epoch(10, 64, 300);
  TempDir probe;
  const auto t0 = std::chrono::steady_clock::now();
  save_params(new_theta, probe.str(), NpyPrecision::f64);
  const double save_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  int refused = 0, as_old = 0, as_new = 0;
  for (int trial = 0; trial < 24; ++trial) {
    TempDir dir;
    save_numpy_style(old_theta, dir.str(), NpyPrecision::f64);
    const pid_t child = ::fork();
    if (child == 0) {
      save_params(new_theta, dir.str(), NpyPrecision::f64);
      ::_exit(0);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(save_us * trial / 10.0)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    try {
      const Params got = load_params(dir.str());
      const bool is_old = got.U == old_theta.U && got.W == old_theta.W && got.b == old_theta.b && got.c == old_theta.c;
      const bool is_new = got.U == new_theta.U && got.W == new_theta.W && got.b == new_theta.b && got.c == new_theta.c;
      EXPECT_TRUE(is_old || is_new) << "trial " << trial << ": a mixed set loaded";
      (is_old ? as_old : as_new) += 1;
    } catch (const InputError&) {
      ++refused;
    }
  }
  std::cout << "  kills: " << as_old << " loaded the old set, " << refused << " were refused, " << as_new
            << " loaded the new set\n";
}

TEST(ParamsIo, CheckFitRefusesMismatchNamingBoth) {
  const Params p = sample_params(10, 8, 784);
  EXPECT_NO_THROW(check_params_fit(p, 784, 10, "θ"));
  std::string msg = input_error([&] { check_params_fit(p, 1024, 10, "theta-dir"); });
  expect_one_line_with(msg, "theta-dir", "E = 784");
  EXPECT_NE(msg.find("E = 1024"), std::string::npos) << msg;
  msg = input_error([&] { check_params_fit(p, 784, 3, "theta-dir"); });
  expect_one_line_with(msg, "theta-dir", "M = 10");
  EXPECT_NE(msg.find("M = 3"), std::string::npos) << msg;
}

TEST(ParamsInit, GaussianIsReproducibleForASeedAndDiffersForAnother) {
  const Params a = init_gaussian(3, 5, 7, 0.5, 42);
  const Params b = init_gaussian(3, 5, 7, 0.5, 42);
  const Params c = init_gaussian(3, 5, 7, 0.5, 43);
  EXPECT_TRUE(same_bits(a.U, b.U) && same_bits(a.W, b.W) && same_bits(a.b, b.b) && same_bits(a.c, b.c));
  EXPECT_NE(a.U, c.U);
  EXPECT_NE(a.W, c.W);
  EXPECT_EQ(a.U.size(), 15u);
  EXPECT_EQ(a.W.size(), 35u);
  EXPECT_EQ(a.b.size(), 5u);
  EXPECT_EQ(a.c.size(), 3u);
  EXPECT_NE(a.b[0], 0.0);
  EXPECT_NE(a.c[0], 0.0);
}

TEST(ParamsInit, GaussianHasRequestedMeanAndStd) {
  const Params p = init_gaussian(10, 100, 200, 0.3, 7);  // 20000 W entries
  double mean = 0, sq = 0;
  for (double x : p.W) mean += x;
  mean /= static_cast<double>(p.W.size());
  for (double x : p.W) sq += (x - mean) * (x - mean);
  const double sd = std::sqrt(sq / static_cast<double>(p.W.size()));
  EXPECT_NEAR(mean, 0.0, 0.3 * 4 / std::sqrt(20000.0));
  EXPECT_NEAR(sd, 0.3, 0.3 * 0.03);
}

TEST(ParamsInit, DrawOrderIsUThenWThenBThenC) {
  // A larger W must not change U (drawn first), and changing only E must
  // shift b and c, drawn after W.
  const Params small = init_gaussian(2, 3, 4, 1.0, 9);
  const Params wide = init_gaussian(2, 3, 6, 1.0, 9);
  EXPECT_TRUE(same_bits(small.U, wide.U));
  EXPECT_TRUE(std::equal(small.W.begin(), small.W.end(), wide.W.begin()));
  EXPECT_NE(small.b, wide.b);
}

TEST(ParamsInit, GlorotUsesTopFiftyThreeBitsOfMt19937_64) {
  // Pins the transform: the first U entry is −l + 2l·(x >> 11)·2⁻⁵³ for the
  // first output x of std::mt19937_64 (whose sequence the standard fixes).
  const uint64_t seed = 12345;
  std::mt19937_64 gen(seed);
  const double u = static_cast<double>(gen() >> 11) * 0x1.0p-53;
  const double l = std::sqrt(6.0 / (4 + 3));
  const Params p = init_glorot_uniform(3, 4, 5, seed);
  EXPECT_DOUBLE_EQ(p.U[0], -l + 2 * l * u);
}

TEST(ParamsInit, GlorotBoundsRespectedAndBiasesZero) {
  const int64_t M = 10, H = 64, E = 784;
  const Params p = init_glorot_uniform(M, H, E, 1);
  const double lu = std::sqrt(6.0 / (H + M)), lw = std::sqrt(6.0 / (E + H));
  const auto [umin, umax] = std::minmax_element(p.U.begin(), p.U.end());
  const auto [wmin, wmax] = std::minmax_element(p.W.begin(), p.W.end());
  EXPECT_GE(*umin, -lu);
  EXPECT_LT(*umax, lu);
  EXPECT_GE(*wmin, -lw);
  EXPECT_LT(*wmax, lw);
  // 50176 W draws fill the interval; 640 U draws come near its ends.
  EXPECT_GT(*wmax, 0.99 * lw);
  EXPECT_LT(*wmin, -0.99 * lw);
  EXPECT_GT(*umax, 0.9 * lu);
  EXPECT_TRUE(std::all_of(p.b.begin(), p.b.end(), [](double x) { return x == 0.0; }));
  EXPECT_TRUE(std::all_of(p.c.begin(), p.c.end(), [](double x) { return x == 0.0; }));
  EXPECT_EQ(p.b.size(), static_cast<size_t>(H));
  EXPECT_EQ(p.c.size(), static_cast<size_t>(M));
  const Params again = init_glorot_uniform(M, H, E, 1);
  EXPECT_TRUE(same_bits(p.W, again.W));
  EXPECT_NE(p.W, init_glorot_uniform(M, H, E, 2).W);
}

TEST(ParamsInit, NonPositiveSizesAreRefused) {
  EXPECT_NE(input_error([] { init_gaussian(0, 4, 5, 1.0, 1); }).find("positive"), std::string::npos);
  EXPECT_NE(input_error([] { init_glorot_uniform(3, -1, 5, 1); }).find("positive"), std::string::npos);
  EXPECT_NE(input_error([] { init_gaussian(3, 4, 5, -1.0, 1); }).find("std"), std::string::npos);
}
