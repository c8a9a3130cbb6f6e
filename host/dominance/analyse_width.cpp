// The analysis of one trained θ* for `taylorscope dominance`: the exact
// expansion (which also carries the seven closed-form terms), their shares,
// and the n = 1, 2 element statistics. The training itself is the trainer's.
#include <cmath>

#include "taylorscope/dominance.hpp"
#include "taylorscope/errors.hpp"

namespace taylorscope {

std::vector<TermShare> term_shares(const ExpansionResult& r, int order, int64_t M, int64_t H, int64_t E) {
  const double m = static_cast<double>(M), h = static_cast<double>(H), e = static_cast<double>(E);
  std::vector<TermShare> t;
  if (order == 2) {
    // cᵀCc has M² products; J·UW has M·E·H (MATH.md §5's rule M·H·E^n, n = 1).
    t = {{"cc", r.terms.cc, 0, 0, m * m}, {"J_UW", r.terms.J_UW, 0, 0, m * e * h}};
  } else if (order == 3) {
    t = {{"ccc", r.terms.ccc, 0, 0, r.counts.ccc},          {"Ub_c", r.terms.Ub_c, 0, 0, r.counts.Ub_c},
         {"Z_UW_c", r.terms.Z_UW_c, 0, 0, r.counts.Z_UW_c}, {"J_UWb", r.terms.J_UWb, 0, 0, r.counts.J_UWb},
         {"J_UWW", r.terms.J_UWW, 0, 0, r.counts.J_UWW}};
  } else {
    throw std::invalid_argument("term_shares: the closed forms exist for S_2 and S_3 only");
  }
  double abs_total = 0;
  for (const TermShare& s : t) abs_total += std::fabs(s.value);
  const double S = r.S_k.at(order);
  for (TermShare& s : t) {
    // Shares of the exact S_k; their sum is 1 up to the closed forms' agreement with the jet.
    s.share = S != 0 ? s.value / S : std::nan("");
    s.abs_share = abs_total > 0 ? std::fabs(s.value) / abs_total : std::nan("");
  }
  return t;
}

WidthAnalysis analyse_width(const Dataset& eval, const Params& theta, const Activation& act, int order, int bins,
                            ExpansionBackend& pass, TensorBackend& tensors) {
  if (order < 5) throw InputError("--order must be ≥ 5 for D_{n+1}/S_{n+1} up to n = 4, got " + std::to_string(order));
  WidthAnalysis w;
  w.H = theta.H;
  ExpansionOptions options;
  options.order = order;
  w.expansion = expand(eval, theta, act, options, pass);
  w.S2_terms = term_shares(w.expansion, 2, theta.M, theta.H, eval.E);
  w.S3_terms = term_shares(w.expansion, 3, theta.M, theta.H, eval.E);
  tensors.upload({&eval, &theta});
  for (int n = 1; n <= 2; ++n) w.tensors.push_back(tensor_statistics(tensors, n, bins));
  return w;
}

}  // namespace taylorscope
