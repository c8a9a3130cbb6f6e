// The CUDA backend computes the same PassSums as the CPU backend: every field,
// for every class tile (M ≤ 8, ≤ 16, ≤ 32, ≤ 64), edge orders, chunk boundaries,
// and bitwise the same on a second run. Without a GPU (or in a build without
// CUDA) the GPU tests skip with the reason; the refusal tests run everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "taylorscope/activation.hpp"
#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "split_stages.hpp"
#include "taylorscope/expansion.hpp"
#include "test_support.hpp"

namespace taylorscope {
namespace {

using testing::make_plan;

// Tolerance: |gpu − cpu| ≤ 1e-9 · max(|cpu|, floor).
// The two backends differ only in rounding: cuBLAS and the CPU BLAS sum
// Z·Wᵀ in different orders (a few ulps of each a_sβ), powers up to a^12
// amplify that by ≤ 12, and every field is a sum over samples in a
// different order. That is ~1e-14 relative for any sum that does not cancel.
// A sum that does cancel keeps the absolute rounding of its terms, so the
// relative test needs a floor at the scale of the terms:
//   jet, direct: floor = 1e-3 · N — a per-sample average below 1e-3 is a
//     cancellation residue (the jets of these random θ are O(1)–O(1e3) per
//     sample), and 1e-12 · N absolute is still far below any real error.
//   class_power[n]: floor = 1e-6 · max over (α, β) of |class_power[n]|, the
//     scale of Σ|a|^n in that power; odd powers of a centred a cancel.
// Measured with the GEMM summed in another order than BLAS (a CPU emulation
// of these kernels): jet and direct ≤ 3e-14, class_power ≤ 6e-12 with the
// floor (2e-11 without it) — over 100× inside the tolerance.
// At the seed's orders and width (K = 20, 32, 64, H = 2048, the case of
// CudaPassSumsEqualCpuAtSeedOrdersAndWidth), measured on the CPU backend:
// θ perturbed by 4 ulps relative (U, W, b: what GEMMs summed in other
// orders do to a and G) moves jet and direct by ≤ 1.1e-13 and class_power by
// ≤ 1.3e-11 under these floors; the jet recurrences with every multiply-add
// fused (what nvcc's default --fmad=true does) move the jets by ≤ 4e-14.
// The jet kernel is nonetheless built with -fmad=false (sources.cmake), so
// its recurrences round as the CPU's do, operation for operation.
void expect_close(const std::vector<double>& cpu, const std::vector<double>& gpu, double floor,
                  const std::string& what) {
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  for (size_t i = 0; i < cpu.size(); ++i) {
    ASSERT_TRUE(std::isfinite(cpu[i])) << what << "[" << i << "] is not finite on the CPU";
    EXPECT_LE(std::fabs(gpu[i] - cpu[i]), 1e-9 * std::max(std::fabs(cpu[i]), floor))
        << what << "[" << i << "]: cpu " << cpu[i] << ", gpu " << gpu[i];
  }
}

void expect_sums_match(const PassSums& cpu, const PassSums& gpu, int64_t N) {
  ASSERT_EQ(cpu.K, gpu.K);
  ASSERT_EQ(cpu.M, gpu.M);
  ASSERT_EQ(cpu.P, gpu.P);
  ASSERT_EQ(cpu.H, gpu.H);
  ASSERT_EQ(cpu.E, gpu.E);
  EXPECT_EQ(cpu.class_count, gpu.class_count);
  // Class sums of z: the sums of class_power at n = 1 over E features, with
  // the same cancellation floor (features of either sign).
  double zscale = 0.0;
  for (double v : cpu.class_sum) zscale = std::max(zscale, std::fabs(v));
  expect_close(cpu.class_sum, gpu.class_sum, 1e-6 * zscale, "class_sum");
  expect_close(cpu.jet, gpu.jet, 1e-3 * static_cast<double>(N), "jet");
  expect_close(cpu.direct, gpu.direct, 1e-3 * static_cast<double>(N), "direct");
  const size_t per_power = static_cast<size_t>(cpu.M) * cpu.H;
  for (int n = 1; n <= cpu.P; ++n) {
    const auto first = cpu.class_power.begin() + (n - 1) * per_power;
    const std::vector<double> c(first, first + per_power);
    const auto gfirst = gpu.class_power.begin() + (n - 1) * per_power;
    const std::vector<double> g(gfirst, gfirst + per_power);
    double scale = 0.0;
    for (double v : c) scale = std::max(scale, std::fabs(v));
    expect_close(c, g, 1e-6 * scale, "class_power n=" + std::to_string(n));
  }
}

struct Case {
  std::vector<int64_t> counts;  // samples per class (unbalanced on purpose)
  int64_t E, H;
  double w_scale;               // entries of θ ~ N(0, w_scale²): keeps a = Wz + b at O(1)
};

// The CPU's sums once, then the GPU's under each chunking (0: one chunk).
void compare_backends(const Case& c, const PassPlan& plan, const std::vector<int64_t>& chunk_rows) {
  const Dataset data = testing::synthetic_data(c.counts, c.E, 17);
  const Params theta = testing::random_params(data.M, c.H, c.E, c.w_scale, 29);
  auto cpu = make_cpu_backend();
  cpu->upload(data);
  const PassSums want = cpu->run(theta, plan);
  for (int64_t rows : chunk_rows) {
    SCOPED_TRACE("max_chunk_rows=" + std::to_string(rows));
    CudaBackendOptions options;
    options.max_chunk_rows = rows;
    auto gpu = make_cuda_backend(options);
    gpu->upload(data);
    expect_sums_match(want, gpu->run(theta, plan), data.N);
  }
}

void compare_backends(const Case& c, const PassPlan& plan) { compare_backends(c, plan, {0}); }

// Sizes that are not multiples of the kernels' tiles (32 samples and 16
// hidden units in stage 1, groups of 128/M samples in stage 2, 512 rows).
const Case kSmall{{150, 97, 53}, 37, 70, 0.25};
const Case kWide{{31, 12, 25, 40, 7, 19, 33, 28, 9, 22}, 781, 513, 0.04};

class CudaVsCpuActivation : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaVsCpuActivation, CudaPassSumsEqualCpuTo1e9) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const PassPlan plan = make_plan(GetParam(), 12, {0.5, 1.0, 2.0}, 11);
  {
    SCOPED_TRACE("N=300 M=3 E=37 H=70");
    compare_backends(kSmall, plan);
  }
  {
    SCOPED_TRACE("N=226 M=10 E=781 H=513");
    compare_backends(kWide, plan);
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, CudaVsCpuActivation,
                         ::testing::Values("silu", "tanh", "softplus", "gelu", "sigmoid"));

TEST(CudaVsCpu, CudaPassSumsEqualCpuForEveryClassTile) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const PassPlan plan = make_plan("silu", 8, {0.5, 1.5}, 7);
  for (int M : {2, 8, 9, 16, 17, 32, 33, 64}) {  // each side of the 8-class MMA tiles: 1, 2, 4, 8 of them
    SCOPED_TRACE("M=" + std::to_string(M));
    std::vector<int64_t> counts(M);
    for (int a = 0; a < M; ++a) counts[a] = 3 + (7 * a) % 11;
    compare_backends({counts, 23, 45, 0.3}, plan);
  }
}

