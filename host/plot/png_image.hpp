// An RGB8 raster and its PNG encoding: the one image format the engine
// writes, so a command can leave a plot beside its report without Python.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taylorscope::plot {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};

// Row-major, top row first, 3 bytes per pixel: the layout PNG stores, so
// encoding is a copy plus one filter byte per row.
struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> pixels;

  Image(int width, int height, Rgb background = kWhite);
  bool contains(int x, int y) const { return x >= 0 && y >= 0 && x < width && y < height; }
  Rgb pixel(int x, int y) const;
  // Outside the image: ignored, so drawing clips at the border.
  void set_pixel(int x, int y, Rgb colour);
};

// A complete PNG file (8-bit truecolour, no interlace, filter 0 on every
// row). Throws std::invalid_argument for an empty or inconsistent image.
std::string encode_png(const Image& image);

// Written atomically (atomic_file.hpp): a crash never leaves half a PNG.
void write_png(const std::string& path, const Image& image);

}  // namespace taylorscope::plot
