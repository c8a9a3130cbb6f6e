// `taylorscope tensors` as library calls that the CLI and the Python package
// share: which streams are asked for, and the upload, the two sweeps and
// ⟨J^(n), T^(n)⟩ by the power-sum identity beside the streamed value.
#pragma once

#include <limits>
#include <string>

#include "taylorscope/communicator.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/moment_tensors.hpp"

namespace taylorscope {

// The streams `only` selects: "" both J (from the data) and T (from θ, when
// θ is given), "J" the data's alone, "T" θ's alone. The caller has checked
// `only` against its own flag's words.
TensorSources tensor_sources(const Dataset& data, const Params* theta, const std::string& only);

struct TensorRun {
  TensorStatistics stats;  // timing_ms starts with the upload
  double dot_power_sum = std::numeric_limits<double>::quiet_NaN();  // ⟨J, T⟩ by docs/math.md §4; NaN unless both streams ran and `pass` was given
};

// Uploads `sources` to `backend`, sweeps order n, and with both streams and
// a `pass` backend adds the power-sum value of ⟨J, T⟩. Collective over
// `comm` as tensor_statistics and power_sum_contractions are.
TensorRun run_tensors(const TensorSources& sources, int order, int bins, TensorBackend& backend,
                      ExpansionBackend* pass, const SweepProgress& progress = {}, Communicator& comm = world());

}  // namespace taylorscope
