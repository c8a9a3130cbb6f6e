// The built-in 5×7 bitmap font of the chart text (printable ASCII 32..126).
#pragma once

#include <array>
#include <cstdint>

namespace taylorscope::plot {

inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphHeight = 7;

// Seven rows, top first; bit 4 of a row is its leftmost column. Characters
// outside 32..126 get the glyph of '?'.
const std::array<std::uint8_t, kGlyphHeight>& glyph5x7(char c);

}  // namespace taylorscope::plot
