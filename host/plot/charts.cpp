#include "plot/charts.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <stdexcept>

#include "plot/axes.hpp"

namespace taylorscope::plot {

namespace {

constexpr Rgb kTextColour{30, 30, 30};
constexpr Rgb kCaptionColour{90, 90, 90};
constexpr Rgb kBarColour{118, 160, 207};
constexpr Rgb kOverlayColour{214, 39, 40};
constexpr Rgb kZeroColour{90, 90, 90};
constexpr Rgb kLegendBorder{170, 170, 170};
// Tableau's ten (matplotlib's default cycle): apart even as thin lines.
constexpr std::array<Rgb, 10> kPalette = {{{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                           {214, 39, 40}, {148, 103, 189}, {140, 86, 75},
                                           {227, 119, 194}, {127, 127, 127}, {188, 189, 34},
                                           {23, 190, 207}}};

constexpr int kTitleHeight = 34;
constexpr int kPanelWidth = 420, kPanelHeight = 320;
constexpr int kLegendRowHeight = 26;
constexpr int kLineWidth = 640, kLineHeight = 440;
constexpr int kSwatch = 20;  // legend sample width
constexpr size_t kMaxLegendChars = 32;

std::string compact(double v) {
  char text[40];
  std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

void draw_title(Image& image, const std::string& title) {
  draw_text(image, image.width / 2, 10, title, kTextColour, Align::centre, 2);
}

enum class Swatch { bar, line, dashed };

struct LegendEntry {
  Swatch swatch;
  Rgb colour;
  std::string text;
  int thickness = 2;
  bool marker = false;
  Marker shape = Marker::circle;
};

// The sample of an entry, kSwatch wide, starting at x and centred on y.
void draw_swatch(Image& image, int x, int y, const LegendEntry& e) {
  if (e.swatch == Swatch::bar) fill_rect(image, x + 4, y - 4, x + kSwatch - 4, y + 4, e.colour);
  if (e.swatch == Swatch::line) draw_line(image, x, y, x + kSwatch, y, e.colour, e.thickness);
  if (e.swatch == Swatch::dashed) draw_dashed_line(image, x, y, x + kSwatch, y, e.colour);
  if (e.marker) draw_marker(image, x + kSwatch / 2, y, e.shape, e.colour);
}

// ---- histograms -------------------------------------------------------------

void check_panel(const HistogramPanel& p) {
  const std::string where = "histogram panel '" + p.name + "': ";
  if (p.counts.empty() || p.edges.size() != p.counts.size() + 1)
    throw std::invalid_argument(where + "needs bins + 1 edges for bins >= 1 counts");
  for (size_t i = 0; i < p.edges.size(); ++i)
    if (!std::isfinite(p.edges[i]) || (i > 0 && !(p.edges[i] > p.edges[i - 1])))
      throw std::invalid_argument(where + "edges must be finite and strictly increasing");
  for (double c : p.counts)
    if (!std::isfinite(c) || c < 0) throw std::invalid_argument(where + "counts must be finite and >= 0");
}

// Expected fraction of the total in a bin of this width at x.
double gaussian_fraction(const HistogramPanel& p, double x, double bin_width) {
  const double z = (x - p.mean) / p.std;
  return std::exp(-0.5 * z * z) / (p.std * std::sqrt(2 * std::numbers::pi)) * bin_width;
}

bool has_overlay(const HistogramPanel& p) {
  return p.gaussian_overlay && std::isfinite(p.mean) && std::isfinite(p.std) && p.std > 0;
}

bool has_zero_line(const HistogramPanel& p) { return p.edges.front() < 0 && p.edges.back() > 0; }

// One pixel column at a time, so bins of different widths bend the curve as
// they should; where it leaves the top it is cut, not flattened.
void draw_overlay(Image& image, const Rect& area, const Axis& y, const HistogramPanel& p) {
  const double x0 = p.edges.front(), span = p.edges.back() - x0;
  size_t bin = 0;
  int prev_x = 0, prev_y = 0;
  for (int px = area.left; px <= area.right; ++px) {
    const double x = x0 + span * (px - area.left) / (area.right - area.left);
    while (bin + 1 < p.counts.size() && x >= p.edges[bin + 1]) ++bin;
    const double value = gaussian_fraction(p, x, p.edges[bin + 1] - p.edges[bin]);
    const int py = std::clamp(y_pixel(y, area, value), area.top, area.bottom - 1);
    if (px > area.left && !(py == area.top && prev_y == area.top))
      draw_line(image, prev_x, prev_y, px, py, kOverlayColour, 2);
    prev_x = px, prev_y = py;
  }
}

void draw_panel(Image& image, const Rect& area, const HistogramPanel& p) {
  double total = 0;
  for (double c : p.counts) total += c;
  double highest = 0;
  for (double c : p.counts) highest = std::max(highest, total > 0 ? c / total : 0);
  const Axis x = linear_axis(p.edges.front(), p.edges.back());
  const Axis y = linear_axis(0, highest > 0 ? 1.08 * highest : 1);

  for (size_t i = 0; i < p.counts.size(); ++i) {
    if (p.counts[i] <= 0) continue;
    const int left = x_pixel(x, area, p.edges[i]);
    int right = x_pixel(x, area, p.edges[i + 1]);
    if (right - left >= 3) --right;  // a white seam between neighbouring bars
    // A non-empty bin is never invisible, however small its share.
    const int top = std::min(y_pixel(y, area, p.counts[i] / total), area.bottom - 1);
    fill_rect(image, left, top, right, area.bottom - 1, kBarColour);
  }
  if (has_zero_line(p)) {
    const int px = x_pixel(x, area, 0.0);
    draw_dashed_line(image, px, area.top + 1, px, area.bottom - 1, kZeroColour);
  }
  if (has_overlay(p)) draw_overlay(image, area, y, p);
  draw_frame(image, area, x, y, "value", "fraction of total");

  const int centre = (area.left + area.right) / 2;
  draw_text(image, centre, area.top - 28, p.name, kTextColour, Align::centre);
  draw_text(image, centre, area.top - 15, "mean " + compact(p.mean) + ", std " + compact(p.std),
            kCaptionColour, Align::centre);
}

// One row under the panels, naming only what some panel shows.
void draw_histogram_legend(Image& image, const std::vector<HistogramPanel>& panels) {
  std::vector<LegendEntry> entries = {{Swatch::bar, kBarColour, "fraction of total per bin"}};
  if (std::any_of(panels.begin(), panels.end(), has_overlay))
    entries.push_back({Swatch::line, kOverlayColour, "Gaussian with the same mean and std"});
  if (std::any_of(panels.begin(), panels.end(), has_zero_line))
    entries.push_back({Swatch::dashed, kZeroColour, "x = 0"});
  constexpr int kGap = 18;
  int width = -kGap;
  for (const LegendEntry& e : entries) width += kSwatch + 6 + text_width(e.text) + kGap;
  int x = std::max(4, (image.width - width) / 2);
  const int y = image.height - kLegendRowHeight / 2;
  for (const LegendEntry& e : entries) {
    draw_swatch(image, x, y, e);
    draw_text(image, x + kSwatch + 6, y - text_height() / 2, e.text, kTextColour);
    x += kSwatch + 6 + text_width(e.text) + kGap;
  }
}

// ---- line charts ------------------------------------------------------------

Rgb series_colour(size_t i) { return kPalette[i % kPalette.size()]; }
// Past ten series the colours repeat with the other marker.
Marker series_marker(size_t i) { return (i / kPalette.size()) % 2 == 0 ? Marker::circle : Marker::square; }

bool drawable(const LineChart& chart, double x, double y) {
  return std::isfinite(x) && std::isfinite(y) && (!chart.log_x || x > 0) && (!chart.log_y || y > 0);
}

std::string legend_name(const std::string& name) {
  return name.size() <= kMaxLegendChars ? name : name.substr(0, kMaxLegendChars - 3) + "...";
}

void draw_series(Image& image, const Rect& area, const Axis& xa, const Axis& ya,
                 const LineChart& chart, const Series& s, Rgb colour, Marker shape) {
  bool joined = false;  // whether the previous point was drawn
  int prev_x = 0, prev_y = 0;
  for (size_t i = 0; i < s.x.size(); ++i) {
    if (!drawable(chart, s.x[i], s.y[i])) {
      joined = false;
      continue;
    }
    const int px = x_pixel(xa, area, s.x[i]), py = y_pixel(ya, area, s.y[i]);
    if (joined) draw_line(image, prev_x, prev_y, px, py, colour);
    joined = true;
    prev_x = px, prev_y = py;
  }
  for (size_t i = 0; i < s.x.size(); ++i)  // markers over the lines
    if (drawable(chart, s.x[i], s.y[i]))
      draw_marker(image, x_pixel(xa, area, s.x[i]), y_pixel(ya, area, s.y[i]), shape, colour);
}

}  // namespace

// ---- public -----------------------------------------------------------------

Rect histogram_plot_area(size_t index) {
  const int left = static_cast<int>(index) * kPanelWidth;
  return {left + 72, kTitleHeight + 32, left + kPanelWidth - 16, kTitleHeight + kPanelHeight - 44};
}

Image render_histogram_panels(const std::string& title, const std::vector<HistogramPanel>& panels) {
  if (panels.empty()) throw std::invalid_argument("histogram chart '" + title + "': no panels");
  for (const HistogramPanel& p : panels) check_panel(p);
  Image image(kPanelWidth * static_cast<int>(panels.size()),
              kTitleHeight + kPanelHeight + kLegendRowHeight);
  draw_title(image, title);
  for (size_t i = 0; i < panels.size(); ++i) draw_panel(image, histogram_plot_area(i), panels[i]);
  draw_histogram_legend(image, panels);
  return image;
}

void write_histogram_panels(const std::string& path, const std::string& title,
                            const std::vector<HistogramPanel>& panels) {
  write_png(path, render_histogram_panels(title, panels));
}

Image render_line_chart(const LineChart& chart) {
  std::vector<double> xs, ys;
  int widest = 0;
  for (const Series& s : chart.series) {
    if (s.x.size() != s.y.size())
      throw std::invalid_argument("line chart '" + chart.title + "', series '" + s.name +
                                  "': x and y differ in size");
    for (size_t i = 0; i < s.x.size(); ++i)
      if (drawable(chart, s.x[i], s.y[i])) xs.push_back(s.x[i]), ys.push_back(s.y[i]);
    widest = std::max(widest, text_width(legend_name(s.name)));
  }
  const Axis xa = chart.log_x ? log_axis_of(xs) : linear_axis_of(xs);
  const Axis ya = chart.log_y ? log_axis_of(ys) : linear_axis_of(ys);

  const int legend_width = 8 + kSwatch + 6 + widest + 8;
  Image image(kLineWidth + legend_width, kLineHeight);
  const Rect area{80, kTitleHeight + 8, kLineWidth - 24, kLineHeight - 52};
  draw_title(image, chart.title);
  draw_grid(image, area, xa, ya);
  for (size_t i = 0; i < chart.series.size(); ++i)
    draw_series(image, area, xa, ya, chart, chart.series[i], series_colour(i), series_marker(i));
  draw_frame(image, area, xa, ya, chart.x_label, chart.y_label);

  if (chart.series.empty()) return image;
  constexpr int kRow = 14;
  const int box_left = area.right + 16, box_top = area.top;
  draw_rect(image, box_left, box_top, box_left + legend_width - 8,
            box_top + 6 + kRow * static_cast<int>(chart.series.size()), kLegendBorder);
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const int y = box_top + 3 + kRow * static_cast<int>(i) + kRow / 2;
    const LegendEntry e{Swatch::line, series_colour(i), legend_name(chart.series[i].name), 1, true,
                        series_marker(i)};
    draw_swatch(image, box_left + 6, y, e);
    draw_text(image, box_left + 6 + kSwatch + 6, y - text_height() / 2, e.text, kTextColour);
  }
  return image;
}

void write_line_chart(const std::string& path, const LineChart& chart) {
  write_png(path, render_line_chart(chart));
}

}  // namespace taylorscope::plot
