// The two charts the engine's commands write: histograms of element values
// side by side, and line charts of curves (linear or log axes). Each is a PNG
// written atomically; render_* give the image for a caller that composes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "plot/canvas.hpp"
#include "plot/png_image.hpp"

namespace taylorscope::plot {

struct HistogramPanel {
  std::string name;
  std::vector<double> edges;   // bins + 1, strictly increasing
  std::vector<double> counts;  // bins; non-negative, may be weighted and up to ~1e10
  double mean = 0, std = 0;    // of the underlying values, for the caption and the overlay
  bool gaussian_overlay = false;
};

// Bars show counts / total, so a panel of 10^10 elements reads like one of
// 10^3. The overlay is the Gaussian of the panel's mean and std in the same
// units (density × bin width); a dashed line marks x = 0 when it is inside.
// 1 to 3 panels are the intended use. Throws std::invalid_argument for no
// panels, edges.size() != counts.size() + 1, unsorted or non-finite edges,
// or negative or non-finite counts.
void write_histogram_panels(const std::string& path, const std::string& title,
                            const std::vector<HistogramPanel>& panels);
Image render_histogram_panels(const std::string& title, const std::vector<HistogramPanel>& panels);
// Where panel `index` draws its bars (the frame lies on this rectangle's
// border): its x span is [edges.front(), edges.back()], its y span starts at 0.
Rect histogram_plot_area(std::size_t index);

struct Series {
  std::string name;
  std::vector<double> x, y;
};

struct LineChart {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  std::vector<Series> series;
};

// Lines with markers in a fixed palette, legend to the right. A point is
// drawn when finite (and positive on a log axis); the line breaks where one
// is skipped. Throws std::invalid_argument when a series' x and y differ in
// size.
void write_line_chart(const std::string& path, const LineChart& chart);
Image render_line_chart(const LineChart& chart);

}  // namespace taylorscope::plot
