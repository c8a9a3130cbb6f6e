#include "plot/canvas.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "plot/font5x7.hpp"

namespace taylorscope::plot {

void fill_rect(Image& image, int x0, int y0, int x1, int y1, Rgb colour) {
  // Clamp first: a bar far outside the image costs nothing.
  const int xa = std::max(std::min(x0, x1), 0), xb = std::min(std::max(x0, x1), image.width - 1);
  const int ya = std::max(std::min(y0, y1), 0), yb = std::min(std::max(y0, y1), image.height - 1);
  for (int y = ya; y <= yb; ++y)
    for (int x = xa; x <= xb; ++x) image.set_pixel(x, y, colour);
}

void draw_rect(Image& image, int x0, int y0, int x1, int y1, Rgb colour) {
  draw_line(image, x0, y0, x1, y0, colour);
  draw_line(image, x0, y1, x1, y1, colour);
  draw_line(image, x0, y0, x0, y1, colour);
  draw_line(image, x1, y0, x1, y1, colour);
}

namespace {

// Calls plot(x, y, step) for each pixel of the Bresenham line, step counting
// from 0 at (x0, y0).
template <class Plot>
void bresenham(int x0, int y0, int x1, int y1, Plot plot) {
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (int step = 0;; ++step) {
    plot(x0, y0, step);
    if (x0 == x1 && y0 == y1) return;
    const int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

void put_thick(Image& image, int x, int y, Rgb colour, int thickness) {
  image.set_pixel(x, y, colour);
  if (thickness < 2) return;
  image.set_pixel(x + 1, y, colour);
  image.set_pixel(x, y + 1, colour);
  image.set_pixel(x + 1, y + 1, colour);
}

}  // namespace

void draw_line(Image& image, int x0, int y0, int x1, int y1, Rgb colour, int thickness) {
  bresenham(x0, y0, x1, y1, [&](int x, int y, int) { put_thick(image, x, y, colour, thickness); });
}

void draw_dashed_line(Image& image, int x0, int y0, int x1, int y1, Rgb colour, int dash, int gap) {
  const int period = std::max(dash, 1) + std::max(gap, 0);
  bresenham(x0, y0, x1, y1, [&](int x, int y, int step) {
    if (step % period < dash) image.set_pixel(x, y, colour);
  });
}

void draw_marker(Image& image, int cx, int cy, Marker shape, Rgb colour, int radius) {
  for (int dy = -radius; dy <= radius; ++dy)
    for (int dx = -radius; dx <= radius; ++dx)
      // + radius: a disc of radius r without the single-pixel spikes at its poles.
      if (shape == Marker::square || dx * dx + dy * dy <= radius * radius + radius)
        image.set_pixel(cx + dx, cy + dy, colour);
}

namespace {

constexpr int kAdvance = kGlyphWidth + 1;

// One char per displayed glyph: a UTF-8 sequence becomes a single '?'
// (its continuation bytes 0x80..0xBF are dropped).
std::string displayed_glyphs(std::string_view text) {
  std::string out;
  for (char c : text) {
    const int code = static_cast<unsigned char>(c);
    if (code >= 0x80 && code < 0xC0) continue;
    out.push_back(code >= 32 && code <= 126 ? c : '?');
  }
  return out;
}

int aligned_start(int at, int width, Align align) {
  if (align == Align::centre) return at - width / 2;
  if (align == Align::right) return at - width;
  return at;
}

// Calls plot(u, v) for each lit pixel of the text laid out horizontally,
// u along the text from 0, v down from its top.
template <class Plot>
void for_each_text_pixel(const std::string& glyphs, int scale, Plot plot) {
  for (size_t i = 0; i < glyphs.size(); ++i) {
    const auto& rows = glyph5x7(glyphs[i]);
    for (int row = 0; row < kGlyphHeight; ++row)
      for (int col = 0; col < kGlyphWidth; ++col) {
        if (!(rows[row] & (0x10 >> col))) continue;
        for (int sv = 0; sv < scale; ++sv)
          for (int su = 0; su < scale; ++su)
            plot(static_cast<int>(i) * kAdvance * scale + col * scale + su, row * scale + sv);
      }
  }
}

}  // namespace

int text_width(std::string_view text, int scale) {
  const int n = static_cast<int>(displayed_glyphs(text).size());
  return n == 0 ? 0 : (n * kAdvance - 1) * scale;  // no trailing gap after the last glyph
}

int text_height(int scale) { return kGlyphHeight * scale; }

void draw_text(Image& image, int x, int y, std::string_view text, Rgb colour, Align align,
               int scale) {
  const int left = aligned_start(x, text_width(text, scale), align);
  for_each_text_pixel(displayed_glyphs(text), scale,
                      [&](int u, int v) { image.set_pixel(left + u, y + v, colour); });
}

void draw_text_vertical(Image& image, int x, int y, std::string_view text, Rgb colour,
                        Align align, int scale) {
  // Along the text is up the image; "left" alignment starts at y going up.
  const int bottom = y - aligned_start(0, text_width(text, scale), align);
  for_each_text_pixel(displayed_glyphs(text), scale,
                      [&](int u, int v) { image.set_pixel(x + v, bottom - u, colour); });
}

}  // namespace taylorscope::plot
