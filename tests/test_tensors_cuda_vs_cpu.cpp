// The CUDA tensor backend streams the same statistics as the CPU one
// (moment_tensors.hpp): J, T and J∘T for n = 1..4, J alone and T alone,
// uneven and equal class counts, sizes where prefixes batch into one padded
// square and where big tiles are cut into panels; a sweep is bitwise
// reproducible and a replayed histogram equals a recomputed one. Without a
// GPU (or in a build without CUDA) the GPU tests skip with the reason; the
// refusal of a missing device runs everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "test_support.hpp"

namespace taylorscope {
namespace {

using testing::random_params;
using testing::synthetic_data;

#define SKIP_WITHOUT_GPU()                                                     \
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why

// Tolerance 1e-12. The backends differ only in rounding: the tile GEMMs sum
// the same products in other orders (cuBLAS vs OpenBLAS), T's terms are
// grouped as (U_αh·W_hi)·(Π W_hg·W_hj) instead of W_hi·((U_αh·Π W_hg)·W_hj),
// and the moments merge in another tree. An element is a sum of ≤ 10^3
// products, so it moves by ~1e-15 of its terms' scale. Measured on a CPU
// emulation of the CUDA backend (its plan, its GEMM shapes summed in reverse
// order, its merge tree) against the CPU backend at these sizes: min, max,
// std ≤ 3e-15 relative; mean ≤ 2e-16 of the std; skewness and kurtosis
// ≤ 4e-15 relative (J∘T is heavy-tailed: kurtosis up to ~5e3); dot ≤ 1e-16
// of Σ|x|. The floors below are those scales:
//   mean: a centred stream's mean is a cancellation residue, its rounding is
//     relative to the spread (std), not to itself;
//   skewness, kurtosis: dimensionless, relative with floor 1;
//   dot = Σ of J∘T with multiplicities: relative to count·rms ≥ Σ|x|.
// count is exact (integer multiplicities, < 2^53). frac_negative and
// frac_zero are exact: every case has exact zeros (with_zero_feature below), which
// both backends form exactly (sums of products with a factor 0), and a sign
// flips only for a nonzero element within rounding of 0, which these
// continuous random data do not have.
constexpr double kTol = 1e-12;

// A new field of ElementStats must be compared below: this fails to compile
// until it is (review W1: frac_zero was never compared, and was wrong).
static_assert(sizeof(ElementStats) == 11 * sizeof(double) + sizeof(Histogram),
              "ElementStats changed: compare every field in expect_stats_match");

bool near_enough(double cpu, double gpu, double floor = 0) {
  return std::fabs(gpu - cpu) <= kTol * std::max({std::fabs(cpu), std::fabs(gpu), floor});
}

void expect_stats_match(const ElementStats& cpu, const ElementStats& gpu, int n, const std::string& what) {
  EXPECT_EQ(cpu.count, gpu.count) << what;
  if (cpu.count == 0) return;
  const double rms = std::sqrt(cpu.std * cpu.std + cpu.mean * cpu.mean);
  EXPECT_PRED3(near_enough, cpu.min, gpu.min, 0.0) << what << " min";
  EXPECT_PRED3(near_enough, cpu.max, gpu.max, 0.0) << what << " max";
  EXPECT_PRED3(near_enough, cpu.mean, gpu.mean, cpu.std) << what << " mean";
  EXPECT_PRED3(near_enough, cpu.std, gpu.std, 0.0) << what << " std";
  EXPECT_PRED3(near_enough, cpu.skewness, gpu.skewness, 1.0) << what << " skewness";
  EXPECT_PRED3(near_enough, cpu.excess_kurtosis, gpu.excess_kurtosis, 1.0) << what << " excess kurtosis";
  EXPECT_EQ(cpu.frac_negative, gpu.frac_negative) << what;
  EXPECT_EQ(cpu.frac_zero, gpu.frac_zero) << what;
  EXPECT_EQ(cpu.nonfinite, gpu.nonfinite) << what;  // an exact count, 0 for these finite data
  EXPECT_PRED3(near_enough, cpu.sum, gpu.sum, cpu.count * rms) << what << " sum";

  // Histograms: each backend bins over its own [min, max], equal to 1e-12,
  // and its own element values, equal to ~1e-15. An element moves to the next
  // bin only when it lies within that of an edge: expected ~1e-13 elements
  // here, so allow one element (weight ≤ n!) across one edge, no more.
  const std::vector<uint64_t>& a = cpu.histogram.counts;
  const std::vector<uint64_t>& b = gpu.histogram.counts;
  ASSERT_EQ(a.size(), b.size()) << what;
  ASSERT_EQ(gpu.histogram.edges.size(), a.size() + 1) << what;
  uint64_t total_a = 0, total_b = 0, moved = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    total_a += a[k];
    total_b += b[k];
    moved += a[k] > b[k] ? a[k] - b[k] : 0;
  }
  EXPECT_EQ(total_a, total_b) << what;
  double factorial = 1;
  for (int k = 2; k <= n; ++k) factorial *= k;
  EXPECT_LE(static_cast<double>(moved), factorial) << what << ": histogram counts moved between bins";
  for (size_t k = 0; k < gpu.histogram.edges.size(); ++k)
    EXPECT_PRED3(near_enough, cpu.histogram.edges[k], gpu.histogram.edges[k], cpu.max - cpu.min) << what << " edge " << k;
}

struct Case {
  std::string name;
  std::vector<int64_t> counts;  // samples per class
  int64_t E, H;
  double w_scale;
  bool J, T;          // which sources
  int max_order;      // n = 1..max_order (the CPU reference's time bounds it)
};

// Exact zeros in every stream: feature 0 is 0 in every sample, so every J
// element that indexes it is 0; column E−1 of W is 0, so every T element that
// indexes feature E−1 is 0; J∘T is 0 where either is. (Fashion-MNIST's border
// pixels do this to J; a warp reduction that drops the zero count, as W1 did,
// shows at once.)
Dataset with_zero_feature(Dataset d) {
  for (int64_t s = 0; s < d.N; ++s) d.Z[s * d.E] = 0.0;
  return d;
}
Params with_zero_input(Params p) {
  for (int64_t h = 0; h < p.H; ++h) p.W[h * p.E + p.E - 1] = 0.0;
  return p;
}

void compare_backends(const Case& c, int bins = 24) {
  const Dataset data = with_zero_feature(synthetic_data(c.counts, c.E, 101));
  const Params theta = with_zero_input(random_params(data.M, c.H, c.E, c.w_scale, 202));
  const TensorSources sources{c.J ? &data : nullptr, c.T ? &theta : nullptr};
  auto cpu = make_cpu_tensor_backend();
  auto gpu = make_cuda_tensor_backend(0);
  cpu->upload(sources);
  gpu->upload(sources);
  for (int n = 1; n <= c.max_order; ++n) {
    const std::string what = c.name + " n=" + std::to_string(n);
    SCOPED_TRACE(what);
    const TensorStatistics want = tensor_statistics(*cpu, n, bins);
    const TensorStatistics got = tensor_statistics(*gpu, n, bins);
    EXPECT_EQ(got.has_J, c.J);
    EXPECT_EQ(got.has_T, c.T);
    expect_stats_match(want.J, got.J, n, what + " J");
    expect_stats_match(want.T, got.T, n, what + " T");
    expect_stats_match(want.JT, got.JT, n, what + " JT");
    // The data really has exact zeros in each stream that is on.
    if (c.J) EXPECT_GT(want.J.frac_zero, 0) << what;
    if (c.T) EXPECT_GT(want.T.frac_zero, 0) << what;
    const double rms = std::sqrt(want.JT.std * want.JT.std + want.JT.mean * want.JT.mean);
    EXPECT_PRED3(near_enough, want.dot, got.dot, want.JT.count * rms) << what << " dot";
    EXPECT_GT(got.gemm_flops, 0) << what;
    // n = 1 has no padding and no panels: one moments sweep does the same
    // GEMMs as the CPU's.
    if (n == 1) EXPECT_EQ(gpu->sweep(1, nullptr, {}).gemm_flops, cpu->sweep(1, nullptr, {}).gemm_flops) << what;
  }
}

// Uneven classes (every class its own GEMM batch); E not a multiple of the
// 4-column alignment, so squares are padded; n = 3, 4 batch several prefixes
// (up to 4 per square at this E, up to ~70 for n = 4 that share L).
TEST(CudaTensorsVsCpu, UnevenClassesAllOrdersMatchCpu) {
  SKIP_WITHOUT_GPU();
  compare_backends({"uneven", {31, 17, 25, 9}, 13, 11, 0.5, true, true, 4});
}

// Equal class counts: J's classes go as one strided batch.
TEST(CudaTensorsVsCpu, EqualClassesAllOrdersMatchCpu) {
  SKIP_WITHOUT_GPU();
  compare_backends({"equal", {20, 20, 20, 20, 20}, 11, 6, 0.5, true, true, 4});
  compare_backends({"equal runs", {7, 30, 30, 12, 12, 12}, 14, 9, 0.4, true, true, 4});
}

// n = 3 at E = 130: prefixes batch up to 9 to a square (padding c0/16), and
// the squares shrink from 130 to 2 over 30-odd groups.
TEST(CudaTensorsVsCpu, BatchedPrefixesMatchCpu) {
  SKIP_WITHOUT_GPU();
  compare_backends({"batched", std::vector<int64_t>(10, 30), 130, 40, 0.2, true, true, 3});
}

// n = 2 at E = 600 with 10 equal classes: on a GPU with ≥ ~100
// multiprocessors the square is cut into column panels (upper triangle only).
TEST(CudaTensorsVsCpu, PanelledSquaresMatchCpu) {
  SKIP_WITHOUT_GPU();
  compare_backends({"panels", std::vector<int64_t>(10, 30), 600, 64, 0.1, true, true, 2});
}

// The review's smallest case for W1: one warp's worth of J^(2) elements, a
// third of them exactly 0. The tree that dropped `zero` gave lane 0's count
// alone (about 1/32 of the CPU's).
TEST(CudaTensorsVsCpu, FracZeroCountsTheZerosOfEveryLane) {
  SKIP_WITHOUT_GPU();
  const Dataset data = with_zero_feature(synthetic_data({5, 5}, 4, 71));
  auto cpu = make_cpu_tensor_backend();
  auto gpu = make_cuda_tensor_backend(0);
  cpu->upload({&data, nullptr});
  gpu->upload({&data, nullptr});
  const TensorStatistics want = tensor_statistics(*cpu, 2, 8);
  const TensorStatistics got = tensor_statistics(*gpu, 2, 8);
  ASSERT_EQ(want.J.frac_zero, 7.0 / 16.0);  // of the 4×4 elements of a class, 7 index feature 0
  EXPECT_EQ(got.J.frac_zero, want.J.frac_zero);
  expect_stats_match(want.J, got.J, 2, "J");
}

TEST(CudaTensorsVsCpu, EitherSourceAloneMatchesCpu) {
  SKIP_WITHOUT_GPU();
  compare_backends({"J only", {12, 5, 9}, 17, 0, 0.0, true, false, 4});
  compare_backends({"T only", {1, 1, 1}, 15, 300, 0.2, false, true, 4});
}

// Two moments sweeps give the same bits; the histogram sweep that replays the
// moments sweep's cached elements gives the same counts as one that recomputes
// every tile (a histogram sweep without a moments sweep before it).
TEST(CudaTensorsVsCpu, SweepsAreBitwiseReproducibleAndReplayEqualsRecompute) {
  SKIP_WITHOUT_GPU();
  const Dataset data = synthetic_data({23, 14, 19}, 21, 7);
  const Params theta = random_params(3, 17, 21, 0.4, 8);
  const TensorSources sources{&data, &theta};
  auto gpu = make_cuda_tensor_backend(0);
  for (int n = 1; n <= 4; ++n) {
    SCOPED_TRACE("n=" + std::to_string(n));
    gpu->upload(sources);
    const TensorSweep a = gpu->sweep(n, nullptr, {});
    const TensorSweep b = gpu->sweep(n, nullptr, {});
    for (int k = 0; k < 3; ++k)
      EXPECT_EQ(std::memcmp(&a.acc[k], &b.acc[k], sizeof(MomentAccumulator)), 0) << stream_name(k);
    HistogramRange ranges[3];
    for (int k = 0; k < 3; ++k) ranges[k] = histogram_range(finish_stats(b.acc[k]), 32);
    const TensorSweep replayed = gpu->sweep(n, ranges, {});   // after a moments sweep of order n
    const TensorSweep recomputed = gpu->sweep(n, ranges, {});  // the cache served one sweep
    EXPECT_EQ(recomputed.gemm_flops, a.gemm_flops);
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(replayed.histogram[k], recomputed.histogram[k]) << stream_name(k);
      uint64_t total = 0;
      for (uint64_t v : recomputed.histogram[k]) total += v;
      EXPECT_EQ(static_cast<double>(total), a.acc[k].n) << stream_name(k);
    }
  }
}

