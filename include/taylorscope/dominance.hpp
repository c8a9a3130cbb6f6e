// `taylorscope dominance` (seed 000 §2.3–2.5): at each hidden width H, θ*
// trained by the trainer, then on the evaluation split the S_2/S_3 term
// decomposition with the corrected coefficients (docs/math.md §3), the sub-term
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

struct WidthAnalysis {
  int64_t H = 0;
  // θ*: the trainer's chosen epoch (best/), and how it scores there.
  int chosen_epoch = 0;
  std::string chosen_by;
  double train_loss = 0, train_acc = 0, eval_loss = 0, eval_acc = 0;
  double train_seconds = 0;
  ExpansionResult expansion;              // on the evaluation split at θ*: its `terms` are the seven
  std::vector<TensorStatistics> tensors;  // n = 1, 2 on the evaluation split
};

// Everything after training, for one θ* on `eval`. `order` ≥ 5 so that
// D_{n+1}/S_{n+1} reaches n = 4.
WidthAnalysis analyse_width(const Dataset& eval, const Params& theta_star, const Activation& act, int order,
                            int bins, ExpansionBackend& pass, TensorBackend& tensors);

}  // namespace taylorscope
