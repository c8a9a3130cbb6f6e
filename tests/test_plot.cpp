// The PNG chart module: files a standard decoder accepts (decoded here with
// zlib alone), bars where the data are, and no crash on awkward input.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "plot/axes.hpp"
#include "plot/canvas.hpp"
#include "plot/charts.hpp"
#include "plot/png_image.hpp"

namespace fs = std::filesystem;
using namespace taylorscope::plot;

namespace {

class TempDir : public taylorscope::testing::TempDir {
 public:
  TempDir() : taylorscope::testing::TempDir("ts_plot") {}
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

uint32_t be32(const std::string& s, size_t at) {
  if (at + 4 > s.size()) throw std::runtime_error("PNG truncated");
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

// A decoder written from the PNG spec, sharing nothing with encode_png:
// signature, chunk CRCs, IHDR, IDAT inflated to exactly height·(1 + 3·width)
// bytes, filter byte 0 on every row. Throws on any violation.
Image decode_png(const std::string& png) {
  if (png.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) != 0)
    throw std::runtime_error("bad signature");
  std::vector<std::string> types;
  std::string header, idat;
  size_t at = 8;
  while (at < png.size()) {
    const uint32_t length = be32(png, at);
    if (at + 12 + length > png.size()) throw std::runtime_error("chunk runs past the end");
    const std::string body = png.substr(at + 4, 4 + length);
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(body.data()), body.size());
    if (crc != be32(png, at + 8 + length)) throw std::runtime_error("bad CRC in " + body.substr(0, 4));
    types.push_back(body.substr(0, 4));
    if (types.back() == "IHDR") header = body.substr(4);
    if (types.back() == "IDAT") idat += body.substr(4);
    at += 12 + length;
  }
  if (types.empty() || types.front() != "IHDR" || types.back() != "IEND")
    throw std::runtime_error("chunks must run IHDR … IEND");
  if (header.size() != 13 || header.substr(8) != std::string("\x08\x02\x00\x00\x00", 5))
    throw std::runtime_error("expected 8-bit truecolour, no interlace");
  const int width = static_cast<int>(be32(header, 0)), height = static_cast<int>(be32(header, 4));
  const size_t expected = static_cast<size_t>(height) * (1 + 3 * static_cast<size_t>(width));
  std::string raw(expected + 1, '\0');  // one spare byte: too much data must show
  uLongf raw_size = raw.size();
  if (uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_size,
                 reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK)
    throw std::runtime_error("IDAT does not inflate");
  if (raw_size != expected) throw std::runtime_error("IDAT inflates to the wrong size");
  Image image(width, height);
  for (int y = 0; y < height; ++y) {
    const size_t row = y * (1 + 3 * static_cast<size_t>(width));
    if (raw[row] != 0) throw std::runtime_error("row filter is not 0");
    std::copy(raw.begin() + row + 1, raw.begin() + row + 1 + 3 * width, image.pixels.begin() + 3 * y * width);
  }
  return image;
}

HistogramPanel one_tall_bar(const std::string& name, int tall_bin) {
  HistogramPanel p;
  p.name = name;
  for (int i = 0; i <= 10; ++i) p.edges.push_back(1.0 + i);  // [1, 11]: no x = 0 line
  p.counts.assign(10, 0.0);
  p.counts[tall_bin] = 1e10;
  p.mean = 1.5 + tall_bin;
  p.std = 0.3;
  return p;
}

// The pixel column through the middle of a bin of one_tall_bar.
int bin_centre_column(const Rect& area, int bin) {
  return area.left + static_cast<int>(std::lround((bin + 0.5) / 10.0 * (area.right - area.left)));
}

}  // namespace

TEST(Png, DecodesToTheSamePixelsAndSize) {
  Image image(7, 5);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x)
      image.set_pixel(x, y, {uint8_t(30 * x), uint8_t(50 * y), uint8_t(x * y)});
  const Image decoded = decode_png(encode_png(image));
  EXPECT_EQ(decoded.width, 7);
  EXPECT_EQ(decoded.height, 5);
  EXPECT_EQ(decoded.pixels, image.pixels);
}

