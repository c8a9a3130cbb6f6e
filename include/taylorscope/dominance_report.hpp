// What `taylorscope dominance` writes: one JSON, one CSV table (a row per
// width) and PNG plots across widths. All read WidthAnalysis rows.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "taylorscope/dominance.hpp"

namespace taylorscope {

// `ranks`: the processes that analysed the widths (their expansions say);
// with R > 1 each width's `device` lists every rank's, in rank order.
nlohmann::json dominance_report(const std::vector<WidthAnalysis>& widths, const nlohmann::json& settings);
std::string dominance_csv(const std::vector<WidthAnalysis>& widths);
// One line per width for stdout: θ*'s scores, S_2 and S_3 each with its
// largest term by abs share (SeedTerm), and D_{n+1}/S_{n+1} for n ≤ 4.
std::string dominance_summary_line(const WidthAnalysis& w);
// The PNG plots (write_dominance_plots) are host/report/report_plots.hpp's.

}  // namespace taylorscope
