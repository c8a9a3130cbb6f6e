// The human-readable view of an expansion: the orders, the seed terms with
// their shares, and where the truncated series stops agreeing with S(tθ).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "report/not_finite.hpp"
#include "taylorscope/expansion_report.hpp"

namespace taylorscope {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// The overflow mark in a number's columns, after the sign's.
std::string fmt_mark(const char* f) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, (std::string(" ") + kOverflowMark).c_str());
  return buf;
}

// + 0.0: a −0 prints as 0. A number that is not finite overflowed (not_finite.hpp).
std::string sci(double v) { return std::isfinite(v) ? fmt("% .12e", v + 0.0) : fmt_mark("%-19s"); }
std::string short_sci(double v) { return std::isfinite(v) ? fmt("% .3e", v + 0.0) : fmt_mark("%-10s"); }

// A share of `whole` in 9 columns: "—" when the whole is 0 (nothing to
// divide by), the overflow mark when it is not finite.
std::string share(double v, double whole) {
  if (std::isfinite(v)) return fmt("%8.2f%%", 100 * v + 0.0);
  return std::isfinite(whole) ? std::string(8, ' ') + "—" : std::string(9 - 8, ' ') + kOverflowMark;
}

// Columns on a terminal: UTF-8 continuation bytes take none, and neither do
// combining diacritics (U+0300..U+036F, the bar of Z̄).
size_t display_width(const std::string& s) {
  size_t w = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char ch = s[i], next = i + 1 < s.size() ? s[i + 1] : 0;
    const bool combining = ch == 0xCC || (ch == 0xCD && next < 0xB0);
    w += (ch & 0xC0) != 0x80 && !combining;
  }
  return w;
}

constexpr size_t kValueColumn = 44;  // where the seed terms' values start

}  // namespace

void print_expansion_table(std::ostream& out, const ExpansionResult& r, const ReportContext& ctx) {
  const Dataset& d = ctx.data;
  out << "taylorscope expand: " << d.spec << "  N=" << d.N << " E=" << d.E << " M=" << d.M
      << (d.balanced ? " (balanced)" : " (NOT balanced: S_1 ≠ 0 and the §3 closed forms do not apply)")
      << "\n  model H=" << ctx.theta.H << " " << activation_name(ctx.act) << ", θ: " << ctx.params_source
      << "\n  ";
  if (r.ranks > 1) {
    out << r.ranks << " ranks (--shard " << r.shard << "), devices ";
    for (size_t i = 0; i < r.devices.size(); ++i) out << (i ? "; " : "") << r.devices[i];
  } else {
    out << "device " << r.device;
  }
  out << ", float64 throughout\n\n";

  out << "  k  S_k                  Σ_{j≤k} S_j          D_k (seed's dominant part)  D_k/S_k\n";
  for (int k = 0; k <= r.K; ++k) {
    out << (k < 10 ? "  " : " ") << k << "  " << sci(r.S_k[k]) << "  " << sci(r.partial_sums[k]);
    if (k >= 2 && k - 2 < static_cast<int>(r.dominant.size())) {
      const DominantTerm& dt = r.dominant[k - 2];
      out << "  " << sci(dt.D) << "  " << (dt.S == 0 ? std::string("      —") : short_sci(dt.ratio));
    }
    out << "\n";
  }
  out << "  S(θ) direct          " << sci(r.S_direct) << "   |S(θ) − Σ_{k≤K} S_k| = "
      << short_sci(std::fabs(r.S_direct - r.partial_sums.back())) << "\n\n";

  // Shares as SeedTerm defines them; a share of a zero or non-finite whole is no number.
  out << "  Seed terms (docs/math.md §3, Taylor multiplicities corrected)\n"
      << "  abs share = |term| / Σ|terms| of its order; of S_k = term / S_k (jets)\n"
      << std::string(kValueColumn, ' ') << "value                abs share     of S_k  products\n";
  const SeedTerms& t = r.terms;
  for (int order : {2, 3}) {
    out << "  S_" << order << "\n";
    double abs_total = 0;
    for (const SeedTerm& term : t.all) abs_total += term.order == order ? std::fabs(term.value) : 0.0;
    const double exact = order <= r.K ? r.S_k[order] : NAN;
    for (const SeedTerm& term : t.all) {
      if (term.order != order) continue;
      char name[64];
      std::snprintf(name, sizeof name, "    %-7s ", term.name.c_str());
      const std::string head = name + term.formula;
      out << head << std::string(kValueColumn - std::min(kValueColumn, display_width(head)), ' ')
          << sci(term.value) << "  " << share(term.abs_share, abs_total) << "  " << share(term.of_exact, exact)
          << "  " << fmt("%.3e", term.count) << "\n";
    }
    out << "    sum of terms" << std::string(kValueColumn - 16, ' ') << sci(t.sum(order));
    if (order <= r.K) out << "   (jets: " << sci(r.S_k[order]) << ")";
    out << "\n";
  }
  out << "\n";

  if (r.radius.available()) {
    out << "  Radius of convergence along tθ (root test over orders";
    for (int k : r.radius.orders_used) out << " " << k;
    out << "): R ≈ " << fmt("%.4g", r.radius.estimate) << "\n";
  } else {
    out << "  Radius of convergence along tθ: not estimated — " << r.radius.absent_reason << "\n";
  }
  out << "     t    S(tθ) direct         Σ_{k≤K} t^k S_k      |difference|\n";
  for (const ValidityPoint& v : r.validity)
    out << fmt("  %5.2f", v.t) << "  " << sci(v.S_direct) << "  " << sci(v.partial_sum) << "  "
        << short_sci(v.abs_error) << (r.radius.available() && v.t >= r.radius.estimate ? "   (t ≥ R)" : "")
        << "\n";
  out << "\n  timing (ms):";
  for (const auto& [phase, ms] : r.timing_ms) out << " " << phase << " " << fmt("%.1f", ms);
  out << "\n";
}

}  // namespace taylorscope