TEST(CudaVsCpu, CudaPassSumsEqualCpuAtEdgeOrders) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  struct Edge {
    int K, P;
    std::vector<double> t;
  };
  // K = 0, 1: no power channels; with t empty, no channels at all.
  for (const Edge& e : {Edge{0, 0, {}}, Edge{0, 2, {1.0}}, Edge{1, 1, {}}, Edge{1, 2, {0.7}},
                        Edge{2, 2, {}}, Edge{5, 9, {}}, Edge{20, 19, {0.3, 3.0}}}) {
    SCOPED_TRACE("K=" + std::to_string(e.K) + " P=" + std::to_string(e.P) +
                 " T=" + std::to_string(e.t.size()));
    compare_backends(kSmall, make_plan("tanh", e.K, e.t, e.P));
  }
}

// The power-sum-only plan (power_sum_contractions): neither stage runs, the
// class power sums, class sums and counts are the full pass's.
TEST(CudaVsCpu, PowerSumsOnlyPassEqualsCpu) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  PassPlan plan;
  plan.power_sums_only = true;
  plan.max_power = 6;
  compare_backends(kWide, plan, {0, 37});
}

TEST(CudaVsCpu, ChunkedCudaPassEqualsCpu) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const PassPlan plan = make_plan("softplus", 6, {1.0}, 5);
  compare_backends(kSmall, plan, {1, 37, 100, 299});
  // Class runs longer than one 512-row segment, cut by chunks mid-class.
  compare_backends({{1100, 30, 600}, 19, 40, 0.3}, plan, {700});
}

