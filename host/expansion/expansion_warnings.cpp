// Which numbers of an expansion are not numbers, and why — the `warnings`
// of the expand and dominance reports. Inputs are finite (expand() checks),
// so a NaN or Inf here is float64 overflowing on the way (data scaled by
// 1e300, θ with huge entries); a share or ratio is also undefined when its
// whole is exactly 0. Each line names the report keys (INTERFACES.md).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "report/not_finite.hpp"
#include "taylorscope/expansion.hpp"

namespace taylorscope {
namespace {

std::string t_list(const std::vector<double>& t) {
  std::string s;
  for (double v : t) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    s += (s.empty() ? "" : ", ") + std::string(buf);
  }
  return s;
}

}  // namespace

std::vector<std::string> expansion_warnings(const ExpansionResult& r) {
  std::vector<std::string> out;
  auto array = [&](const std::string& key, const std::vector<double>& v) {
    const std::vector<int> bad = nonfinite_indices(v);
    if (!bad.empty()) out.push_back(key + "[" + index_list(bad) + "]: " + kNotFinite);
  };
  auto scalar = [&](const std::string& key, double v) {
    if (!std::isfinite(v)) out.push_back(key + ": " + kNotFinite);
  };

  scalar("S_direct", r.S_direct);
  array("S_k", r.S_k);
  array("partial_sums", r.partial_sums);

  for (int order : {2, 3}) {
    const std::string o = "S" + std::to_string(order);
    std::string bad;
    double abs_total = 0;
    for (const SeedTerm& t : r.terms.all) {
      if (t.order != order) continue;
      abs_total += std::fabs(t.value);
      if (!std::isfinite(t.value)) bad += (bad.empty() ? "" : ", ") + ("terms." + o + "." + t.name);
    }
    if (!bad.empty()) out.push_back(bad + ": " + kNotFinite);
    const std::string shares = "term_shares." + o + ".*.";
    if (!std::isfinite(abs_total))
      out.push_back(shares + "abs_share: not defined (Σ|terms| of S_" + std::to_string(order) + " is not finite)");
    else if (abs_total == 0)
      out.push_back(shares + "abs_share: not defined (every term of S_" + std::to_string(order) + " is 0)");
    const double exact = order < static_cast<int>(r.S_k.size()) ? r.S_k[order] : NAN;
    if (order >= static_cast<int>(r.S_k.size()))
      out.push_back(shares + "of_exact: not defined (S_" + std::to_string(order) + " is beyond the order K)");
    else if (!std::isfinite(exact))
      out.push_back(shares + "of_exact: not defined (S_" + std::to_string(order) + " is not finite)");
    else if (exact == 0)
      out.push_back(shares + "of_exact: not defined (S_" + std::to_string(order) + " = 0)");
  }
  if (r.K >= 3)
    for (int order : {2, 3})
      if (!std::isfinite(r.terms.sum(order)) || !std::isfinite(r.S_k[order]))
        out.push_back("terms_check.S" + std::to_string(order) + "_*: " + kNotFinite);

  std::vector<int> D, S, JT, ratio, undefined;
  for (const DominantTerm& d : r.dominant) {
    if (!std::isfinite(d.D)) D.push_back(d.n);
    if (!std::isfinite(d.S)) S.push_back(d.n);
    if (!std::isfinite(d.JT)) JT.push_back(d.n);
    if (d.S == 0) undefined.push_back(d.n);
    else if (!std::isfinite(d.ratio)) ratio.push_back(d.n);
  }
  auto dominant = [&](const char* field, const std::vector<int>& n, const std::string& why) {
    if (!n.empty()) out.push_back("dominant[n = " + index_list(n) + "]." + field + ": " + why);
  };
  dominant("D", D, kNotFinite);
  dominant("S", S, kNotFinite);
  dominant("JT", JT, kNotFinite);
  dominant("ratio", ratio, kNotFinite);
  dominant("ratio", undefined, "not defined (S_{n+1} = 0)");

  std::vector<double> direct, partial, error;
  for (const ValidityPoint& v : r.validity) {
    if (!std::isfinite(v.S_direct)) direct.push_back(v.t);
    if (!std::isfinite(v.partial_sum)) partial.push_back(v.t);
    if (!std::isfinite(v.abs_error)) error.push_back(v.t);
  }
  auto validity = [&](const char* field, const std::vector<double>& t) {
    if (!t.empty()) out.push_back("validity[t = " + t_list(t) + "]." + field + ": " + kNotFinite);
  };
  validity("S_direct", direct);
  validity("partial_sum", partial);
  validity("abs_error", error);
  return out;
}

}  // namespace taylorscope
