// The tensor streams of `taylorscope tensors` (moment_tensors.hpp) at the
// sizes of issue 4, with the GEMM FLOP bound beside each time:
//   J3_train:  J^(3) of the whole Fashion-MNIST train split (N = 60000, E = 784);
//   T3_seed:   T^(3) at M = 10, H = 2048, E = 1024 (seed 000's sizes), θ ~ N(0, 0.05²);
//   *_small:   the same streams at sizes the CPU reference finishes in seconds.
// "stats" is what `tensors` does (moments sweep, then histogram sweep);
// "moments" is the first sweep alone. FLOPs are those the tile GEMMs perform,
// as the backend reports them (the CPU computes whole squares; the CUDA
// backend skips most of the lower triangles and, when the elements fit in
// memory, replays them for the histogram sweep instead of recomputing).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "bench_bounds.hpp"
#include "bench_data.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/moment_tensors.hpp"

using namespace taylorscope;

namespace {

enum class Case { J3_train, T3_seed, J3_small, T3_small };
enum class What { stats, moments };

struct Inputs {
  Dataset data;
  Params theta;
  TensorSources sources;
};

const Inputs& inputs(Case c) {
  static Inputs j3_train, t3_seed, j3_small, t3_small;
  static bool ready[4] = {};
  Inputs& in = c == Case::J3_train ? j3_train : c == Case::T3_seed ? t3_seed : c == Case::J3_small ? j3_small : t3_small;
  if (!ready[static_cast<int>(c)]) {
    switch (c) {
      case Case::J3_train: in.data = bench::load_train_split(0); in.sources = {&in.data, nullptr}; break;
      case Case::J3_small: in.data = bench::load_train_split(10); in.sources = {&in.data, nullptr}; break;
      case Case::T3_seed: in.theta = init_gaussian(10, 2048, 1024, 0.05, 0); in.sources = {nullptr, &in.theta}; break;
      case Case::T3_small: in.theta = init_gaussian(10, 256, 256, 0.05, 0); in.sources = {nullptr, &in.theta}; break;
    }
    ready[static_cast<int>(c)] = true;
  }
  return in;
}

void BM_TensorStream(benchmark::State& state, const std::string& device, Case c, What what) {
  std::unique_ptr<TensorBackend> backend;
  try {
    backend = make_tensor_backend(device);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {}
    return;
  }
  const Inputs& in = inputs(c);
  backend->upload(in.sources);  // the transfer is not timed
  double flops = 0;
  ElementStats stream;  // J or T, for checking against the einsum peer
  for (auto _ : state) {
    if (what == What::moments) {
      const TensorSweep s = backend->sweep(3, nullptr, {});
      flops = s.gemm_flops;
      benchmark::DoNotOptimize(s.acc[0].n);
    } else {
      const TensorStatistics s = tensor_statistics(*backend, 3, 64);
      flops = s.gemm_flops;  // both sweeps, as performed
      stream = s.has_J ? s.J : s.T;
    }
  }
  const bool gpu = device != "cpu";
  const double rate = gpu ? bench::nominal_gpu_dgemm_gflops(backend->device_name()) : bench::measured_cpu_dgemm_gflops();
  state.counters["gemm_gflop"] = flops / 1e9;
  state.counters["gemm_bound_ms"] = rate > 0 ? flops / (rate * 1e9) * 1e3 : 0;
  state.counters["dgemm_gflops_used"] = rate;
  const int64_t E = in.sources.data ? in.data.E : in.theta.E;
  state.counters["packed_elements"] = 10 * packed_size(E, 3);
  if (what == What::stats) {
    state.counters["mean"] = stream.mean;
    state.counters["std"] = stream.std;
    state.counters["excess_kurtosis"] = stream.excess_kurtosis;
  }
  state.SetLabel(backend->device_name() + (gpu ? ", bound from nominal FP64 peak" : ", bound from measured DGEMM"));
}

}  // namespace

#define TS_TENSOR_BENCH(name, device, c, what, iters)                                              \
  BENCHMARK_CAPTURE(BM_TensorStream, name, std::string(device), Case::c, What::what)               \
      ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(iters)

TS_TENSOR_BENCH(J3_train_moments_cuda, "cuda:0", J3_train, moments, 3);
TS_TENSOR_BENCH(J3_train_stats_cuda, "cuda:0", J3_train, stats, 3);
TS_TENSOR_BENCH(T3_seed_moments_cuda, "cuda:0", T3_seed, moments, 3);
TS_TENSOR_BENCH(T3_seed_stats_cuda, "cuda:0", T3_seed, stats, 3);
TS_TENSOR_BENCH(J3_small_stats_cuda, "cuda:0", J3_small, stats, 3);
TS_TENSOR_BENCH(T3_small_stats_cuda, "cuda:0", T3_small, stats, 3);
TS_TENSOR_BENCH(J3_small_stats_cpu, "cpu", J3_small, stats, 1);
TS_TENSOR_BENCH(T3_small_stats_cpu, "cpu", T3_small, stats, 1);

BENCHMARK_MAIN();
