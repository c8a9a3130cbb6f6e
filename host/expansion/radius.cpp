// Where the series in t stops converging: the root test (Cauchy–Hadamard,
// 1/R = limsup |S_k|^{1/k}) applied to the last orders we have. With finitely
// many orders this is an estimate; the report lists the orders it used, and
// the validity table (direct S(tθ) vs partial sums) shows the same thing
// without any asymptotics.
//
// An order says nothing about R when its S_k is not a coefficient but
// rounding: S_1 on balanced classes (0 by symmetry, ~1e-17 computed), or an
// order that vanishes because the series is even in t (odd σ and c' = 0)
// and comes out ~1e-16 of its neighbours. Such orders, zeros and
// non-finite ones are skipped, and with fewer than three orders left there
// is no estimate at all: one or two numbers make no limsup.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "report/not_finite.hpp"
#include "taylorscope/expansion.hpp"

namespace taylorscope {
namespace {

constexpr int kMinOrders = 3;
// |S_k| below this fraction of its neighbours' geometric mean is rounding:
// jets carry ~1e-16·k relative error, a true coefficient of a power series
// sits near that mean (|S_k| ~ R^{-k}), so 1e-10 leaves 10^5 on either side.
constexpr double kNoise = 1e-10;

enum class Skip { none, nonfinite, zero, symmetric, noise };

}  // namespace

RadiusEstimate estimate_radius(const std::vector<double>& S_k, const std::vector<int>& zero_by_symmetry) {
  RadiusEstimate r;
  const int K = static_cast<int>(S_k.size()) - 1;
  auto usable_value = [&](int k) { return k >= 0 && k <= K && std::isfinite(S_k[k]) && S_k[k] != 0.0; };
  std::vector<Skip> skip(K + 1, Skip::none);
  for (int k = 1; k <= K; ++k) {
    if (!std::isfinite(S_k[k])) skip[k] = Skip::nonfinite;
    else if (S_k[k] == 0.0) skip[k] = Skip::zero;
    else if (std::find(zero_by_symmetry.begin(), zero_by_symmetry.end(), k) != zero_by_symmetry.end())
      skip[k] = Skip::symmetric;
    else if (usable_value(k - 1) && usable_value(k + 1) &&
             std::fabs(S_k[k]) < kNoise * std::sqrt(std::fabs(S_k[k - 1]) * std::fabs(S_k[k + 1])))
      skip[k] = Skip::noise;
    else if (k == K && usable_value(k - 1) && std::fabs(S_k[k]) < kNoise * std::fabs(S_k[k - 1]))
      skip[k] = Skip::noise;
  }
  auto orders = [&](Skip why) {
    std::vector<int> k;
    for (int j = 1; j <= K; ++j)
      if (skip[j] == why) k.push_back(j);
    return k;
  };

  r.estimate = std::numeric_limits<double>::quiet_NaN();
  const std::vector<int> nonfinite = orders(Skip::nonfinite);
  if (!nonfinite.empty()) {
    // The root test wants the highest orders, and these are the ones lost.
    r.absent_reason = "S_k for k = " + index_list(nonfinite) + ": " + kNotFinite;
    return r;
  }
  const std::vector<int> usable = orders(Skip::none);
  if (static_cast<int>(usable.size()) < kMinOrders) {
    std::string why;
    auto add = [&](Skip s, const char* what) {
      const std::vector<int> k = orders(s);
      if (!k.empty()) why += "; k = " + index_list(k) + ": " + what;
    };
    add(Skip::zero, "S_k = 0");
    add(Skip::symmetric, "0 by symmetry (balanced classes)");
    add(Skip::noise, "rounding noise, below 1e-10 of the neighbouring orders");
    r.absent_reason = "fewer than " + std::to_string(kMinOrders) + " orders k ≥ 1 to apply the root test to (usable: " +
                      (usable.empty() ? std::string("none") : "k = " + index_list(usable)) + why + ")";
    return r;
  }
  const int want = std::max(kMinOrders, K / 3);
  for (auto k = usable.rbegin(); k != usable.rend() && static_cast<int>(r.orders_used.size()) < want; ++k) {
    r.orders_used.insert(r.orders_used.begin(), *k);
    r.per_order.insert(r.per_order.begin(), std::pow(std::fabs(S_k[*k]), -1.0 / *k));
  }
  // The largest |S_k|^{1/k} bounds 1/R from below: take the smallest radius.
  r.estimate = *std::min_element(r.per_order.begin(), r.per_order.end());
  return r;
}

}  // namespace taylorscope
