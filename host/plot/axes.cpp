#include "plot/axes.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace taylorscope::plot {

namespace {

constexpr Rgb kFrameColour{40, 40, 40};
constexpr Rgb kGridColour{228, 228, 228};
constexpr Rgb kTextColour{30, 30, 30};
constexpr int kTickLength = 4;

// A span too thin for its magnitude has no distinct tick labels and, when
// zero, no pixel map at all.
void widen_if_degenerate(double& lo, double& hi) {
  const double magnitude = std::max(std::abs(lo), std::abs(hi));
  if (hi - lo > 1e-12 * magnitude) return;
  const double mid = 0.5 * (lo + hi);
  const double half = magnitude > 0 ? 0.5 * magnitude : 1.0;
  lo = mid - half;
  hi = mid + half;
}

// The smallest of 1, 2, 5 × 10^k at or above raw.
double nice_step(double raw) {
  const double decade = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * decade * (1 + 1e-9)) return m * decade;
  return 10 * decade;
}

}  // namespace

double Axis::fraction(double value) const {
  const double t = ((log ? std::log10(value) : value) - lo) / (hi - lo);
  return std::isfinite(t) ? t : 0.0;
}

Axis linear_axis(double lo, double hi) {
  widen_if_degenerate(lo, hi);
  Axis axis;
  axis.lo = lo;
  axis.hi = hi;
  const double step = nice_step((hi - lo) / 5);
  if (!std::isfinite(step) || step <= 0) {  // a span beyond double's range: label the ends
    char text[2][40];
    std::snprintf(text[0], sizeof text[0], "%.3g", lo);
    std::snprintf(text[1], sizeof text[1], "%.3g", hi);
    axis.ticks = {lo, hi};
    axis.labels = {text[0], text[1]};
    return axis;
  }
  for (double i = std::ceil(lo / step - 1e-9); i <= std::floor(hi / step + 1e-9); ++i) {
    axis.ticks.push_back(i * step);
    axis.labels.push_back(format_tick(i * step, step));
  }
  return axis;
}

Axis linear_axis_of(const std::vector<double>& values, double pad) {
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo > hi) return linear_axis(0, 1);
  widen_if_degenerate(lo, hi);
  const double margin = pad * (hi - lo);
  return linear_axis(lo - margin, hi + margin);
}

Axis log_axis_of(const std::vector<double>& values) {
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values)
    if (std::isfinite(v) && v > 0) lo = std::min(lo, v), hi = std::max(hi, v);
  Axis axis;
  axis.log = true;
  if (lo > hi) lo = 1, hi = 10;
  int first = static_cast<int>(std::floor(std::log10(lo)));
  int last = static_cast<int>(std::ceil(std::log10(hi)));
  if (first == last) --first, ++last;  // one value, an exact power of ten: centre it
  axis.lo = first;
  axis.hi = last;
  const int stride = (last - first + 5) / 6;
  for (int k = first; k <= last; k += stride) {
    axis.ticks.push_back(std::pow(10.0, k));
    axis.labels.push_back("1e" + std::to_string(k));
  }
  return axis;
}

std::string format_tick(double value, double step) {
  // i·step carries rounding: 0 would print as "1.4e-17".
  if (std::abs(value) < 1e-9 * step) value = 0;
  const int value_exponent = static_cast<int>(std::floor(std::log10(std::max(std::abs(value), step))));
  const int step_exponent = static_cast<int>(std::floor(std::log10(step)));
  int digits = value_exponent - step_exponent + 1;
  if (value_exponent < 6) digits = std::max(digits, value_exponent + 1);  // 200, not 2e+02
  char text[40];
  std::snprintf(text, sizeof text, "%.*g", std::clamp(digits, 1, 17), value);
  return text;
}

int x_pixel(const Axis& axis, const Rect& area, double value) {
  // Clamped so that a point far outside cannot overflow int.
  const double t = std::clamp(axis.fraction(value), -1.0, 2.0);
  return area.left + static_cast<int>(std::lround(t * (area.right - area.left)));
}

int y_pixel(const Axis& axis, const Rect& area, double value) {
  const double t = std::clamp(axis.fraction(value), -1.0, 2.0);
  return area.bottom - static_cast<int>(std::lround(t * (area.bottom - area.top)));
}

void draw_grid(Image& image, const Rect& area, const Axis& x, const Axis& y) {
  for (double v : x.ticks) {
    const int px = x_pixel(x, area, v);
    draw_line(image, px, area.top, px, area.bottom, kGridColour);
  }
  for (double v : y.ticks) {
    const int py = y_pixel(y, area, v);
    draw_line(image, area.left, py, area.right, py, kGridColour);
  }
}

void draw_frame(Image& image, const Rect& area, const Axis& x, const Axis& y,
                std::string_view x_label, std::string_view y_label) {
  draw_rect(image, area.left, area.top, area.right, area.bottom, kFrameColour);
  const int glyph = text_height();
  for (size_t i = 0; i < x.ticks.size(); ++i) {
    const int px = x_pixel(x, area, x.ticks[i]);
    draw_line(image, px, area.bottom, px, area.bottom + kTickLength, kFrameColour);
    draw_text(image, px, area.bottom + kTickLength + 4, x.labels[i], kTextColour, Align::centre);
  }
  int widest = 0;
  for (size_t i = 0; i < y.ticks.size(); ++i) {
    const int py = y_pixel(y, area, y.ticks[i]);
    draw_line(image, area.left - kTickLength, py, area.left, py, kFrameColour);
    draw_text(image, area.left - kTickLength - 3, py - glyph / 2, y.labels[i], kTextColour,
              Align::right);
    widest = std::max(widest, text_width(y.labels[i]));
  }
  draw_text(image, (area.left + area.right) / 2, area.bottom + kTickLength + 4 + glyph + 8, x_label,
            kTextColour, Align::centre);
  const int label_x = std::max(2, area.left - kTickLength - 3 - widest - 8 - glyph);
  draw_text_vertical(image, label_x, (area.top + area.bottom) / 2, y_label, kTextColour);
}

}  // namespace taylorscope::plot
