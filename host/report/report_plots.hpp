// The PNG plots of the reports: CPU-only drawing (host/plot), for the CLI and
// the library's own orchestration (dominance), not part of the public API in
// include/ — a Python user plots with their own tools.
#pragma once

#include <string>
#include <vector>

#include "taylorscope/dominance.hpp"
#include "taylorscope/moment_tensors.hpp"

namespace taylorscope {

// One panel per streamed tensor that has a histogram, each with the Gaussian
// of its mean and std. Returns false, writing nothing, when none has one
// (every streamed tensor holds non-finite elements: its warnings say so).
bool write_tensor_histograms(const std::string& path, const TensorStatistics& s, const std::string& title);

// term_magnitudes.png, term_shares.png, subterm_counts.png, dominant_ratio.png in dir.
void write_dominance_plots(const std::string& dir, const std::vector<WidthAnalysis>& widths);

}  // namespace taylorscope
