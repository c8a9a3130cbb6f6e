// F1: when float64 overflows inside the computation (data scaled by 1e300),
// the reports mark each affected number — "overflow" in the tables, null in
// the JSON — and name every such key with its reason in `warnings`, which also
// reach stderr through warn(). Never "nan", "inf" or a bare "—" for them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "taylorscope/dominance.hpp"
#include "taylorscope/dominance_report.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/expansion_report.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "report/report_plots.hpp"
#include "taylorscope/tensor_report.hpp"
#include "taylorscope/warnings.hpp"
#include "test_support.hpp"

namespace taylorscope {
namespace {

using testing::random_params;
using testing::synthetic_data;

ExpansionResult run(const Dataset& d, const Params& p, int K) {
  auto backend = make_cpu_backend();
  ExpansionOptions o;
  o.order = K;
  return expand(d, p, parse_activation("silu"), o, *backend);
}

bool contains(const std::vector<std::string>& lines, const std::string& part) {
  for (const std::string& l : lines)
    if (l.find(part) != std::string::npos) return true;
  return false;
}

// "nan", "inf" as printf writes them, in any case.
bool prints_nan_or_inf(const std::string& text) {
  return std::regex_search(text, std::regex(R"((^|[^a-z])(nan|inf)([^a-z]|$))", std::regex::icase));
}

std::string table(const ExpansionResult& r, const Dataset& d, const Params& p) {
  std::ostringstream out;
  print_expansion_table(out, r, {d, p, parse_activation("silu"), "test θ"});
  return out.str();
}

// Data ×1e300: a = Wz + b ~ 1e299, so a² and every order from 3 overflow,
// while S_2 (linear in a) stays finite.
struct OverflowReport : ::testing::Test {
  Dataset data = synthetic_data({10, 10, 10}, 5, 31);
  Params theta = random_params(3, 6, 5, 0.5, 32);
  void SetUp() override {
    for (double& z : data.Z) z *= 1e300;
    discard_warnings();
  }
  void TearDown() override { discard_warnings(); }
};

TEST_F(OverflowReport, ExpandJsonHasNullsAndAWarningNamingEachKey) {
  const ExpansionResult r = run(data, theta, 5);
  ASSERT_TRUE(std::isfinite(r.S_k[2]));
  for (int k = 3; k <= 5; ++k) ASSERT_FALSE(std::isfinite(r.S_k[k])) << "the test needs an overflow at k = " << k;

  const nlohmann::json j = expansion_report(r, {data, theta, parse_activation("silu"), "test θ"});
  for (int k = 3; k <= 5; ++k) {
    EXPECT_TRUE(j["S_k"][k].is_null()) << k;
    EXPECT_TRUE(j["partial_sums"][k].is_null()) << k;
  }
  EXPECT_TRUE(j["S_k"][2].is_number());
  EXPECT_TRUE(j["terms"]["S3"]["J_UWW"].is_null());
  EXPECT_TRUE(j["term_shares"]["S3"]["J_UWW"]["abs_share"].is_null());
  const std::vector<std::string> w = j.at("warnings");
  EXPECT_TRUE(contains(w, "S_k[3..5]: not finite (overflow in float64)")) << j["warnings"];
  EXPECT_TRUE(contains(w, "partial_sums[3..5]")) << j["warnings"];
  EXPECT_TRUE(contains(w, "terms.S3.J_UWW")) << j["warnings"];
  EXPECT_TRUE(contains(w, "term_shares.S3.*.abs_share")) << j["warnings"];
  EXPECT_TRUE(contains(w, "dominant[n = 2..4].S")) << j["warnings"];
  // F1: no radius from the orders that survived.
  EXPECT_TRUE(j["radius"]["estimate"].is_null());
  EXPECT_NE(j["radius"]["reason"].get<std::string>().find("k = 3..5"), std::string::npos) << j["radius"];
  // Every warning is also queued for stderr, once.
  EXPECT_EQ(pending_warnings(), r.warnings);
}

TEST_F(OverflowReport, ExpandTableSaysOverflowWhereANumberIsNot) {
  const ExpansionResult r = run(data, theta, 5);
  const std::string text = table(r, data, theta);
  EXPECT_FALSE(prints_nan_or_inf(text)) << text;
  EXPECT_EQ(text.find("nan%"), std::string::npos) << text;
  EXPECT_EQ(text.find("(t ≥ R)"), std::string::npos) << text;
  EXPECT_NE(text.find("not estimated"), std::string::npos) << text;
  // Rows k = 3..5 of the orders table: S_k and the partial sum say so.
  std::istringstream in(text);
  int marked = 0;
  for (std::string line; std::getline(in, line);)
    if (std::regex_search(line, std::regex(R"(^ +[345] +overflow +overflow)"))) ++marked;
  EXPECT_EQ(marked, 3) << text;
  // The S_3 terms' shares: their whole overflowed.
  EXPECT_NE(text.find("overflow   overflow"), std::string::npos) << text;
}

// Shares of a zero whole are not numbers either: θ = 0 makes every term 0.
TEST_F(OverflowReport, SharesOfAZeroWholeAreNotPrintedAsNumbers) {
  const Dataset d = synthetic_data({10, 10, 10}, 5, 33);
  Params p = random_params(3, 6, 5, 0.5, 34);
  std::fill(p.U.begin(), p.U.end(), 0.0);
  std::fill(p.c.begin(), p.c.end(), 0.0);
  const ExpansionResult r = run(d, p, 4);
  for (const SeedTerm& t : r.terms.all) EXPECT_EQ(t.value, 0.0) << t.name;
  const std::string text = table(r, d, p);
  EXPECT_FALSE(prints_nan_or_inf(text)) << text;
  EXPECT_EQ(text.find("overflow"), std::string::npos) << "nothing overflowed:\n" << text;
  EXPECT_TRUE(contains(r.warnings, "term_shares.S2.*.abs_share: not defined (every term of S_2 is 0)"))
      << ::testing::PrintToString(r.warnings);
  // S_k = 0 for every k ≥ 1 (f ≡ 0): no orders to estimate a radius from.
  EXPECT_FALSE(r.radius.available());
  const nlohmann::json j = expansion_report(r, {d, p, parse_activation("silu"), "test θ"});
  EXPECT_TRUE(j["term_shares"]["S2"]["cc"]["abs_share"].is_null());
}

TEST_F(OverflowReport, DominanceReportsCarryTheWarningsOfEachWidth) {
  auto pass = make_cpu_backend();
  auto tensors = make_cpu_tensor_backend();
  WidthAnalysis w = analyse_width(data, theta, parse_activation("silu"), 5, 8, *pass, *tensors);
  const nlohmann::json j = dominance_report({w}, nlohmann::json::object());
  EXPECT_TRUE(contains(j.at("warnings"), "H = 6: S_k[3..5]: not finite")) << j["warnings"];
  EXPECT_TRUE(j["widths"][0]["S3"]["exact"].is_null());
  EXPECT_TRUE(j["widths"][0]["radius"]["estimate"].is_null());
  const std::string line = dominance_summary_line(w);
  EXPECT_FALSE(prints_nan_or_inf(line)) << line;
  EXPECT_NE(line.find("S_3 overflow"), std::string::npos) << line;
  // The CSV leaves the cells empty: no "nan" for a script to parse as a number.
  const std::string csv = dominance_csv({w});
  EXPECT_FALSE(prints_nan_or_inf(csv)) << csv;
}

// F19 and F1 for `tensors`: J^(2) of data ×1e300 has elements that overflowed.
TEST_F(OverflowReport, TensorsReportNamesEveryStatisticThatIsNotANumber) {
  auto backend = make_cpu_tensor_backend();
  backend->upload({&data, &theta});
  const TensorStatistics s = tensor_statistics(*backend, 2, 8);
  ASSERT_GT(s.J.nonfinite, 0.0);
  TensorReportContext ctx{&data, &theta, "test θ", INFINITY};
  const nlohmann::json j = tensor_report(s, ctx);
  for (const char* k : {"min", "max", "mean", "std", "skewness", "excess_kurtosis", "frac_negative"})
    EXPECT_TRUE(j["J"][k].is_null()) << k;
  EXPECT_EQ(j["J"]["nonfinite"].get<double>(), s.J.nonfinite);
  EXPECT_TRUE(j["J"]["histogram"]["counts"].empty());
  const std::vector<std::string> w = j.at("warnings");
  EXPECT_TRUE(contains(w, "J.{min, max, mean, std, skewness, excess_kurtosis, frac_negative, frac_zero, histogram}: "
                          "not reported"))
      << j["warnings"];
  EXPECT_TRUE(contains(w, "dot: not finite")) << j["warnings"];
  EXPECT_TRUE(contains(w, "dot_power_sum: not finite")) << j["warnings"];
  std::ostringstream out;
  print_tensor_table(out, s, ctx);
  EXPECT_FALSE(prints_nan_or_inf(out.str())) << out.str();
  EXPECT_NE(out.str().find("overflow"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("elements are not finite"), std::string::npos) << out.str();
}

// J alone, all of it overflowed: no histogram exists, so no PNG is drawn
// (the plot module refuses an empty chart) and the statistics still stand.
TEST_F(OverflowReport, NoHistogramIsDrawnWhenNoStreamedTensorHasOne) {
  auto backend = make_cpu_tensor_backend();
  backend->upload({&data, nullptr});
  const TensorStatistics s = tensor_statistics(*backend, 2, 8);
  ASSERT_TRUE(s.has_J && !s.has_T);
  ASSERT_GT(s.J.nonfinite, 0.0);
  const std::string path = ::testing::TempDir() + "ts_overflow_histograms.png";
  std::remove(path.c_str());
  EXPECT_FALSE(write_tensor_histograms(path, s, "overflow"));
  FILE* left = std::fopen(path.c_str(), "rb");
  EXPECT_EQ(left, nullptr) << "no file may be left";
  if (left) std::fclose(left);
}

TEST(ExpandInputs, NonFiniteDataOrThetaIsRefusedByTheLibrary) {
  const Dataset d = synthetic_data({5, 5}, 3, 35);
  const Params p = random_params(2, 4, 3, 0.5, 36);
  Params bad = p;
  bad.W[3] = NAN;
  EXPECT_THROW(run(d, bad, 3), InputError);
  Dataset inf = d;
  inf.Z[2] = INFINITY;
  EXPECT_THROW(run(inf, p, 3), InputError);
}

}  // namespace
}  // namespace taylorscope
