// The analysis of one trained θ* for `taylorscope dominance`: the exact
// expansion (which also carries the seven closed-form terms with their counts
// and shares) and the n = 1, 2 element statistics. The training itself is the trainer's.
#include "taylorscope/dominance.hpp"
#include "taylorscope/errors.hpp"

namespace taylorscope {

WidthAnalysis analyse_width(const Dataset& eval, const Params& theta, const Activation& act, int order, int bins,
                            ExpansionBackend& pass, TensorBackend& tensors, Communicator& comm) {
  if (order < 5) throw InputError("--order must be ≥ 5 for D_{n+1}/S_{n+1} up to n = 4, got " + std::to_string(order));
  WidthAnalysis w;
  w.H = theta.H;
  ExpansionOptions options;
  options.order = order;
  options.warning_context = "H = " + std::to_string(theta.H) + ": ";
  w.expansion = expand(eval, theta, act, options, pass, comm);
  tensors.upload({&eval, &theta});
  for (int n = 1; n <= 2; ++n)
    w.tensors.push_back(
        tensor_statistics(tensors, n, bins, {}, "H = " + std::to_string(theta.H) + ", n = " + std::to_string(n) + ": ",
                          comm));
  return w;
}

}  // namespace taylorscope