TEST(Png, CorruptedByteFailsTheChunkCrc) {
  // The decoder above really checks: otherwise the other tests prove little.
  std::string png = encode_png(Image(4, 3, {10, 20, 30}));
  png[png.size() - 20] ^= 0x01;  // inside IDAT
  EXPECT_THROW(decode_png(png), std::runtime_error);
}

TEST(Png, WrittenFileIsTheEncodingAndNoTemporaryRemains) {
  TempDir dir;
  const Image image(3, 2, {1, 2, 3});
  write_png(dir.file("a.png"), image);
  EXPECT_EQ(read_file(dir.file("a.png")), encode_png(image));
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename(), "a.png");
}

TEST(Canvas, NonAsciiCharacterRendersAsOneQuestionMark) {
  EXPECT_EQ(text_width("\xcf\x83"), text_width("?"));  // σ in UTF-8
  Image sigma(20, 10), question(20, 10);
  draw_text(sigma, 2, 1, "\xcf\x83", kBlack);
  draw_text(question, 2, 1, "?", kBlack);
  EXPECT_EQ(sigma.pixels, question.pixels);
  EXPECT_NE(question.pixels, Image(20, 10).pixels);
}

TEST(Canvas, VerticalTextIsHorizontalTextTurnedAnticlockwise) {
  Image across(40, 10), up(10, 40);
  draw_text(across, 0, 0, "Ab1", kBlack);
  draw_text_vertical(up, 0, 39, "Ab1", kBlack, Align::left);
  int lit = 0;
  for (int v = 0; v < 10; ++v)
    for (int u = 0; u < 40; ++u) {
      EXPECT_EQ(across.pixel(u, v), up.pixel(v, 39 - u)) << u << "," << v;
      lit += across.pixel(u, v) == kBlack;
    }
  EXPECT_GT(lit, 20);
}

TEST(Axes, TickLabelsAreCompact) {
  EXPECT_EQ(format_tick(-0.012, 0.002), "-0.012");
  EXPECT_EQ(format_tick(3.5e-05, 5e-06), "3.5e-05");
  EXPECT_EQ(format_tick(1e10, 2e9), "1e+10");
  EXPECT_EQ(format_tick(200, 50), "200");
  EXPECT_EQ(format_tick(3 * 0.1 - 0.3, 0.1), "0");
  const Axis linear = linear_axis(0, 0.05);
  EXPECT_EQ(linear.labels, (std::vector<std::string>{"0", "0.01", "0.02", "0.03", "0.04", "0.05"}));
  const Axis decades = log_axis_of({0.5, 0.0, -3.0, NAN, 2000});
  EXPECT_EQ(decades.labels, (std::vector<std::string>{"1e-1", "1e0", "1e1", "1e2", "1e3", "1e4"}));
}

TEST(Axes, DegenerateRangesArePaddedAroundTheValue) {
  for (const std::vector<double>& values : {std::vector<double>{5}, {5, 5, 5}, {0, 0}, {}}) {
    const Axis linear = linear_axis_of(values);
    EXPECT_LT(linear.lo, linear.hi);
    EXPECT_GE(linear.ticks.size(), 2u);
    if (!values.empty()) {
      EXPECT_NEAR(linear.fraction(values[0]), 0.5, 1e-12);
    }
  }
  const Axis decades = log_axis_of({100.0});
  EXPECT_NEAR(decades.fraction(100.0), 0.5, 1e-12);
  EXPECT_EQ(log_axis_of({0.0, -1.0}).labels, (std::vector<std::string>{"1e0", "1e1"}));
}

TEST(Histogram, TallBarFillsItsColumnAndEmptyBinsStayWhite) {
  TempDir dir;
  const std::vector<HistogramPanel> panels = {one_tall_bar("left", 7), one_tall_bar("right", 2)};
  write_histogram_panels(dir.file("h.png"), "two panels", panels);
  const Image image = decode_png(read_file(dir.file("h.png")));
  ASSERT_EQ(image.width, 2 * (histogram_plot_area(1).left - histogram_plot_area(0).left));

  for (size_t panel = 0; panel < panels.size(); ++panel) {
    const Rect area = histogram_plot_area(panel);
    const int tall = panel == 0 ? 7 : 2;
    for (int bin = 0; bin < 10; ++bin) {
      const int x = bin_centre_column(area, bin);
      int coloured = 0;
      for (int y = area.top + 1; y < area.bottom; ++y) coloured += image.pixel(x, y) != kWhite;
      const int inside = area.bottom - area.top - 1;
      if (bin == tall)  // the bar reaches 1 / 1.08 of the height
        EXPECT_GT(coloured, 0.9 * inside) << "panel " << panel << " bin " << bin;
      else
        EXPECT_EQ(coloured, 0) << "panel " << panel << " bin " << bin;
    }
  }
}