// What R ranks do under mpirun (tensor_statistics), on one GPU: each share
// of tile_partition swept alone (a plan over that run of the tile order),
// the moments merged in rank order, the histograms over the merged range
// summed. The result matches the CPU's whole sweep as a one-GPU sweep does;
// the element cache serves only the histogram sweep of the tiles it holds.
TEST(CudaTensorsVsCpu, TileSharesMergeToTheCpuStatistics) {
  SKIP_WITHOUT_GPU();
  const Dataset data = with_zero_feature(synthetic_data({23, 14, 19}, 21, 7));
  const Params theta = with_zero_input(random_params(3, 17, 21, 0.4, 8));
  const TensorSources sources{&data, &theta};
  auto cpu = make_cpu_tensor_backend();
  auto gpu = make_cuda_tensor_backend(0);
  cpu->upload(sources);
  gpu->upload(sources);
  ASSERT_EQ(gpu->E(), 21);
  const int bins = 24;
  for (int n = 1; n <= 4; ++n)
    for (int R : {2, 3}) {
      const std::string what = "n=" + std::to_string(n) + " R=" + std::to_string(R);
      SCOPED_TRACE(what);
      const TensorStatistics want = tensor_statistics(*cpu, n, bins);
      TensorSweep moments;
      for (int r = 0; r < R; ++r) {
        const TensorSweep part = gpu->sweep(n, nullptr, {}, tile_share(21, n, r, R));
        for (int k = 0; k < 3; ++k) moments_merge(moments.acc[k], part.acc[k]);
      }
      ElementStats got[3];
      HistogramRange ranges[3];
      for (int k = 0; k < 3; ++k) {
        got[k] = finish_stats(moments.acc[k]);
        ranges[k] = histogram_range(got[k], bins);
        got[k].histogram.counts.assign(bins, 0);
        for (int b = 0; b <= bins; ++b)
          got[k].histogram.edges.push_back(ranges[k].lo + (ranges[k].hi - ranges[k].lo) * b / bins);
      }
      for (int r = 0; r < R; ++r) {  // the cache holds the last share's elements: it serves r = R − 1 only
        const TensorSweep part = gpu->sweep(n, ranges, {}, tile_share(21, n, r, R));
        for (int k = 0; k < 3; ++k)
          for (int b = 0; b < bins; ++b) got[k].histogram.counts[b] += part.histogram[k][b];
      }
      expect_stats_match(want.J, got[kStreamJ], n, what + " J");
      expect_stats_match(want.T, got[kStreamT], n, what + " T");
      expect_stats_match(want.JT, got[kStreamJT], n, what + " JT");
    }
}

