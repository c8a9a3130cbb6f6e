// The experiments' counter-based generator (include/taylorscope/counter_rng.hpp):
// Random123's Philox4x32-10 on the host is the published generator (its
// known-answer vectors) and the very function cuRAND runs on the device
// (cuRAND's own header compiled for the host, where the toolkit is
// installed); the uniform and normal draws; the device's draws against the
// host's (skips without a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "taylorscope/counter_rng.hpp"
#include "taylorscope/expansion_pass.hpp"  // cuda_backend_available
#include "taylorscope/cuda_backend.hpp"

#if defined(TS_HAVE_CUDA)
// cuRAND's Philox is written for the device but guards its one
// device-specific step (the 32×32 → 64-bit product) with NV_IF_ELSE_TARGET,
// so with host qualifiers the same source compiles on the host. Its
// mulhilo32 would clash with Random123's (both global), hence the namespace.
#include <vector_types.h>
#include <nv/target>
namespace curand_on_host {
#define QUALIFIERS static inline
#include <curand_philox4x32_x.h>
#undef QUALIFIERS
}  // namespace curand_on_host
#endif

namespace taylorscope {
namespace {

// Philox4x32-10's known-answer vectors, as published with Random123
// (kat_vectors: philox4x32 10 rounds): counter, key → output.
TEST(CounterRng, RandomPhiloxMatchesPublishedKnownAnswers) {
  struct Kat {
    uint32_t ctr[4], key[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    const uint64_t block = k.ctr[0] | uint64_t{k.ctr[1]} << 32, stream = k.ctr[2] | uint64_t{k.ctr[3]} << 32;
    const uint64_t seed = k.key[0] | uint64_t{k.key[1]} << 32;
    const PhiloxWords r = philox4x32_10(seed, stream, block);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(r.w[j], k.out[j]) << "word " << j;
  }
}

#if defined(TS_HAVE_CUDA)
TEST(CounterRng, HostPhiloxIsCurandsPhilox) {
  // Seeds, streams and blocks that fill every word of the counter and key,
  // including carries across the 32-bit halves.
  const uint64_t values[] = {0, 1, 0xffffffffULL, 0x100000000ULL, 0x123456789abcdefULL, ~0ULL};
  for (uint64_t seed : values)
    for (uint64_t stream : values)
      for (uint64_t block : values) {
        const PhiloxWords ours = philox4x32_10(seed, stream, block);
        const uint4 c = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                         static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)};
        const uint2 k = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
        const uint4 theirs = curand_on_host::curand_Philox4x32_10(c, k);
        EXPECT_EQ(ours.w[0], theirs.x);
        EXPECT_EQ(ours.w[1], theirs.y);
        EXPECT_EQ(ours.w[2], theirs.z);
        EXPECT_EQ(ours.w[3], theirs.w);
      }
}
#endif

TEST(CounterRng, UniformIsExactAndCoversTheUnitInterval) {
  EXPECT_EQ(uniform_from_words(0, 0), 0.0);
  EXPECT_EQ(uniform_from_words(0xffffffff, 0xffffffff), 1.0 - 0x1p-53);
  EXPECT_EQ(uniform_from_words(0, 1u << 11), 0x1p-53);  // the lowest bit that counts
  EXPECT_EQ(uniform_from_words(0, (1u << 11) - 1), 0.0);  // the 11 bits dropped
  // Draw i of a stream is word pair (0,1) or (2,3) of block i/2.
  const PhiloxWords b = philox4x32_10(7, 3, 5);
  EXPECT_EQ(philox_uniform(7, 3, 10), uniform_from_words(b.w[0], b.w[1]));
  EXPECT_EQ(philox_uniform(7, 3, 11), uniform_from_words(b.w[2], b.w[3]));
}

// Moments of 2·10^5 draws: the mean of U(0,1) has standard error
// 1/sqrt(12 n) ≈ 6.5e-4 and its variance's about 1/sqrt(180 n) ≈ 1.7e-4; a
// normal's mean 1/sqrt(n) ≈ 2.2e-3, variance sqrt(2/n) ≈ 3.2e-3 and fourth
// moment sqrt(96/n) ≈ 0.022. Bounds at 5 standard errors: a fixed seed
// passes or fails for ever, and a wrong transform (a missing factor 2 in
// the radius, a lost leg) misses by far more.
TEST(CounterRng, DrawsHaveTheirDistributionsMoments) {
  const int n = 200000;
  double su = 0, su2 = 0, sz = 0, sz2 = 0, sz4 = 0;
  for (int i = 0; i < n; ++i) {
    const double u = philox_uniform(2024, 1, i);
    ASSERT_TRUE(u >= 0.0 && u < 1.0);
    su += u;
    su2 += u * u;
    const double z = philox_normal(2024, 2, i);
    ASSERT_TRUE(std::isfinite(z));
    sz += z;
    sz2 += z * z;
    sz4 += z * z * z * z;
  }
  const double mu = su / n, vu = su2 / n - mu * mu;
  EXPECT_NEAR(mu, 0.5, 5 * 6.5e-4);
  EXPECT_NEAR(vu, 1.0 / 12, 5 * 1.7e-4);
  EXPECT_NEAR(sz / n, 0.0, 5 * 2.2e-3);
  EXPECT_NEAR(sz2 / n, 1.0, 5 * 3.2e-3);
  EXPECT_NEAR(sz4 / n, 3.0, 5 * 0.022);
}

// The two legs of one block are independent normals: their sample
// correlation over 2·10^5 pairs has standard error 1/sqrt(n) ≈ 2.2e-3.
TEST(CounterRng, NormalLegsOfOneBlockAreUncorrelated) {
  const int n = 200000;
  double sxy = 0;
  for (int i = 0; i < n; ++i) sxy += philox_normal(99, 0, 2 * i) * philox_normal(99, 0, 2 * i + 1);
  EXPECT_NEAR(sxy / n, 0.0, 5 * 2.2e-3);
}

TEST(CounterRng, StreamsAndSeedsAreDifferentDraws) {
  int same_stream = 0, same_seed = 0;
  for (int i = 0; i < 64; ++i) {
    same_stream += philox_uniform(1, 0, i) == philox_uniform(1, 1, i);
    same_seed += philox_uniform(1, 0, i) == philox_uniform(2, 0, i);
  }
  EXPECT_EQ(same_stream, 0);
  EXPECT_EQ(same_seed, 0);
}

// The device runs cuRAND's Philox and CUDA's log/sin/cos: uniforms are the
// same bits; normals may differ by the libraries' few-ulp disagreement,
// amplified at most by the Box–Muller map's condition (≤ ~40 near the
// radius' tail), so 1e-13 relative is a wide margin that a wrong word or
// leg (an O(1) difference) can never meet.
TEST(CounterRng, DeviceDrawsEqualHostDraws) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const uint64_t seed = 0x5eedULL, stream = 12345, first = (uint64_t{1} << 33) - 7, count = 100003;
  const std::vector<double> u = philox_draws_on_device(0, seed, stream, first, count, false);
  const std::vector<double> z = philox_draws_on_device(0, seed, stream + 1, first, count, true);
  ASSERT_EQ(u.size(), count);
  ASSERT_EQ(z.size(), count);
  double worst = 0;
  for (uint64_t i = 0; i < count; ++i) {
    ASSERT_EQ(u[i], philox_uniform(seed, stream, first + i)) << "uniform " << i;
    const double host = philox_normal(seed, stream + 1, first + i);
    worst = std::fmax(worst, std::fabs(z[i] - host) / std::fmax(1.0, std::fabs(host)));
  }
  EXPECT_LE(worst, 1e-13);
  std::printf("device normals vs host: max relative difference %.3g\n", worst);
}

}  // namespace
}  // namespace taylorscope
