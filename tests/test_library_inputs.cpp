// What the library offers a caller that holds its data in memory (the
// Python package, docs/python.md): a data set over a borrowed array, refused
// with the loader's messages, and a training run that writes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <unistd.h>
#include <string>
#include <vector>

#include "taylorscope/backends.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/training.hpp"
#include "input_error.hpp"
#include "test_support.hpp"

namespace taylorscope {
namespace {

namespace fs = std::filesystem;

template <typename Fn>
void expect_refusal(Fn fn, const std::string& text) {
  const std::string message = testing::input_error(fn);
  EXPECT_NE(message.find(text), std::string::npos) << message;
}

// Six samples of three features, two per class of three.
struct Arrays {
  std::vector<double> Z = {0.1, 0.2, 0.3, 1.0, 0.5, -0.2, 0.4, 0.4, 0.0,
                           0.3, 0.1, 0.9, 0.8, 0.7, 0.6, -0.5, 0.2, 0.1};
  std::vector<int64_t> y = {0, 1, 2, 2, 1, 0};
};

TEST(ArrayDataset, BorrowsTheCallersValues) {
  Arrays a;
  const Dataset d = dataset_from_arrays("python:X", a.Z.data(), 6, 3, a.y.data(), 6, 0);
  EXPECT_TRUE(d.Z.borrowed());
  EXPECT_EQ(d.Z.data(), a.Z.data()) << "the rows were copied";
  EXPECT_EQ(d.M, 3);
  EXPECT_EQ(d.class_counts, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_TRUE(d.balanced);
  EXPECT_EQ(d.row(4), a.Z.data() + 12);
  // A copy of the Dataset still refers to the caller's array.
  const Dataset copy = d;
  EXPECT_EQ(copy.Z.data(), a.Z.data());
}

TEST(ArrayDataset, ABorrowedArrayIsReadOnly) {
  Arrays a;
  Dataset d = dataset_from_arrays("python:X", a.Z.data(), 6, 3, a.y.data(), 6, 0);
  EXPECT_THROW(d.Z[0] = 1.0, std::logic_error);
  EXPECT_THROW(d.Z.push_back(1.0), std::logic_error);
  EXPECT_THROW(d.Z.resize(1), std::logic_error);
  EXPECT_EQ(a.Z[0], 0.1);
  // Assigning owned values ends the borrowing.
  d.Z = std::vector<double>{1.0, 2.0};
  EXPECT_FALSE(d.Z.borrowed());
  d.Z[0] = 3.0;
  EXPECT_EQ(d.Z[0], 3.0);
}

TEST(ArrayDataset, RefusesWithTheLoadersMessages) {
  Arrays a;
  auto make = [&](int64_t N, int64_t labels, int classes) {
    return dataset_from_arrays("python:X", a.Z.data(), N, 3, a.y.data(), labels, classes);
  };
  expect_refusal([&] { make(6, 5, 0); }, "image/label count mismatch: X has 6 samples, y has 5 labels");
  expect_refusal([&] { make(6, 6, 2); }, "y: label at index 2 is 2, outside [0, 2)");
  expect_refusal([&] { make(6, 6, 4); }, "y: class 3 has no samples (M = 4)");
  expect_refusal([&] { make(6, 6, 1); }, "classes 1: one class makes the cross-entropy loss identically 0");
  expect_refusal([&] { make(6, 6, -1); }, "classes must be ≥ 0");
  a.y = {0, 0, 0, 0, 0, 0};
  expect_refusal([&] { make(6, 6, 0); }, "y: every label is 0, so M = 1");
  a.y = {0, 1, 2, 2, 1, 0};
  a.Z[7] = std::numeric_limits<double>::quiet_NaN();
  expect_refusal([&] { make(6, 6, 0); }, "X: ");
  expect_refusal([&] { make(6, 6, 0); }, "non-finite");
}

// The pass reads the borrowed rows as it reads owned ones: the same S_k to
// the bit from a borrowed view of a loaded set's rows.
TEST(ArrayDataset, ExpansionOfABorrowedSetEqualsTheOwnedOne) {
  const Dataset owned = testing::synthetic_data({7, 5, 6}, 4, 3);
  std::vector<int64_t> y(owned.labels.begin(), owned.labels.end());
  const Dataset view = dataset_from_arrays("view", owned.Z.data(), owned.N, owned.E, y.data(), owned.N, 0);
  ASSERT_EQ(view.Z.data(), owned.Z.data());
  const Params theta = testing::random_params(3, 8, 4, 0.3, 5);
  ExpansionOptions o;
  o.order = 5;
  auto be = make_backend("cpu");
  const ExpansionResult a = expand(owned, theta, parse_activation("silu"), o, *be);
  const ExpansionResult b = expand(view, theta, parse_activation("silu"), o, *be);
  EXPECT_EQ(a.S_k, b.S_k);
  EXPECT_EQ(a.S_direct, b.S_direct);
}

// train() with no directory runs the same steps (the same θ to the bit) and
// leaves nothing on disk; resuming needs a directory.
TEST(TrainWithoutDirectory, SameRunNothingWritten) {
  const Dataset tr = testing::synthetic_data({20, 20, 20}, 5, 11), ev = testing::synthetic_data({6, 6, 6}, 5, 12);
  const TrainConfig c = testing::small_train_config();
  const fs::path out = fs::temp_directory_path() / ("ts_nodir_" + std::to_string(::getpid()));
  auto be1 = make_cpu_train_backend();
  const TrainResult with = train(tr, ev, c, *be1, out.string(), false, NpyPrecision::f64, {});
  fs::remove_all(out);
  const auto before = std::distance(fs::directory_iterator(fs::current_path()), fs::directory_iterator{});
  auto be2 = make_cpu_train_backend();
  const TrainResult without = train(tr, ev, c, *be2, "", false, NpyPrecision::f64, {});
  EXPECT_EQ(std::distance(fs::directory_iterator(fs::current_path()), fs::directory_iterator{}), before);
  EXPECT_EQ(with.theta.W, without.theta.W);
  EXPECT_EQ(with.best_theta.U, without.best_theta.U);
  ASSERT_EQ(with.records.size(), without.records.size());
  EXPECT_EQ(with.records.back().train_loss, without.records.back().train_loss);
  auto be3 = make_cpu_train_backend();
  expect_refusal([&] { train(tr, ev, c, *be3, "", true, NpyPrecision::f64, {}); }, "resuming needs the run directory");
}

}  // namespace
}  // namespace taylorscope
