// The human-readable view of an expansion: the orders, the seed terms with
// their shares, and where the truncated series stops agreeing with S(tθ).
#include <cmath>
#include <cstdio>
#include <string>

#include "taylorscope/expansion_report.hpp"

namespace taylorscope {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string sci(double v) { return std::isfinite(v) ? fmt("% .12e", v) : "      —"; }
std::string short_sci(double v) { return std::isfinite(v) ? fmt("% .3e", v) : "     —"; }

}  // namespace

void print_expansion_table(std::ostream& out, const ExpansionResult& r, const ReportContext& ctx) {
  const Dataset& d = ctx.data;
  out << "taylorscope expand: " << d.spec << "  N=" << d.N << " E=" << d.E << " M=" << d.M
      << (d.balanced ? " (balanced)" : " (NOT balanced: S_1 ≠ 0 and the §3 closed forms do not apply)")
      << "\n  model H=" << ctx.theta.H << " " << activation_name(ctx.act) << ", θ: " << ctx.params_source
      << "\n  device " << r.device << ", float64 throughout\n\n";

  out << "  k  S_k                  Σ_{j≤k} S_j          D_k (seed's dominant part)  D_k/S_k\n";
  for (int k = 0; k <= r.K; ++k) {
    out << (k < 10 ? "  " : " ") << k << "  " << sci(r.S_k[k]) << "  " << sci(r.partial_sums[k]);
    if (k >= 2 && k - 2 < static_cast<int>(r.dominant.size())) {
      const DominantTerm& dt = r.dominant[k - 2];
      out << "  " << sci(dt.D) << "  " << short_sci(dt.ratio);
    }
    out << "\n";
  }
  out << "  S(θ) direct          " << sci(r.S_direct) << "   |S(θ) − Σ_{k≤K} S_k| = "
      << short_sci(std::fabs(r.S_direct - r.partial_sums.back())) << "\n\n";

  const SeedTerms& t = r.terms;
  const SubtermCounts& c = r.counts;
  auto term = [&](const char* name, const char* formula, double v, double whole, double count) {
    out << "    " << name << formula << sci(v) << "  " << fmt("%7.1f%%", whole != 0 ? 100 * v / whole : NAN);
    if (count > 0) out << "  " << fmt("%.1e", count);
    out << "\n";
  };
  out << "  Seed terms (MATH.md §3, Taylor multiplicities corrected)      value     share  products\n";
  out << "  S_2\n";
  term("cc     ", " ½ c'ᵀ C c'                     ", t.cc, t.S2(), 0);
  term("J_UW   ", " (σ1/M) ⟨J¹, UW⟩                ", t.J_UW, t.S2(), 0);
  out << "    sum of terms                           " << sci(t.S2()) << "   (jets: " << sci(r.S_k[2]) << ")\n";
  out << "  S_3\n";
  term("ccc    ", " c³ form                        ", t.ccc, t.S3(), c.ccc);
  term("Ub_c   ", " σ1 c'ᵀ C (Ub)                  ", t.Ub_c, t.S3(), c.Ub_c);
  term("Z_UW_c ", " σ1 c'ᵀ C (U W Z̄)               ", t.Z_UW_c, t.S3(), c.Z_UW_c);
  term("J_UWb  ", " (σ2/M) ⟨J¹, U diag(b) W⟩       ", t.J_UWb, t.S3(), c.J_UWb);
  term("J_UWW  ", " (σ2/2M) ⟨J², T²⟩               ", t.J_UWW, t.S3(), c.J_UWW);
  out << "    sum of terms                           " << sci(t.S3());
  if (r.K >= 3) out << "   (jets: " << sci(r.S_k[3]) << ")";
  out << "\n\n";

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
