// meanfield --simulate's GPU path in a build configured without nvcc: asking
// for it is an input error (the CLI's --device resolution refuses first).
#include "taylorscope/errors.hpp"
#include "taylorscope/meanfield.hpp"

namespace taylorscope {

void meanfield_propagate_cuda(const SimulateConfig&, const std::vector<double>&, std::vector<PairSums>&,
                              const std::function<void(int64_t, int64_t)>&) {
  throw InputError("this build has no CUDA support (configured without nvcc)");
}

}  // namespace taylorscope
