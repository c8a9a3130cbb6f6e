// Where the series in t stops converging: the root test (Cauchy–Hadamard,
// 1/R = limsup |S_k|^{1/k}) applied to the last orders we have. With finitely
// many orders this is an estimate; the report lists the orders it used, and
// the validity table (direct S(tθ) vs partial sums) shows the same thing
// without any asymptotics.
#include <algorithm>
#include <cmath>
#include <limits>

#include "taylorscope/expansion.hpp"

namespace taylorscope {

RadiusEstimate estimate_radius(const std::vector<double>& S_k) {
  RadiusEstimate r;
  const int K = static_cast<int>(S_k.size()) - 1;
  const int want = std::max(3, K / 3);
  for (int k = K; k >= 1 && static_cast<int>(r.orders_used.size()) < want; --k) {
    if (S_k[k] == 0.0 || !std::isfinite(S_k[k])) continue;
    r.orders_used.insert(r.orders_used.begin(), k);
    r.per_order.insert(r.per_order.begin(), std::pow(std::fabs(S_k[k]), -1.0 / k));
  }
  // The largest |S_k|^{1/k} bounds 1/R from below: take the smallest radius.
  r.estimate = r.per_order.empty() ? std::numeric_limits<double>::infinity()
                                   : *std::min_element(r.per_order.begin(), r.per_order.end());
  return r;
}

}  // namespace taylorscope
