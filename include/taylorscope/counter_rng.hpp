// Counter-based random numbers for the experiments (spurious, meanfield,
// bn-check): any draw is a pure function of (seed, stream, index), so a GPU
// thread and a CPU loop compute the same draw without shared state, and run
// r of a study can be replayed alone from (seed, r).
//
// The generator is Philox4x32-10 (Salmon et al., SC'11): on the device
// cuRAND's `curand_Philox4x32_10`, on the host Random123's `philox4x32`
// (Debian librandom123-dev) — the same function of (counter, key), checked
// word for word in tests/test_counter_rng.cpp. The layout of one block:
// key = (seed lo, seed hi), counter = (block lo, block hi, stream lo,
// stream hi): where cuRAND's curand_init(seed, subsequence = stream, offset)
// puts them, so a stream here is a cuRAND subsequence.
//
// Draw i of a stream is read from block i/2, two 32-bit words per double.
// A stream is read either as uniforms or as normals, never both: normal i
// and normal i^1 share their block with uniforms i and i^1.
//
// A translation unit includes this header or cuRAND's curand_kernel.h, not
// both: Random123 and cuRAND each define a global mulhilo32.
#pragma once

#include <cstdint>

#include "taylorscope/hd.hpp"

#if defined(__CUDA_ARCH__)
#include <curand_philox4x32_x.h>
#else
#include <Random123/philox.h>
#endif

#include <cmath>

namespace taylorscope {

struct PhiloxWords {
  uint32_t w[4];
};

TS_HD PhiloxWords philox4x32_10(uint64_t seed, uint64_t stream, uint64_t block) {
  const uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32);
  const uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
#if defined(__CUDA_ARCH__)
  const uint4 r = curand_Philox4x32_10(make_uint4(c0, c1, c2, c3), make_uint2(k0, k1));
  return PhiloxWords{{r.x, r.y, r.z, r.w}};
#else
  const r123::Philox4x32::ctr_type ctr = {{c0, c1, c2, c3}};
  const r123::Philox4x32::key_type key = {{k0, k1}};
  const r123::Philox4x32::ctr_type r = r123::Philox4x32()(ctr, key);
  return PhiloxWords{{r.v[0], r.v[1], r.v[2], r.v[3]}};
#endif
}

// 53 random bits as a double in [0, 1): exact (an integer times 2^-53), so
// bitwise the same on host and device.
TS_HD double uniform_from_words(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) | (lo >> 11);
  return static_cast<double>(bits) * 0x1p-53;
}

TS_HD double philox_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  const PhiloxWords r = philox4x32_10(seed, stream, i >> 1);
  return (i & 1) ? uniform_from_words(r.w[2], r.w[3]) : uniform_from_words(r.w[0], r.w[1]);
}

// Box–Muller on one block: its first two words give the radius, its last two
// the angle; draw i is the cosine leg when even, the sine leg when odd. The
// radius uses 1 − u ∈ (0, 1], so the logarithm is finite (|z| ≤ 8.6). Host
// and device agree to a few ulps: glibc's and CUDA's log, cos and sin are
// both faithful but not the same bits.
TS_HD double philox_normal(uint64_t seed, uint64_t stream, uint64_t i) {
  const PhiloxWords r = philox4x32_10(seed, stream, i >> 1);
  const double radius = std::sqrt(-2.0 * std::log(1.0 - uniform_from_words(r.w[0], r.w[1])));
  const double angle = 6.283185307179586476925 * uniform_from_words(r.w[2], r.w[3]);
  return radius * ((i & 1) ? std::sin(angle) : std::cos(angle));
}

}  // namespace taylorscope