TEST(Histogram, OverlayDrawsInsideThePlotArea) {
  HistogramPanel plain = one_tall_bar("p", 4);
  plain.counts = {1, 3, 8, 14, 20, 20, 14, 8, 3, 1};
  plain.mean = 6;
  plain.std = 2;
  HistogramPanel overlaid = plain;
  overlaid.gaussian_overlay = true;
  const Image a = render_histogram_panels("t", {plain}), b = render_histogram_panels("t", {overlaid});
  const Rect area = histogram_plot_area(0);
  int changed = 0;
  for (int y = area.top; y <= area.bottom; ++y)
    for (int x = area.left; x <= area.right + 1; ++x) changed += a.pixel(x, y) != b.pixel(x, y);
  EXPECT_GT(changed, area.right - area.left);  // a 2-px curve across the whole width
}

TEST(LineChart, LogAxisSkipsZeroAndNonFinitePointsWithoutThrowing) {
  TempDir dir;
  LineChart chart{"loss", "epoch", "loss", false, true, {}};
  chart.series.push_back({"train", {0, 1, 2, 3, 4}, {1.0, 0.1, 0.0, NAN, 0.001}});
  chart.series.push_back({"nothing drawable", {1, 2}, {0.0, -1.0}});
  ASSERT_NO_THROW(write_line_chart(dir.file("c.png"), chart));
  const Image image = decode_png(read_file(dir.file("c.png")));
  EXPECT_GT(image.width, 300);
  EXPECT_GT(image.height, 200);
}

TEST(LineChart, PointsALogAxisCannotShowLeaveNoTrace) {
  LineChart with_bad{"t", "x", "y", true, true, {{"s", {1, 10, 100, 1000, -5}, {1, 0.1, 0.0, NAN, 3}}}};
  LineChart without{"t", "x", "y", true, true, {{"s", {1, 10}, {1, 0.1}}}};
  EXPECT_EQ(render_line_chart(with_bad).pixels, render_line_chart(without).pixels);
}

TEST(LineChart, DegenerateRangesArePaddedNotDividedBy) {
  for (bool log : {false, true}) {
    LineChart chart{"flat", "x", "y", log, log, {}};
    chart.series.push_back({"one point", {5}, {5}});
    chart.series.push_back({"all equal", {5, 5, 5}, {5, 5, 5}});
    chart.series.push_back({"empty", {}, {}});
    const Image image = render_line_chart(chart);
    EXPECT_NE(image.pixels, Image(image.width, image.height).pixels);
  }
  EXPECT_NO_THROW(render_line_chart(LineChart{}));
}

TEST(Charts, MalformedInputThrowsInvalidArgument) {
  HistogramPanel short_edges = one_tall_bar("p", 0);
  short_edges.edges.pop_back();
  HistogramPanel unsorted = one_tall_bar("p", 0);
  std::swap(unsorted.edges[3], unsorted.edges[4]);
  HistogramPanel negative = one_tall_bar("p", 0);
  negative.counts[5] = -1;
  EXPECT_THROW(render_histogram_panels("t", {}), std::invalid_argument);
  EXPECT_THROW(render_histogram_panels("t", {short_edges}), std::invalid_argument);
  EXPECT_THROW(render_histogram_panels("t", {unsorted}), std::invalid_argument);
  EXPECT_THROW(render_histogram_panels("t", {negative}), std::invalid_argument);

  LineChart chart;
  chart.series.push_back({"s", {1, 2, 3}, {1, 2}});
  EXPECT_THROW(render_line_chart(chart), std::invalid_argument);
  TempDir dir;
  EXPECT_THROW(write_line_chart(dir.file("x.png"), chart), std::invalid_argument);
  EXPECT_FALSE(fs::exists(dir.file("x.png")));
}
