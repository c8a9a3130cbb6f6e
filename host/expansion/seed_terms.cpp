// The closed forms of S_2 and S_3 (MATH.md §3) with the corrected Taylor
// multiplicities, computed from the data's first moments and θ alone — an
// independent route to the numbers the jets produce, which is what makes
// "the seven terms sum to S_2 and S_3" a meaningful test.
#include <vector>

#include "cpu/blas.hpp"
#include "taylorscope/class_moments.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/sample_action.hpp"

namespace taylorscope {
namespace {

// xᵀ C y with C = δ/M − 1/M² (MATH.md §7), never forming C.
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

SeedTerms seed_terms(const Dataset& data, const Params& th, const std::vector<double>& sigma_derivs,
                     double JT2) {
  const int64_t M = th.M, H = th.H, E = th.E;
  const double s0 = sigma_derivs.at(0), s1 = sigma_derivs.at(1), s2 = sigma_derivs.at(2);
  const double Md = static_cast<double>(M);

  // c' = c + σ(0) U·1: a non-zero σ(0) shifts every c of §3.
  std::vector<double> c(M), Ub(M, 0.0), UWZ(M, 0.0);
  order1_logits(th.U.data(), th.c.data(), s0, M, H, c.data());

  const FirstMoments mom = first_moments(data);
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

  SeedTerms t;
  t.cc = 0.5 * centred_dot(c, c);
  t.J_UW = s1 / Md * JUW;
  // (1/6) Σ (δ_αβγ/M − (δ_αβ+δ_αγ+δ_βγ)/M² + 2/M³) c_α c_β c_γ
  t.ccc = (sc3 / Md - 3.0 * sc2 * sc / (Md * Md) + 2.0 * sc * sc * sc / (Md * Md * Md)) / 6.0;
  t.Ub_c = s1 * centred_dot(c, Ub);
  t.Z_UW_c = s1 * centred_dot(c, UWZ);
  t.J_UWb = s2 / Md * JUWb;
  t.J_UWW = s2 / (2.0 * Md) * JT2;
  return t;
}

SubtermCounts subterm_counts(int64_t M, int64_t H, int64_t E) {
  const double m = static_cast<double>(M), h = static_cast<double>(H), e = static_cast<double>(E);
  return {m * m * m, m * h * m, m * e * h * m, m * e * h, m * e * e * h};
}

}  // namespace taylorscope
