#include "taylorscope/tensor_run.hpp"

#include <chrono>

#include "taylorscope/expansion.hpp"

namespace taylorscope {

TensorSources tensor_sources(const Dataset& data, const Params* theta, const std::string& only) {
  TensorSources src;
  if (only != "T") src.data = &data;
  if (theta && only != "J") src.theta = theta;
  return src;
}

TensorRun run_tensors(const TensorSources& sources, int order, int bins, TensorBackend& backend,
                      ExpansionBackend* pass, const SweepProgress& progress, Communicator& comm) {
  const auto t0 = std::chrono::steady_clock::now();
  backend.upload(sources);
  const double upload_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  TensorRun run;
  run.stats = tensor_statistics(backend, order, bins, progress, "", comm);
  run.stats.timing_ms.insert(run.stats.timing_ms.begin(), {"upload", upload_ms});
  if (sources.data && sources.theta && pass)
    run.dot_power_sum = power_sum_contractions(*sources.data, *sources.theta, order, *pass, comm).at(order - 1);
  return run;
}

}  // namespace taylorscope
