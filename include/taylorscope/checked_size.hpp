// Sizes computed from what a file says (IDX dimensions, npy shapes, element
// counts × element sizes): a header can claim anything, so every product is
// checked for overflow instead of trusted. The readers refuse a header whose
// sizes do not fit with one line naming the file.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace taylorscope {

// a·b for non-negative a, b; nullopt when the product exceeds `limit`.
inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b, uint64_t limit = UINT64_MAX) {
  uint64_t p = 0;
  if (__builtin_mul_overflow(a, b, &p) || p > limit) return std::nullopt;
  return p;
}

// The product of the non-zero dimensions, or nullopt when it exceeds `limit`
// or a dimension is negative. Zeros are skipped on purpose: an array of
// 0 × 2^32 × 2^32 holds no values, yet the size of one row (2^64) is
// something a caller will compute, so a header is judged by what its
// non-zero extents multiply to. Within the limit, every sub-product fits.
inline std::optional<uint64_t> nonzero_extent_product(const std::vector<int64_t>& dims,
                                                      uint64_t limit) {
  uint64_t p = 1;
  for (int64_t d : dims) {
    if (d < 0) return std::nullopt;
    if (d == 0) continue;
    const auto next = checked_mul(p, static_cast<uint64_t>(d), limit);
    if (!next) return std::nullopt;
    p = *next;
  }
  return p;
}

}  // namespace taylorscope
