// The element statistics of a tile group (tile_statistics.cu), fused with
// forming J: for each packed element e of the group's tiles and each class α,
//   J = Σ_α' S_α'(e)/N − S_α(e)/N_α,  T = T_α(e),  J∘T = J·T,
// into Pébay moments (then the histogram pass over [min, max]). Here one
// order-2 group: the upper triangle of an E×E tile per class, multiplicity 2
// off the diagonal. S and T are random, with exact zeros (row 0 of every S,
// so J is 0 there; column E−1 of every T), the case W1 got wrong.
// Reference: element_stats.hpp's moments_add over the same elements in walk
// order on the CPU. Work: per element and class ~3 Pébay updates (≈40 FLOPs
// each, a division among them); bytes: the upper triangles of S and T read.
#include <cmath>
#include <cstdio>

#include "cuda/harness/harness.cuh"
#include "cuda/tile_plan.hpp"
#include "cuda/tile_statistics.cuh"
#include "taylorscope/element_stats.hpp"

using namespace taylorscope;

namespace {

// The statistics as numbers to compare, each at its own scale: mean over the
// spread, the sum over count·rms, the rest relative; counts exact.
std::vector<double> comparable(const ElementStats& s) {
  const double rms = std::sqrt(s.std * s.std + s.mean * s.mean);
  return {s.count, s.min, s.max, s.mean / (s.std > 0 ? s.std : 1.0), s.std, s.skewness, s.excess_kurtosis,
          s.frac_negative, s.frac_zero, s.sum / (s.count * (rms > 0 ? rms : 1.0))};
}

bool run_case(const harness::Options& o, int E, int M) {
  const int64_t per_tile = static_cast<int64_t>(E) * (E + 1) / 2, tile = static_cast<int64_t>(E) * E;
  std::vector<double> S = harness::random_vector(static_cast<size_t>(M * tile), 1.0, 31);
  std::vector<double> T = harness::random_vector(static_cast<size_t>(M * tile), 1.0, 32);
  std::vector<double> counts(M);
  double N = 0;
  for (int a = 0; a < M; ++a) N += counts[a] = 100.0 + 37.0 * a;
  for (int a = 0; a < M; ++a)
    for (int j = 0; j < E; ++j) {
      S[a * tile + static_cast<int64_t>(j) * E] = 0.0;            // element (0, j)
      T[a * tile + static_cast<int64_t>(E - 1) * E + j] = 0.0;    // column E−1: elements (i, E−1)
    }

  // The reference: every element in walk order (column by column of the
  // upper triangle), every class.
  MomentAccumulator ref[3];
  for (int64_t j = 0; j < E; ++j)
    for (int64_t i = 0; i <= j; ++i) {
      const int64_t off = j * E + i;
      const double w = i == j ? 1.0 : 2.0;
      double all = 0;
      for (int a = 0; a < M; ++a) all += S[a * tile + off];
      for (int a = 0; a < M; ++a) {
        const double J = all / N - S[a * tile + off] / counts[a], t = T[a * tile + off];
        moments_add(ref[kStreamJ], J, w);
        moments_add(ref[kStreamT], t, w);
        moments_add(ref[kStreamJT], J * t, w);
      }
    }

  const cuda::PrefixEntry prefix{0, 0, 0, 0};  // order 2: no prefix
  const int blocks = cuda::tile_statistics_blocks(0);
  double* dS = harness::to_device(S);
  double* dT = harness::to_device(T);
  double* dcount = harness::to_device(counts);
  cuda::PrefixEntry* dprefix = harness::to_device(std::vector<cuda::PrefixEntry>{prefix});
  MomentAccumulator* dslots = harness::device_zeros<MomentAccumulator>(static_cast<size_t>(blocks) * 3);
  cuda::TileStatsArgs a;
  a.n = 2;
  a.M = M;
  a.K = 1;
  a.c0 = E;
  a.ld = E;
  a.L0 = 0;
  a.per_tile = per_tile;
  a.tile_stride = tile;
  a.prefixes = dprefix;
  a.S = dS;
  a.T = dT;
  a.class_count = dcount;
  a.N = N;
  a.on[0] = a.on[1] = a.on[2] = true;
  a.slots = dslots;
  cuda::tile_statistics(a, false, blocks, 0);
  TS_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<MomentAccumulator> slots = harness::to_host(dslots, static_cast<size_t>(blocks) * 3);
  MomentAccumulator got[3];
  for (int b = 0; b < blocks; ++b)
    for (int k = 0; k < 3; ++k) moments_merge(got[k], slots[static_cast<size_t>(b) * 3 + k]);
  bool ok = true;
  for (int k = 0; k < 3; ++k) {
    const std::string what = std::string("moments of ") + stream_name(k);
    // Pébay merges in another tree: ~1e-15 relative (tests/test_tensors_cuda_vs_cpu.cpp measures it);
    // counts and the zero and negative fractions are exact.
    ok &= harness::validate(what.c_str(), comparable(finish_stats(ref[k])), comparable(finish_stats(got[k])), 1e-12, 1e-12);
  }

  // The histogram pass over the reference's range.
  const int bins = 64;
  unsigned long long* dhist = harness::device_zeros<unsigned long long>(3 * bins);
  std::vector<double> hist_want(3 * bins, 0.0);
  for (int k = 0; k < 3; ++k) a.range[k] = histogram_range(finish_stats(ref[k]), bins);
  a.bins = bins;
  a.hist = dhist;
  for (int64_t j = 0; j < E; ++j)
    for (int64_t i = 0; i <= j; ++i) {
      const int64_t off = j * E + i;
      const double w = i == j ? 1.0 : 2.0;
      double all = 0;
      for (int al = 0; al < M; ++al) all += S[al * tile + off];
      for (int al = 0; al < M; ++al) {
        const double J = all / N - S[al * tile + off] / counts[al], t = T[al * tile + off], x[3] = {J, t, J * t};
        for (int k = 0; k < 3; ++k) hist_want[k * bins + histogram_bin(a.range[k], x[k])] += w;
      }
    }
  cuda::tile_statistics(a, true, blocks, 0);
  TS_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<unsigned long long> h = harness::to_host(dhist, 3 * bins);
  // Integer counts of the same values: exact (an element exactly on an edge
  // rounds alike on both: same formula, same inputs).
  ok &= harness::validate("histograms", hist_want, std::vector<double>(h.begin(), h.end()), 0.0, 0.0);

  const double pairs = static_cast<double>(per_tile) * M;
  const double bytes = 8.0 * 2 * pairs;
  const double ms_moments = harness::time_ms(o, [&] {
    TS_CUDA_CHECK(cudaMemsetAsync(dslots, 0, static_cast<size_t>(blocks) * 3 * sizeof(MomentAccumulator), 0));
    cuda::tile_statistics(a, false, blocks, 0);
  });
  const double ms_hist = harness::time_ms(o, [&] { cuda::tile_statistics(a, true, blocks, 0); });
  char size[96];
  std::snprintf(size, sizeof size, "n=2 E=%d M=%d (%.3g pairs)", E, M, pairs);
  harness::report(o, "tile_statistics moments", size, ok, ms_moments, bytes, pairs * 3 * 40);
  harness::report(o, "tile_statistics histogram", size, ok, ms_hist, bytes, pairs * 3 * 4);
  for (void* p : {static_cast<void*>(dS), static_cast<void*>(dT), static_cast<void*>(dcount),
                  static_cast<void*>(dprefix), static_cast<void*>(dslots), static_cast<void*>(dhist)})
    TS_CUDA_CHECK(cudaFree(p));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const harness::Options o = harness::parse(argc, argv);
  harness::require_gpu_or_exit("harness_tile_statistics");
  bool ok = run_case(o, o.quick ? 256 : 1536, 10);
  ok &= run_case(o, 37, 3);  // fewer elements than threads: idle lanes in the trees
  return ok ? 0 : 1;
}
