// The closed forms of S_2 and S_3 (docs/math.md §3) with the corrected Taylor
// multiplicities, computed from the data's first moments (the pass's class sums) and θ alone — an
// independent route to the numbers the jets produce, which is what makes
// "the seven terms sum to S_2 and S_3" a meaningful test.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/blas.hpp"
#include "taylorscope/class_moments.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/sample_action.hpp"

namespace taylorscope {
namespace {

// xᵀ C y with C = δ/M − 1/M² (docs/math.md §7), never forming C.
double centred_dot(const std::vector<double>& x, const std::vector<double>& y) {
  const double M = static_cast<double>(x.size());
  double xy = 0, sx = 0, sy = 0;
  for (size_t a = 0; a < x.size(); ++a) {
    xy += x[a] * y[a];
    sx += x[a];
    sy += y[a];
  }
  return xy / M - sx * sy / (M * M);
}

}  // namespace

SeedTerms seed_terms(const FirstMoments& mom, const Params& th, const std::vector<double>& sigma_derivs,
                     double JT2) {
  const int64_t M = th.M, H = th.H, E = th.E;
  const double s0 = sigma_derivs.at(0), s1 = sigma_derivs.at(1), s2 = sigma_derivs.at(2);
  const double Md = static_cast<double>(M);

  // c' = c + σ(0) U·1: a non-zero σ(0) shifts every c of §3.
  std::vector<double> c(M), Ub(M, 0.0), UWZ(M, 0.0);
  order1_logits(th.U.data(), th.c.data(), s0, M, H, c.data());

  std::vector<double> Y(M * H), V(H);  // Y = J^(1) Wᵀ (M×H), V = W Z̄ (H)
  cpu::gemm_abt(M, H, E, mom.J1.data(), th.W.data(), Y.data());
  cpu::gemm_abt(1, H, E, mom.mean.data(), th.W.data(), V.data());

  double JUW = 0, JUWb = 0;
  for (int64_t a = 0; a < M; ++a)
    for (int64_t b = 0; b < H; ++b) {
      const double u = th.U[a * H + b];
      JUW += u * Y[a * H + b];
      JUWb += u * th.b[b] * Y[a * H + b];
      Ub[a] += u * th.b[b];
      UWZ[a] += u * V[b];
    }

  double sc = 0, sc2 = 0, sc3 = 0;
  for (double v : c) {
    sc += v;
    sc2 += v * v;
    sc3 += v * v * v;
  }

  const double m = Md, h = static_cast<double>(H), e = static_cast<double>(E);
  SeedTerms t;
  // The one list of the seven terms. Counts (docs/math.md §5): cᵀCc has M²
  // products, J·UW M·E·H (the rule M·H·E^n at n = 1), and S_3's as listed there.
  t.all = {
      {"cc", 2, "½ c'ᵀ C c'", 0.5 * centred_dot(c, c), m * m},
      {"J_UW", 2, "(σ1/M) ⟨J¹, UW⟩", s1 / Md * JUW, m * e * h},
      // (1/6) Σ (δ_αβγ/M − (δ_αβ+δ_αγ+δ_βγ)/M² + 2/M³) c_α c_β c_γ
      {"ccc", 3, "c³ form", (sc3 / Md - 3.0 * sc2 * sc / (Md * Md) + 2.0 * sc * sc * sc / (Md * Md * Md)) / 6.0,
       m * m * m},
      {"Ub_c", 3, "σ1 c'ᵀ C (Ub)", s1 * centred_dot(c, Ub), m * h * m},
      {"Z_UW_c", 3, "σ1 c'ᵀ C (U W Z̄)", s1 * centred_dot(c, UWZ), m * e * h * m},
      {"J_UWb", 3, "(σ2/M) ⟨J¹, U diag(b) W⟩", s2 / Md * JUWb, m * e * h},
      {"J_UWW", 3, "(σ2/2M) ⟨J², T²⟩", s2 / (2.0 * Md) * JT2, m * e * e * h},
  };
  return t;
}

void set_term_shares(SeedTerms& t, const std::vector<double>& S_k) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (SeedTerm& term : t.all) {
    double abs_total = 0;
    for (const SeedTerm& other : t.all)
      if (other.order == term.order) abs_total += std::fabs(other.value);
    term.abs_share = std::isfinite(abs_total) && abs_total > 0 ? std::fabs(term.value) / abs_total : nan;
    const double exact = term.order < static_cast<int>(S_k.size()) ? S_k[term.order] : nan;
    term.of_exact = std::isfinite(exact) && exact != 0 ? term.value / exact : nan;
  }
}

const SeedTerm& SeedTerms::at(const std::string& name) const {
  for (const SeedTerm& term : all)
    if (term.name == name) return term;
  throw std::out_of_range("no seed term named '" + name + "'");
}

double SeedTerms::sum(int order) const {
  double s = 0;
  for (const SeedTerm& term : all)
    if (term.order == order) s += term.value;
  return s;
}

}  // namespace taylorscope
