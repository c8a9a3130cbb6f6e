// Drawing primitives on an Image: the few the charts need, all clipped at the
// image border. Coordinates are pixels, x right and y down from the top left.
#pragma once

#include <string_view>

#include "plot/png_image.hpp"

namespace taylorscope::plot {

// Inclusive pixel bounds, left < right and top < bottom.
struct Rect {
  int left = 0, top = 0, right = 0, bottom = 0;
};

// Corners inclusive, in either order.
void fill_rect(Image& image, int x0, int y0, int x1, int y1, Rgb colour);
// Outline of the same rectangle, 1 px.
void draw_rect(Image& image, int x0, int y0, int x1, int y1, Rgb colour);

// Bresenham; thickness 2 adds the pixel to the right and below each one.
void draw_line(Image& image, int x0, int y0, int x1, int y1, Rgb colour, int thickness = 1);
// The same pixels, drawn in runs of `dash` and skipped in runs of `gap`.
void draw_dashed_line(Image& image, int x0, int y0, int x1, int y1, Rgb colour, int dash = 4,
                      int gap = 3);

enum class Marker { square, circle };
// Filled, centred on (cx, cy), spanning 2·radius+1 pixels.
void draw_marker(Image& image, int cx, int cy, Marker shape, Rgb colour, int radius = 2);

enum class Align { left, centre, right };

// Glyphs are 5×7 on a 6-pixel advance, times scale (1 or 2). Bytes outside
// printable ASCII render as '?', one per UTF-8 character.
int text_width(std::string_view text, int scale = 1);
int text_height(int scale = 1);

// (x, y) is the top of the text; x is its left end, centre or right end.
void draw_text(Image& image, int x, int y, std::string_view text, Rgb colour,
               Align align = Align::left, int scale = 1);
// Rotated 90° anticlockwise (reads bottom to top), for a y-axis label:
// x is the left of the rotated glyphs, y where the text is aligned.
void draw_text_vertical(Image& image, int x, int y, std::string_view text, Rgb colour,
                        Align align = Align::centre, int scale = 1);

}  // namespace taylorscope::plot