TEST(CudaTensorsVsCpu, ProgressCountsEveryPrefixOnce) {
  SKIP_WITHOUT_GPU();
  const Params theta = random_params(2, 9, 40, 0.3, 3);
  auto gpu = make_cuda_tensor_backend(0);
  gpu->upload({nullptr, &theta});
  for (int n = 1; n <= 4; ++n) {
    std::vector<std::pair<int64_t, int64_t>> calls;
    gpu->sweep(n, nullptr, [&](int64_t done, int64_t total) { calls.emplace_back(done, total); });
    const int64_t prefixes = static_cast<int64_t>(tile_prefixes(40, n).size());
    ASSERT_FALSE(calls.empty()) << "n=" << n;
    for (size_t i = 0; i < calls.size(); ++i) {
      EXPECT_EQ(calls[i].second, prefixes) << "n=" << n;
      if (i > 0) EXPECT_GT(calls[i].first, calls[i - 1].first) << "n=" << n;
    }
    EXPECT_EQ(calls.back().first, prefixes) << "n=" << n;
  }
}

TEST(CudaTensorsVsCpu, RefusesWhatTheCpuBackendRefuses) {
  SKIP_WITHOUT_GPU();
  auto gpu = make_cuda_tensor_backend(0);
  EXPECT_THROW(gpu->sweep(2, nullptr, {}), std::logic_error);  // before upload
  const Dataset data = synthetic_data({3, 3}, 4, 61);
  const Params wrong = random_params(2, 3, 5, 0.5, 62);
  EXPECT_THROW(gpu->upload({&data, &wrong}), InputError);
  EXPECT_THROW(gpu->upload({nullptr, nullptr}), InputError);
  Dataset empty_class = synthetic_data({3, 3}, 4, 63);
  empty_class.M = 3;
  count_classes(empty_class);
  EXPECT_THROW(gpu->upload({&empty_class, nullptr}), InputError);
  gpu->upload({&data, nullptr});
  EXPECT_THROW(gpu->sweep(0, nullptr, {}), InputError);
  EXPECT_THROW(gpu->sweep(5, nullptr, {}), InputError);
  HistogramRange unequal[3] = {{0, 1, 4}, {0, 1, 4}, {0, 1, 5}};
  EXPECT_THROW(gpu->sweep(2, unequal, {}), std::invalid_argument);
}

TEST(CudaTensorsVsCpu, MissingCudaDeviceIsAnInputError) {
  EXPECT_THROW(make_cuda_tensor_backend(-1), InputError);
  EXPECT_THROW(make_cuda_tensor_backend(1 << 20), InputError);
  if (std::string why; !cuda_backend_available(&why)) EXPECT_THROW(make_cuda_tensor_backend(0), InputError);
}

}  // namespace
}  // namespace taylorscope
