// What `taylorscope tensors` shows: the JSON of INTERFACES.md ("taylorscope
// tensors … --report"), the table on stdout and the histogram PNG. All read
// a TensorStatistics; none computes anything.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "taylorscope/moment_tensors.hpp"

namespace taylorscope {

// STATS = { count, min, max, mean, std, skewness, excess_kurtosis, frac_negative,
//           histogram: { edges, counts } }; non-finite numbers become null.
nlohmann::json element_stats_json(const ElementStats& s);

struct TensorReportContext {
  const Dataset* data = nullptr;  // null when only T was streamed
  const Params* theta = nullptr;  // null when only J was streamed
  std::string params_source;
  double dot_power_sum = 0;       // ⟨J,T⟩ by docs/math.md §4, NaN when not computed
};

nlohmann::json tensor_report(const TensorStatistics& s, const TensorReportContext& ctx);
void print_tensor_table(std::ostream& out, const TensorStatistics& s, const TensorReportContext& ctx);
// The histogram PNG (write_tensor_histograms) is host/report/report_plots.hpp's.

}  // namespace taylorscope
