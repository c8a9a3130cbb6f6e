// The spurious study's CUDA entry point in a build configured without nvcc.
#include "taylorscope/errors.hpp"
#include "taylorscope/spurious.hpp"

namespace taylorscope {

void descend_runs_cuda(int, int, int, int64_t, int64_t, const DescentSettings&, double*, DescentOutcome*) {
  throw InputError("this build has no CUDA support (configured without nvcc)");
}

}  // namespace taylorscope
