// `taylorscope dominance` (seed 000 §2.3–2.5): at each hidden width H, θ*
// trained by the trainer, then on the evaluation split the S_2/S_3 term
// decomposition with the corrected coefficients (MATH.md §3), the sub-term
// counts (§5), D_{n+1}/S_{n+1} (§3), the element statistics of J^(n)∘T^(n) for
// n = 1, 2 (§6) and the radius estimate — to see which term dominates, and
// whether that dominance fades as H shrinks, as the seed claims.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "taylorscope/expansion.hpp"
#include "taylorscope/moment_tensors.hpp"

namespace taylorscope {

struct TermShare {
  std::string name;   // the INTERFACES.md key: cc, J_UW, ccc, Ub_c, Z_UW_c, J_UWb, J_UWW
  double value = 0;
  double share = 0;      // value / S_k: the signed fraction of the exact coefficient
  double abs_share = 0;  // |value| / Σ |values| over the order's terms
  double count = 0;      // products in the term's sum (MATH.md §5)
};

struct WidthAnalysis {
  int64_t H = 0;
  // θ*: the trainer's chosen epoch (best/), and how it scores there.
  int chosen_epoch = 0;
  std::string chosen_by;
  double train_loss = 0, train_acc = 0, eval_loss = 0, eval_acc = 0;
  double train_seconds = 0;
  ExpansionResult expansion;              // on the evaluation split at θ*
  std::vector<TermShare> S2_terms, S3_terms;
  std::vector<TensorStatistics> tensors;  // n = 1, 2 on the evaluation split
};

// Everything after training, for one θ* on `eval`. `order` ≥ 5 so that
// D_{n+1}/S_{n+1} reaches n = 4.
WidthAnalysis analyse_width(const Dataset& eval, const Params& theta_star, const Activation& act, int order,
                            int bins, ExpansionBackend& pass, TensorBackend& tensors);

// The term list of one order with shares and counts filled in.
std::vector<TermShare> term_shares(const ExpansionResult& r, int order, int64_t M, int64_t H, int64_t E);

}  // namespace taylorscope