// The two stages on their own (expand --shard hidden): hidden units split
// over 3 simulated ranks (split_stages.hpp), each with its own CUDA backend,
// rows in blocks that cut the classes (the CUDA rows are in class order),
// and sharded_pass's hidden split on one rank — against the CPU's whole pass,
// at the same tolerance as the whole CUDA pass (the split regroups G's sum
// over units: a few ulps, as the GPU's own summation order does).
TEST(CudaVsCpu, CudaSplitStagesEqualCpuWholePass) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  for (const PassPlan& plan : {make_plan("silu", 8, {0.5, 1.5}, 7), make_plan("tanh", 12, {}, 11)})
    for (const Case& c : {kSmall, kWide}) {
      SCOPED_TRACE("K=" + std::to_string(plan.order) + " H=" + std::to_string(c.H));
      const Dataset data = testing::synthetic_data(c.counts, c.E, 17);
      const Params theta = testing::random_params(data.M, c.H, c.E, c.w_scale, 29);
      auto cpu = make_cpu_backend();
      cpu->upload(data);
      const PassSums want = cpu->run(theta, plan);
      std::vector<std::unique_ptr<ExpansionBackend>> owned;
      std::vector<ExpansionBackend*> ranks;
      for (int r = 0; r < 3; ++r) {
        CudaBackendOptions options;
        options.max_chunk_rows = 64;  // several chunks per block
        owned.push_back(make_cuda_backend(options));
        ranks.push_back(owned.back().get());
      }
      expect_sums_match(want, testing::split_pass_in_one_process(ranks, data, theta, plan, {data.N / 3, data.N}),
                        data.N);
      const auto single = make_single_communicator();
      expect_sums_match(want, sharded_pass(data, theta, plan, "hidden", *owned[0], *single), data.N);
    }
}

// Review R1: the seed's orders (K = 32–64) at its width (H = 2048), where the
// jets cancel most, under one chunk and under chunks that cut the classes
// (N = 362; 100 and 257 rows). Several σ: tanh's odd series and silu's full one.
TEST(CudaVsCpu, CudaPassSumsEqualCpuAtSeedOrdersAndWidth) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const Case seed_width{{97, 64, 121, 80}, 40, 2048, 0.1};
  for (const char* activation : {"silu", "tanh"})
    for (int K : {20, 32, 64}) {
      SCOPED_TRACE(std::string(activation) + " K=" + std::to_string(K));
      compare_backends(seed_width, make_plan(activation, K, {0.5, 1.0}, K - 1), {0, 100, 257});
    }
}

// A run that cannot fit is refused with one line before it allocates (the
// chunk size does not shrink to fit: that would change the sums' bits).
TEST(CudaVsCpu, CudaRefusesAPassThatDoesNotFitInGpuMemory) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const Dataset data = testing::synthetic_data({10000, 10000}, 3, 9);  // A0 alone: 20000·2^20 doubles, 168 GB
  const Params theta = testing::random_params(2, 1 << 20, 3, 0.1, 10);  // H = 2^20
  CudaBackendOptions options;
  options.chunk_bytes = size_t{1} << 40;  // 1 TiB of chunk: more than any GPU holds
  auto gpu = make_cuda_backend(options);
  gpu->upload(data);
  try {
    gpu->run(theta, make_plan("silu", 2, {1.0}, 1));
    ADD_FAILURE() << "a pass needing over a TiB of GPU memory ran";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("GPU memory"), std::string::npos) << e.what();
  }
}

TEST(CudaVsCpu, CudaRunsAreBitwiseReproducible) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const Dataset data = testing::synthetic_data(kSmall.counts, kSmall.E, 5);
  const Params theta = testing::random_params(data.M, kSmall.H, kSmall.E, kSmall.w_scale, 6);
  const PassPlan plan = make_plan("gelu", 10, {0.5, 2.0}, 9);
  auto gpu = make_cuda_backend(0);
  gpu->upload(data);
  const PassSums a = gpu->run(theta, plan);
  const PassSums b = gpu->run(theta, plan);
  auto same_bits = [](const std::vector<double>& x, const std::vector<double>& y) {
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0;
  };
  EXPECT_TRUE(same_bits(a.jet, b.jet));
  EXPECT_TRUE(same_bits(a.direct, b.direct));
  EXPECT_TRUE(same_bits(a.class_power, b.class_power));
  EXPECT_TRUE(same_bits(a.class_sum, b.class_sum));
}

TEST(CudaVsCpu, CudaRefusesMoreThan64Classes) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const std::vector<int64_t> counts(65, 2);
  const Dataset data = testing::synthetic_data(counts, 5, 3);
  const Params theta = testing::random_params(65, 8, 5, 0.3, 4);
  auto gpu = make_cuda_backend(0);
  gpu->upload(data);
  EXPECT_THROW(gpu->run(theta, make_plan("silu", 3, {}, 2)), InputError);
}

TEST(CudaVsCpu, MissingCudaDeviceIsAnInputError) {
  EXPECT_THROW(make_cuda_backend(-1), InputError);
  EXPECT_THROW(make_cuda_backend(1 << 20), InputError);
  std::string why;
  if (!cuda_backend_available(&why)) {
    EXPECT_FALSE(why.empty());
    EXPECT_THROW(make_cuda_backend(0), InputError);
  }
}

}  // namespace
}  // namespace taylorscope
