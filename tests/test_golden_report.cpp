// Golden values of every number `expand` and `dominance` print, on a tiny
// fixed problem (M = 3, E = 4, H = 2, N = 12, SiLU, K = 6). The expected
// values are computed here by plain loops of docs/math.md's definitions — §2's
// jets, §3's closed forms, §5's counts, §6's element statistics, the root
// test and the shares as SeedTerm defines them — sharing no code with the
// engine. Each writer is read back the way a person or a script reads it:
// the JSON by key, the CSV by column name, the tables and the summary line
// by parsing the printed text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "taylorscope/dominance.hpp"
#include "taylorscope/dominance_report.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/expansion_report.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/tensor_report.hpp"
#include "test_support.hpp"

namespace taylorscope {
namespace {

constexpr int M = 3, E = 4, H = 2, K = 6;
// SiLU's σ^(k)(0), k = 0..6, as docs/math.md §2's table lists them.
const double kSigma[K + 1] = {0, 0.5, 0.5, 0, -0.5, 0, 1.5};
const std::vector<double> kT = {0.25, 0.5, 1.0, 1.5, 2.0};  // analyse_width's (ExpansionOptions') t values

// Four samples per class, labels interleaved; feature 3 is 0 everywhere, as a
// padded pixel is, so J and J∘T have exact zeros.
Dataset golden_data() {
  const double rows[3][4][E] = {
      {{0.9, -0.2, 0.4, 0}, {0.7, 0.1, 0.5, 0}, {1.1, -0.4, 0.2, 0}, {0.8, 0.0, 0.6, 0}},
      {{-0.3, 0.8, -0.5, 0}, {-0.1, 1.0, -0.2, 0}, {-0.4, 0.6, -0.7, 0}, {0.0, 0.9, -0.3, 0}},
      {{0.2, -0.6, 1.2, 0}, {0.4, -0.9, 0.9, 0}, {0.1, -0.5, 1.0, 0}, {0.3, -0.8, 1.3, 0}}};
  Dataset d;
  d.spec = "golden";
  d.M = M;
  d.E = E;
  for (int i = 0; i < 4; ++i)
    for (int a = 0; a < M; ++a) {
      d.labels.push_back(a);
      d.Z.insert(d.Z.end(), rows[a][i], rows[a][i] + E);
    }
  d.N = static_cast<int64_t>(d.labels.size());
  count_classes(d);
  return d;
}

Params golden_theta() {
  Params p;
  p.M = M, p.H = H, p.E = E;
  p.U = {0.8, -1.1, -0.5, 0.9, 0.3, 0.6};
  p.W = {0.7, -0.4, 0.5, 0.2, -0.6, 0.9, 0.3, -0.8};
  p.b = {0.15, -0.25};
  p.c = {0.4, -0.3, 0.1};
  return p;
}

// ---- the expected values, by plain loops ----

struct Term {
  std::string name;
  int order;
  double value, count, abs_share = 0, of_exact = 0;
};

struct Stats {
  double count = 0, min = 0, max = 0, mean = 0, std = 0, skewness = 0, excess_kurtosis = 0, frac_negative = 0,
         frac_zero = 0, sum = 0;
};

struct Expected {
  std::vector<double> S;         // S_0..S_K by docs/math.md §2's recurrences
  std::vector<double> partial;   // Σ_{j≤k} S_j
  double S_direct = 0;           // naive forward pass at t = 1
  std::vector<Term> terms;       // docs/math.md §3 and §5, in INTERFACES.md's order
  std::vector<double> JT, D;     // ⟨J^(n),T^(n)⟩ and D_{n+1}, index n = 1..K−1
  double radius = 0;
  std::map<int, std::map<std::string, Stats>> tensors;  // n → J, T, JT
  const Term& term(const std::string& n) const {
    for (const Term& t : terms)
      if (t.name == n) return t;
    throw std::out_of_range(n);
  }
};

// The full tensor over α and every index tuple (γ1..γn), row-major.
std::vector<double> full_tensor(const Dataset& d, const Params& p, int n, const char* which) {
  std::vector<double> out;
  std::vector<int> g(n, 0);
  for (int a = 0; a < M; ++a) {
    std::fill(g.begin(), g.end(), 0);
    for (bool more = true; more;) {
      double all = 0, cls = 0;
      for (int64_t s = 0; s < d.N; ++s) {
        double prod = 1;
        for (int i = 0; i < n; ++i) prod *= d.Z[s * E + g[i]];
        all += prod;
        if (d.labels[s] == a) cls += prod;
      }
      const double J = all / d.N - cls / d.class_counts[a];
      double T = 0;
      for (int b = 0; b < H; ++b) {
        double prod = p.U[a * H + b];
        for (int i = 0; i < n; ++i) prod *= p.W[b * E + g[i]];
        T += prod;
      }
      out.push_back(which[0] == 'J' && which[1] == 'T' ? J * T : which[0] == 'J' ? J : T);
      int i = n - 1;
      while (i >= 0 && ++g[i] == E) g[i--] = 0;
      more = i >= 0;
    }
  }
  return out;
}

Stats stats_of(const std::vector<double>& x) {
  Stats s;
  s.count = static_cast<double>(x.size());
  s.min = *std::min_element(x.begin(), x.end());
  s.max = *std::max_element(x.begin(), x.end());
  for (double v : x) {
    s.sum += v;
    s.mean += v / s.count;
    s.frac_negative += (v < 0) / s.count;
    s.frac_zero += (v == 0) / s.count;
  }
  double m2 = 0, m3 = 0, m4 = 0;
  for (double v : x) {
    const double e = v - s.mean;
    m2 += e * e / s.count, m3 += e * e * e / s.count, m4 += e * e * e * e / s.count;
  }
  s.std = std::sqrt(m2);
  s.skewness = m3 / (m2 * s.std);
  s.excess_kurtosis = m4 / (m2 * m2) - 3;
  return s;
}

Expected expected_values(const Dataset& d, const Params& p) {
  Expected x;
  std::vector<double> taylor(K + 1);  // σ_k / k!
  double fact = 1;
  for (int k = 0; k <= K; ++k) {
    if (k) fact *= k;
    taylor[k] = kSigma[k] / fact;
  }
  std::vector<double> cp(M);  // c' = c + σ(0) U·1
  for (int a = 0; a < M; ++a) {
    cp[a] = p.c[a];
    for (int b = 0; b < H; ++b) cp[a] += kSigma[0] * p.U[a * H + b];
  }

  // docs/math.md §2, per sample: f(t), e = exp f, s = Σ e, l = ln s, S_k = mean(l_k − f_{m,k}).
  x.S.assign(K + 1, 0.0);
  for (int64_t smp = 0; smp < d.N; ++smp) {
    double a[H];
    for (int b = 0; b < H; ++b) {
      a[b] = p.b[b];
      for (int g = 0; g < E; ++g) a[b] += p.W[b * E + g] * d.Z[smp * E + g];
    }
    std::vector<std::vector<double>> f(M, std::vector<double>(K + 1, 0.0)), e = f;
    std::vector<double> s(K + 1, 0.0), l(K + 1, 0.0);
    for (int al = 0; al < M; ++al) {
      f[al][1] = cp[al];
      for (int k = 1; k + 1 <= K; ++k)
        for (int b = 0; b < H; ++b) f[al][k + 1] += taylor[k] * p.U[al * H + b] * std::pow(a[b], k);
      e[al][0] = 1;
      for (int k = 1; k <= K; ++k) {
        for (int j = 1; j <= k; ++j) e[al][k] += j * f[al][j] * e[al][k - j];
        e[al][k] /= k;
      }
      for (int k = 0; k <= K; ++k) s[k] += e[al][k];
    }
    l[0] = std::log(s[0]);
    for (int k = 1; k <= K; ++k) {
      double v = k * s[k];
      for (int j = 1; j <= k - 1; ++j) v -= j * l[j] * s[k - j];
      l[k] = v / (k * s[0]);
    }
    for (int k = 0; k <= K; ++k) x.S[k] += (l[k] - f[d.labels[smp]][k]) / d.N;
  }
  for (int k = 0; k <= K; ++k) x.partial.push_back(x.S[k] + (k ? x.partial.back() : 0.0));
  x.S_direct = testing::naive_action(d, p, parse_activation("silu"), 1.0);

  // docs/math.md §3 with C = δ/M − 1/M².
  std::vector<double> mean(E, 0.0), J1(M * E, 0.0);
  for (int64_t smp = 0; smp < d.N; ++smp)
    for (int g = 0; g < E; ++g) mean[g] += d.Z[smp * E + g] / d.N;
  for (int64_t smp = 0; smp < d.N; ++smp)
    for (int g = 0; g < E; ++g) J1[d.labels[smp] * E + g] -= d.Z[smp * E + g] / d.class_counts[d.labels[smp]];
  for (int a = 0; a < M; ++a)
    for (int g = 0; g < E; ++g) J1[a * E + g] += mean[g];
  auto C = [](int a, int b) { return (a == b ? 1.0 / M : 0.0) - 1.0 / (M * M); };
  auto cCv = [&](const std::vector<double>& v) {
    double r = 0;
    for (int a = 0; a < M; ++a)
      for (int b = 0; b < M; ++b) r += cp[a] * C(a, b) * v[b];
    return r;
  };
  std::vector<double> Ub(M, 0.0), UWZ(M, 0.0);
  double JUW = 0, JUWb = 0;
  for (int a = 0; a < M; ++a)
    for (int b = 0; b < H; ++b) {
      Ub[a] += p.U[a * H + b] * p.b[b];
      for (int g = 0; g < E; ++g) {
        UWZ[a] += p.U[a * H + b] * p.W[b * E + g] * mean[g];
        JUW += J1[a * E + g] * p.U[a * H + b] * p.W[b * E + g];
        JUWb += J1[a * E + g] * p.U[a * H + b] * p.W[b * E + g] * p.b[b];
      }
    }
  double ccc = 0;
  for (int a = 0; a < M; ++a)
    for (int b = 0; b < M; ++b)
      for (int g = 0; g < M; ++g)
        ccc += ((a == b && b == g ? 1.0 / M : 0.0) - ((a == b) + (a == g) + (b == g)) / double(M * M) +
                2.0 / (M * M * M)) * cp[a] * cp[b] * cp[g] / 6;
  x.JT.assign(K, 0.0);
  x.D.assign(K, 0.0);
  for (int n = 1; n <= K - 1; ++n) {
    for (double v : full_tensor(d, p, n, "JT")) x.JT[n] += v;
    x.D[n] = kSigma[n] / (std::tgamma(n + 1.0) * M) * x.JT[n];
  }
  const double m = M, h = H, e = E;
  x.terms = {{"cc", 2, 0.5 * cCv(cp), m * m},
             {"J_UW", 2, kSigma[1] / M * JUW, m * e * h},
             {"ccc", 3, ccc, m * m * m},
             {"Ub_c", 3, kSigma[1] * cCv(Ub), m * h * m},
             {"Z_UW_c", 3, kSigma[1] * cCv(UWZ), m * e * h * m},
             {"J_UWb", 3, kSigma[2] / M * JUWb, m * e * h},
             {"J_UWW", 3, kSigma[2] / (2 * M) * x.JT[2], m * e * e * h}};
  // The shares' definitions (SeedTerm): |v| / Σ|v| of the order, v / S_order.
  for (Term& t : x.terms) {
    double abs_total = 0, total = 0;
    for (const Term& o : x.terms)
      if (o.order == t.order) abs_total += std::fabs(o.value), total += o.value;
    t.abs_share = std::fabs(t.value) / abs_total;
    t.of_exact = t.value / total;  // the closed forms sum to S_2, S_3 on balanced data
  }
  // Root test over the last max(3, K/3) = 3 orders; S_1 = 0 by symmetry is no order.
  x.radius = INFINITY;
  for (int k = K - 2; k <= K; ++k) x.radius = std::min(x.radius, std::pow(std::fabs(x.S[k]), -1.0 / k));
  for (int n = 1; n <= 2; ++n)
    for (const char* which : {"J", "T", "JT"}) x.tensors[n][which] = stats_of(full_tensor(d, p, n, which));
  return x;
}

// ---- reading what was written ----

// Printed to 13 significant digits ("% .12e") from float64 sums taken in
// another order than here (~1e-15): 1e-11 relative leaves room for both and
// still fails any wrong term, factor or position.
void expect_value(double got, double want, const std::string& what, double rel = 1e-11) {
  EXPECT_NEAR(got, want, rel * std::max(std::fabs(want), 1e-300)) << what;
}

double num(const std::string& s) {
  size_t used = 0;
  const double v = std::stod(s, &used);
  EXPECT_EQ(used, s.size()) << "not a number: '" << s << "'";
  return v;
}

std::vector<std::string> tokens(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> t;
  for (std::string w; in >> w;) t.push_back(w);
  return t;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

struct Golden : ::testing::Test {
  Dataset data = golden_data();
  Params theta = golden_theta();
  Activation act = parse_activation("silu");
  Expected want = expected_values(data, theta);
  ExpansionResult run() {
    auto backend = make_cpu_backend();
    ExpansionOptions o;
    o.order = K;
    o.t_values = kT;
    return expand(data, theta, act, o, *backend);
  }
  WidthAnalysis width() {
    auto pass = make_cpu_backend();
    auto tensors = make_cpu_tensor_backend();
    WidthAnalysis w = analyse_width(data, theta, act, K, 8, *pass, *tensors);
    // What the trainer fills in: distinct values, so a swapped column shows.
    w.chosen_epoch = 7;
    w.chosen_by = "eval-loss";
    w.eval_loss = 0.3125;
    w.eval_acc = 0.8125;
    return w;
  }
};

// The problem is not degenerate: every term is non-zero, each order has a
// negative term (so |·| in the abs share matters) and one term leads.
TEST_F(Golden, TheFixedProblemExercisesEveryTermAndSign) {
  for (int order : {2, 3}) {
    bool negative = false, positive = false;
    for (const Term& t : want.terms)
      if (t.order == order) {
        EXPECT_NE(t.value, 0.0) << t.name;
        negative |= t.value < 0, positive |= t.value > 0;
      }
    EXPECT_TRUE(negative && positive) << "S_" << order;
  }
  EXPECT_GT(want.tensors[1]["J"].frac_zero, 0.0);
  // The closed forms equal the jets on balanced data (docs/math.md §3): both routes here.
  EXPECT_NEAR(want.S[2], want.term("cc").value + want.term("J_UW").value, 1e-13);
  double s3 = 0;
  for (const Term& t : want.terms) s3 += t.order == 3 ? t.value : 0.0;
  EXPECT_NEAR(want.S[3], s3, 1e-13);
}

TEST_F(Golden, ExpandJsonHoldsEveryValueUnderItsKey) {
  const ExpansionResult r = run();
  const nlohmann::json j = expansion_report(r, {data, theta, act, "golden θ"});
  for (int k = 0; k <= K; ++k) {
    // S_1 is 0 by symmetry: rounding of ~1e-17 on either side.
    if (k == 1) EXPECT_NEAR(j["S_k"][1].get<double>(), 0.0, 1e-15);
    else expect_value(j["S_k"][k].get<double>(), want.S[k], "S_k[" + std::to_string(k) + "]");
    expect_value(j["partial_sums"][k].get<double>(), want.partial[k], "partial_sums[" + std::to_string(k) + "]");
  }
  expect_value(j["S_direct"].get<double>(), want.S_direct, "S_direct");
  for (const Term& t : want.terms) {
    const std::string o = "S" + std::to_string(t.order);
    expect_value(j["terms"][o][t.name].get<double>(), t.value, "terms." + o + "." + t.name);
    EXPECT_EQ(j["subterm_counts"][o][t.name].get<double>(), t.count) << t.name;
    // of_exact divides by the jets' S_k, the expectation by the closed forms' sum: 1e-10 (docs/math.md §3).
    expect_value(j["term_shares"][o][t.name]["abs_share"].get<double>(), t.abs_share, t.name + " abs_share");
    expect_value(j["term_shares"][o][t.name]["of_exact"].get<double>(), t.of_exact, t.name + " of_exact", 1e-10);
  }
  ASSERT_EQ(j["dominant"].size(), static_cast<size_t>(K - 1));
  for (const nlohmann::json& dt : j["dominant"]) {
    const int n = dt["n"];
    expect_value(dt["JT"].get<double>(), want.JT[n], "JT n=" + std::to_string(n));
    expect_value(dt["D"].get<double>(), want.D[n], "D n=" + std::to_string(n));
    expect_value(dt["S"].get<double>(), want.S[n + 1], "S n=" + std::to_string(n));
    expect_value(dt["ratio"].get<double>(), want.D[n] / want.S[n + 1], "ratio n=" + std::to_string(n));
  }
  expect_value(j["radius"]["estimate"].get<double>(), want.radius, "radius");
  EXPECT_EQ(j["radius"]["orders_used"], nlohmann::json({4, 5, 6}));
  ASSERT_EQ(j["validity"].size(), kT.size());
  for (size_t i = 0; i < kT.size(); ++i) {
    const double t = kT[i];
    double partial = 0;
    for (int k = 0; k <= K; ++k) partial += std::pow(t, k) * want.S[k];
    const double direct = testing::naive_action(data, theta, act, t);
    EXPECT_EQ(j["validity"][i]["t"].get<double>(), t);
    expect_value(j["validity"][i]["S_direct"].get<double>(), direct, "S(tθ)");
    expect_value(j["validity"][i]["partial_sum"].get<double>(), partial, "partial sum at t");
    // A difference of two nearby numbers: absolute, at their rounding.
    EXPECT_NEAR(j["validity"][i]["abs_error"].get<double>(), std::fabs(direct - partial), 1e-13) << t;
  }
}

TEST_F(Golden, ExpandTablePrintsEveryValueInItsColumn) {
  const ExpansionResult r = run();
  std::ostringstream out;
  print_expansion_table(out, r, {data, theta, act, "golden θ"});
  const std::vector<std::string> L = lines_of(out.str());
  auto find = [&](const std::string& start) {
    for (size_t i = 0; i < L.size(); ++i)
      if (L[i].rfind(start, 0) == 0) return i;
    ADD_FAILURE() << "no line starting '" << start << "' in\n" << out.str();
    return L.size();
  };

  // Orders: k, S_k, Σ_{j≤k} S_j, then D_k and D_k/S_k from k = 2.
  const size_t orders = find("  k  S_k");
  ASSERT_LT(orders + K + 1, L.size());
  for (int k = 0; k <= K; ++k) {
    const std::vector<std::string> t = tokens(L[orders + 1 + k]);
    ASSERT_EQ(t.size(), k >= 2 ? 5u : 3u) << L[orders + 1 + k];
    EXPECT_EQ(t[0], std::to_string(k));
    if (k == 1) EXPECT_NEAR(num(t[1]), 0.0, 1e-15);
    else expect_value(num(t[1]), want.S[k], "printed S_" + std::to_string(k));
    expect_value(num(t[2]), want.partial[k], "printed partial sum " + std::to_string(k));
    if (k >= 2) {
      // D is 0 exactly for σ_3 = 0 (printed 0, not noise); the ratio has 4 digits.
      if (want.D[k - 1] == 0) EXPECT_EQ(num(t[3]), 0.0) << L[orders + 1 + k];
      else expect_value(num(t[3]), want.D[k - 1], "printed D_" + std::to_string(k));
      expect_value(num(t[4]), want.D[k - 1] / want.S[k], "printed D_k/S_k " + std::to_string(k), 1e-3);
    }
  }
  const std::vector<std::string> direct = tokens(L[find("  S(θ) direct")]);
  expect_value(num(direct[2]), want.S_direct, "printed S(θ)");
  expect_value(num(direct.back()), std::fabs(want.S_direct - want.partial[K]), "printed |S(θ) − Σ S_k|", 1e-3);

  // Terms: name, formula, value, abs share %, of S_k %, products. Shares are
  // printed to 0.01 percentage point: ±0.006 is that rounding.
  std::map<std::string, std::vector<std::string>> rows;
  for (const std::string& line : L) {
    const std::vector<std::string> t = tokens(line);
    if (t.size() >= 5 && line.rfind("    ", 0) == 0 && line[4] != ' ')
      for (const Term& w : want.terms)
        if (t[0] == w.name) rows[w.name] = t;
  }
  ASSERT_EQ(rows.size(), want.terms.size()) << out.str();
  for (const Term& w : want.terms) {
    const std::vector<std::string>& t = rows[w.name];
    const size_t n = t.size();
    ASSERT_EQ(t[n - 3].back(), '%');
    ASSERT_EQ(t[n - 2].back(), '%');
    expect_value(num(t[n - 4]), w.value, "printed " + w.name);
    EXPECT_NEAR(num(t[n - 3].substr(0, t[n - 3].size() - 1)), 100 * w.abs_share, 0.006) << w.name << " abs share";
    EXPECT_NEAR(num(t[n - 2].substr(0, t[n - 2].size() - 1)), 100 * w.of_exact, 0.006) << w.name << " of S_k";
    expect_value(num(t[n - 1]), w.count, "printed products of " + w.name, 1e-3);
  }
  int sums = 0;
  for (const std::string& line : L)
    if (line.rfind("    sum of terms", 0) == 0) {
      const std::vector<std::string> t = tokens(line);  // sum of terms V (jets: V)
      const int order = 2 + sums++;
      expect_value(num(t[3]), want.S[order], "printed sum of S_" + std::to_string(order) + "'s terms", 1e-10);
      expect_value(num(t[5].substr(0, t[5].size() - 1)), want.S[order], "printed jets S_" + std::to_string(order));
    }
  EXPECT_EQ(sums, 2);

  // Radius "… R ≈ X" to 4 significant digits, then the validity rows.
  const std::string& radius = L[find("  Radius of convergence")];
  const size_t at = radius.find("R ≈ ");
  ASSERT_NE(at, std::string::npos) << radius;
  EXPECT_NE(radius.find("orders 4 5 6"), std::string::npos) << radius;
  expect_value(num(radius.substr(at + std::string("R ≈ ").size())), want.radius, "printed R", 1e-3);
  const size_t valid = find("     t    S(tθ) direct");
  for (size_t i = 0; i < kT.size(); ++i) {
    const std::vector<std::string> t = tokens(L[valid + 1 + i]);
    const double direct_t = testing::naive_action(data, theta, act, kT[i]);
    double partial = 0;
    for (int k = 0; k <= K; ++k) partial += std::pow(kT[i], k) * want.S[k];
    EXPECT_EQ(num(t[0]), kT[i]);
    expect_value(num(t[1]), direct_t, "printed S(tθ)");
    expect_value(num(t[2]), partial, "printed Σ t^k S_k");
    EXPECT_NEAR(num(t[3]), std::fabs(direct_t - partial), 1e-3 * std::fabs(direct_t - partial) + 1e-13);
    // "(t ≥ R)" exactly where t ≥ R.
    EXPECT_EQ(L[valid + 1 + i].find("(t ≥ R)") != std::string::npos, kT[i] >= want.radius) << L[valid + 1 + i];
  }
}

TEST_F(Golden, DominanceJsonHoldsEveryValueUnderItsKey) {
  const nlohmann::json j = dominance_report({width()}, nlohmann::json::object());
  ASSERT_EQ(j["widths"].size(), 1u);
  const nlohmann::json& w = j["widths"][0];
  EXPECT_EQ(w["H"], H);
  EXPECT_EQ(w["theta_star"]["chosen_epoch"], 7);
  expect_value(w["S_direct"].get<double>(), want.S_direct, "S_direct");
  for (int order : {2, 3}) {
    const nlohmann::json& o = w["S" + std::to_string(order)];
    expect_value(o["exact"].get<double>(), want.S[order], "exact S_" + std::to_string(order));
    expect_value(o["closed_form_sum"].get<double>(), want.S[order], "closed-form sum", 1e-10);
    int seen = 0;
    for (const Term& t : want.terms) {
      if (t.order != order) continue;
      ++seen;
      const nlohmann::json& x = o["terms"][t.name];
      expect_value(x["value"].get<double>(), t.value, t.name + ".value");
      expect_value(x["abs_share"].get<double>(), t.abs_share, t.name + ".abs_share");
      expect_value(x["of_exact"].get<double>(), t.of_exact, t.name + ".of_exact", 1e-10);
      EXPECT_EQ(x["count"].get<double>(), t.count) << t.name;
    }
    EXPECT_EQ(o["terms"].size(), static_cast<size_t>(seen));
  }
  ASSERT_EQ(w["dominant"].size(), 4u);
  for (const nlohmann::json& d : w["dominant"]) {
    const int n = d["n"];
    expect_value(d["D"].get<double>(), want.D[n], "D n=" + std::to_string(n));
    expect_value(d["ratio"].get<double>(), want.D[n] / want.S[n + 1], "D/S n=" + std::to_string(n));
  }
  expect_value(w["radius"]["estimate"].get<double>(), want.radius, "radius");
  for (int n = 1; n <= 2; ++n)
    for (const char* which : {"J", "T", "JT"}) {
      const Stats& s = want.tensors[n][which];
      const nlohmann::json& x = w["tensors"][std::to_string(n)][which];
      const std::string what = std::string(which) + " n=" + std::to_string(n);
      EXPECT_EQ(x["count"].get<double>(), s.count) << what;
      // Pébay-merged moments against two-pass sums over the same elements: 1e-9.
      EXPECT_NEAR(x["mean"].get<double>(), s.mean, 1e-12 * s.std) << what;
      expect_value(x["std"].get<double>(), s.std, what + " std", 1e-9);
      expect_value(x["skewness"].get<double>(), s.skewness, what + " skewness", 1e-9);
      expect_value(x["excess_kurtosis"].get<double>(), s.excess_kurtosis, what + " kurtosis", 1e-9);
      EXPECT_DOUBLE_EQ(x["frac_negative"].get<double>(), s.frac_negative) << what;
      EXPECT_DOUBLE_EQ(x["frac_zero"].get<double>(), s.frac_zero) << what;
    }
}

TEST_F(Golden, DominanceCsvHoldsEveryValueInTheColumnOfItsName) {
  const std::vector<std::string> L = lines_of(dominance_csv({width()}));
  ASSERT_EQ(L.size(), 2u);
  auto split = [](const std::string& s) {
    std::vector<std::string> out(1);
    for (char ch : s) {
      if (ch == ',') out.emplace_back();
      else out.back().push_back(ch);
    }
    return out;
  };
  const std::vector<std::string> header = split(L[0]), row = split(L[1]);
  ASSERT_EQ(header.size(), row.size());
  std::map<std::string, double> cell;
  for (size_t i = 0; i < header.size(); ++i) {
    EXPECT_FALSE(cell.count(header[i])) << "column " << header[i] << " twice";
    cell[header[i]] = num(row[i]);
  }
  // Every column a script may read, and nothing unexpected.
  std::map<std::string, double> expect = {{"H", H},
                                          {"chosen_epoch", 7},
                                          {"eval_loss", 0.3125},
                                          {"eval_acc", 0.8125},
                                          {"S_direct", want.S_direct},
                                          {"S2", want.S[2]},
                                          {"S3", want.S[3]},
                                          {"radius", want.radius}};
  for (const Term& t : want.terms) {
    expect[t.name] = t.value;
    expect["abs_share_" + t.name] = t.abs_share;
    expect["count_" + t.name] = t.count;
  }
  for (int n = 1; n <= 4; ++n)
    expect["D" + std::to_string(n + 1) + "_over_S" + std::to_string(n + 1)] = want.D[n] / want.S[n + 1];
  for (int n = 1; n <= 2; ++n) {
    const std::string k = std::to_string(n);
    Stats& JT = want.tensors[n]["JT"];
    expect["JT" + k + "_mean"] = JT.mean;
    expect["JT" + k + "_skewness"] = JT.skewness;
    expect["JT" + k + "_frac_negative"] = JT.frac_negative;
    expect["JT" + k + "_frac_zero"] = JT.frac_zero;
    expect["J" + k + "_excess_kurtosis"] = want.tensors[n]["J"].excess_kurtosis;
    expect["T" + k + "_excess_kurtosis"] = want.tensors[n]["T"].excess_kurtosis;
  }
  EXPECT_EQ(cell.size(), expect.size());
  for (const auto& [name, value] : expect) {
    ASSERT_TRUE(cell.count(name)) << "no column " << name;
    // "%.10g": 10 significant digits, so 1e-9 relative (JT means ~1e-3 of
    // their spread are compared at that spread's scale).
    const double scale = name.find("_mean") != std::string::npos ? want.tensors[name[2] - '0']["JT"].std
                                                                  : std::fabs(value);
    EXPECT_NEAR(cell[name], value, 1e-9 * scale) << "column " << name;
  }
  EXPECT_EQ(header.front(), "H");
  EXPECT_EQ(header.back(), "radius");
}

TEST_F(Golden, DominanceSummaryLineNamesEachOrdersLargestTerm) {
  const WidthAnalysis w = width();
  const std::string line = dominance_summary_line(w);
  const std::regex re(
      R"(H +(\d+) +epoch +(\d+) +eval ([0-9.]+) \(([0-9.]+)%\) +S_2 (\S+) \((\w+) (\d+)%\) +S_3 (\S+) \((\w+) (\d+)%\) +D/S((?: \S+)+))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, re)) << line;
  EXPECT_EQ(std::stoi(m[1]), H);
  EXPECT_EQ(std::stoi(m[2]), 7);
  EXPECT_NEAR(num(m[3]), 0.3125, 5e-5);
  EXPECT_NEAR(num(m[4]), 81.25, 5e-3);
  for (int order : {2, 3}) {
    const Term* largest = nullptr;
    for (const Term& t : want.terms)
      if (t.order == order && (!largest || t.abs_share > largest->abs_share)) largest = &t;
    const int g = order == 2 ? 5 : 8;
    expect_value(num(m[g]), want.S[order], "summary S_" + std::to_string(order), 1e-3);
    EXPECT_EQ(m[g + 1].str(), largest->name) << line;
    EXPECT_NEAR(std::stoi(m[g + 2]), 100 * largest->abs_share, 0.5) << line;
  }
  const std::vector<std::string> ratios = tokens(m[11]);
  ASSERT_EQ(ratios.size(), 4u) << line;
  for (int n = 1; n <= 4; ++n)
    EXPECT_NEAR(num(ratios[n - 1]), want.D[n] / want.S[n + 1], 5e-4 + 1e-3 * std::fabs(want.D[n] / want.S[n + 1]))
        << "D/S n=" << n;
}

// `taylorscope tensors`' table and JSON at n = 2: every statistic of J, T
// and J∘T against the full 48-element tensors, and ⟨J,T⟩ both ways.
TEST_F(Golden, TensorsTableAndJsonHoldEveryStatistic) {
  const int n = 2;
  auto backend = make_cpu_tensor_backend();
  backend->upload({&data, &theta});
  const TensorStatistics s = tensor_statistics(*backend, n, 8);
  TensorReportContext ctx{&data, &theta, "golden θ", want.JT[n]};
  const nlohmann::json j = tensor_report(s, ctx);
  std::ostringstream out;
  print_tensor_table(out, s, ctx);
  const std::vector<std::string> L = lines_of(out.str());
  const std::map<std::string, std::string> row_name = {{"J", "J"}, {"T", "T"}, {"JT", "J∘T"}};
  for (const char* which : {"J", "T", "JT"}) {
    const Stats& w = want.tensors[n][which];
    const nlohmann::json& x = j[which];
    const std::string what = which;
    EXPECT_EQ(x["count"].get<double>(), w.count) << what;
    EXPECT_EQ(x["nonfinite"].get<double>(), 0.0) << what;
    // min and max are elements themselves, formed by the same products in
    // another order: 1e-13; moments as in DominanceJsonHoldsEveryValueUnderItsKey.
    expect_value(x["min"].get<double>(), w.min, what + " min", 1e-13);
    expect_value(x["max"].get<double>(), w.max, what + " max", 1e-13);
    EXPECT_NEAR(x["mean"].get<double>(), w.mean, 1e-12 * w.std) << what;
    expect_value(x["std"].get<double>(), w.std, what + " std", 1e-9);
    expect_value(x["skewness"].get<double>(), w.skewness, what + " skewness", 1e-9);
    expect_value(x["excess_kurtosis"].get<double>(), w.excess_kurtosis, what + " kurtosis", 1e-9);
    EXPECT_DOUBLE_EQ(x["frac_negative"].get<double>(), w.frac_negative) << what;
    EXPECT_DOUBLE_EQ(x["frac_zero"].get<double>(), w.frac_zero) << what;

    // The table: name, min, max, mean, std (%.4e: 5e-5 relative), skewness,
    // ex.kurt, frac<0, frac=0 (%.4f: 5e-5 absolute).
    std::vector<std::string> t;
    for (const std::string& line : L)
      if (line.rfind("  " + row_name.at(what) + " ", 0) == 0) t = tokens(line);
    ASSERT_EQ(t.size(), 9u) << what << "\n" << out.str();
    expect_value(num(t[1]), w.min, "printed min of " + what, 5e-5);
    expect_value(num(t[2]), w.max, "printed max of " + what, 5e-5);
    EXPECT_NEAR(num(t[3]), w.mean, 5e-5 * std::fabs(w.mean) + 1e-12 * w.std) << "printed mean of " << what;
    expect_value(num(t[4]), w.std, "printed std of " + what, 5e-5);
    EXPECT_NEAR(num(t[5]), w.skewness, 5e-5) << what;
    EXPECT_NEAR(num(t[6]), w.excess_kurtosis, 5e-5) << what;
    EXPECT_NEAR(num(t[7]), w.frac_negative, 5e-5) << what;
    EXPECT_NEAR(num(t[8]), w.frac_zero, 5e-5) << what;
  }
  // ⟨J,T⟩ = Σ of J∘T's elements = the power-sum contraction (MATH.md §4).
  expect_value(j["dot"].get<double>(), want.tensors[n]["JT"].sum, "dot", 1e-12);
  expect_value(j["dot"].get<double>(), want.JT[n], "dot vs the contraction", 1e-12);
  const std::regex dot(R"(⟨J,T⟩ streamed (\S+); by the power sums \([^)]*\) (\S+) \(rel. diff (\S+)\))");
  std::smatch m;
  const std::string text = out.str();
  ASSERT_TRUE(std::regex_search(text, m, dot)) << text;
  expect_value(num(m[1]), want.JT[n], "printed streamed ⟨J,T⟩");
  expect_value(num(m[2]), want.JT[n], "printed power-sum ⟨J,T⟩");
  EXPECT_LT(num(m[3]), 1e-12);
  EXPECT_NE(text.find(std::to_string(M * E * E) + " elements"), std::string::npos) << text;
}

}  // namespace
}  // namespace taylorscope
