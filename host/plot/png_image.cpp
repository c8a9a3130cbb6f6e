#include "plot/png_image.hpp"

#include <zlib.h>

#include <stdexcept>

#include "taylorscope/atomic_file.hpp"

namespace taylorscope::plot {

Image::Image(int w, int h, Rgb background) : width(w), height(h) {
  if (w <= 0 || h <= 0) throw std::invalid_argument("plot::Image: width and height must be positive");
  pixels.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < pixels.size(); i += 3) {
    pixels[i] = background.r;
    pixels[i + 1] = background.g;
    pixels[i + 2] = background.b;
  }
}

Rgb Image::pixel(int x, int y) const {
  if (!contains(x, y)) throw std::out_of_range("plot::Image::pixel outside the image");
  const size_t i = (static_cast<size_t>(y) * width + x) * 3;
  return {pixels[i], pixels[i + 1], pixels[i + 2]};
}

void Image::set_pixel(int x, int y, Rgb c) {
  if (!contains(x, y)) return;
  const size_t i = (static_cast<size_t>(y) * width + x) * 3;
  pixels[i] = c.r;
  pixels[i + 1] = c.g;
  pixels[i + 2] = c.b;
}

namespace {

void put_u32_be(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

// length, type, data, then the CRC-32 of type and data (PNG spec §5.3).
void put_chunk(std::string& out, const char type[4], const std::string& data) {
  put_u32_be(out, static_cast<uint32_t>(data.size()));
  const std::string body = std::string(type, 4) + data;
  out += body;
  const auto* bytes = reinterpret_cast<const Bytef*>(body.data());
  put_u32_be(out, static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), bytes, static_cast<uInt>(body.size()))));
}

}  // namespace

std::string encode_png(const Image& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3)
    throw std::invalid_argument("encode_png: image size does not match its pixels");

  const size_t row_bytes = static_cast<size_t>(image.width) * 3;
  std::string raw;
  raw.reserve(image.height * (row_bytes + 1));
  for (int y = 0; y < image.height; ++y) {
    raw.push_back('\0');  // filter type 0: the row as is
    raw.append(reinterpret_cast<const char*>(image.pixels.data()) + y * row_bytes, row_bytes);
  }
  uLongf packed_size = compressBound(raw.size());
  std::string packed(packed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
                reinterpret_cast<const Bytef*>(raw.data()), raw.size(), Z_DEFAULT_COMPRESSION) != Z_OK)
    throw std::runtime_error("encode_png: zlib compress2 failed");
  packed.resize(packed_size);

  std::string header;
  put_u32_be(header, static_cast<uint32_t>(image.width));
  put_u32_be(header, static_cast<uint32_t>(image.height));
  header += std::string("\x08\x02\x00\x00\x00", 5);  // 8 bits, truecolour, deflate, filter 0, no interlace

  std::string png("\x89PNG\r\n\x1a\n", 8);
  put_chunk(png, "IHDR", header);
  put_chunk(png, "IDAT", packed);
  put_chunk(png, "IEND", "");
  return png;
}

void write_png(const std::string& path, const Image& image) {
  write_file_atomically(path, encode_png(image));
}

}  // namespace taylorscope::plot
