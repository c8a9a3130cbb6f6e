// Chart axes: a data range mapped onto pixels, its "nice" ticks with compact
// labels, and the frame, ticks, grid and axis labels drawn around a plot area.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "plot/canvas.hpp"

namespace taylorscope::plot {

struct Axis {
  bool log = false;
  double lo = 0, hi = 1;            // in axis coordinates: log10 of the data when log
  std::vector<double> ticks;        // data values
  std::vector<std::string> labels;  // one per tick

  // 0 at lo, 1 at hi; finite for any finite positive (log) or finite value.
  double fraction(double value) const;
};

// Exactly [lo, hi] (widened when empty, so nothing divides by zero), ticks at
// multiples of 1, 2 or 5 × 10^k, about five of them.
Axis linear_axis(double lo, double hi);
// [min, max] of the finite values plus `pad` of the span on each side;
// [0, 1] when there is none.
Axis linear_axis_of(const std::vector<double>& values, double pad = 0.05);
// Whole decades around the positive finite values (1..10 when none), ticks
// labelled "1e3", at most seven of them.
Axis log_axis_of(const std::vector<double>& values);

// The shortest %g that keeps ticks `step` apart distinct: "-0.012", "3.5e-05",
// "1e+10"; plain digits for integers below 10^6.
std::string format_tick(double value, double step);

int x_pixel(const Axis& axis, const Rect& area, double value);
int y_pixel(const Axis& axis, const Rect& area, double value);

// Light lines at the ticks, drawn before the data.
void draw_grid(Image& image, const Rect& area, const Axis& x, const Axis& y);
// Frame, tick marks, tick labels and axis labels, drawn after the data.
void draw_frame(Image& image, const Rect& area, const Axis& x, const Axis& y,
                std::string_view x_label, std::string_view y_label);

}  // namespace taylorscope::plot
