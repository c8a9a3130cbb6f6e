// `expand`'s one pass on the full Fashion-MNIST train split (N = 60000,
// E = 784), H ∈ {256, 2048}, K = 8 (and on CUDA H = 2048, K = 32: the
// seed's order), on the CPU and (when present) CUDA, with
// the GEMM's FLOP bound beside each time: the pass cannot beat the time its
// A0 = Z Wᵀ GEMM (2·N·H·E flops) takes at the device's DGEMM rate
// (bench_bounds.hpp).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <vector>
#include <memory>
#include <string>

#include "bench_bounds.hpp"
#include "bench_data.hpp"
#include "cpu/blas.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/expansion.hpp"

using namespace taylorscope;

namespace {

using bench::measured_cpu_dgemm_gflops;
using bench::nominal_gpu_dgemm_gflops;
using bench::train_split;

void BM_ExpandPass(benchmark::State& state, const std::string& device) {
  const int64_t H = state.range(0);
  const int K = static_cast<int>(state.range(1));
  const Dataset& data = train_split();
  std::unique_ptr<ExpansionBackend> backend;
  try {
    backend = make_backend(device);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {}
    return;
  }
  const Params theta = init_gaussian(data.M, H, data.E, 0.05, 0);
  const Activation act = parse_activation("silu");
  PassPlan plan;
  plan.act = act;
  plan.order = K;
  plan.taylor = activation_taylor(act, K + 1);
  plan.max_power = K - 1;
  plan.t_values = ExpansionOptions{}.t_values;
  backend->upload(data);  // "after upload": the transfer is not timed
  backend->run(theta, plan);  // warm-up (cuBLAS handles, first-touch pages)
  for (auto _ : state) {
    const PassSums s = backend->run(theta, plan);
    benchmark::DoNotOptimize(s.jet.data());
  }
  const double flops = 2.0 * data.N * H * data.E;
  const bool gpu = device != "cpu";
  const double rate = gpu ? nominal_gpu_dgemm_gflops(backend->device_name()) : measured_cpu_dgemm_gflops();
  state.counters["gemm_gflop"] = flops / 1e9;
  state.counters["gemm_bound_ms"] = rate > 0 ? flops / (rate * 1e9) * 1e3 : 0;
  state.counters["dgemm_gflops_used"] = rate;
  state.SetLabel(backend->device_name() + (gpu ? ", bound from nominal FP64 peak" : ", bound from measured DGEMM"));
}

// The pass's first GEMM alone, A0 = Z Wᵀ on the same data and shapes, done
// the way a plain caller would: OpenBLAS with its own threads, rows in
// chunks of 8192 (a 60000×H result would be 1 GB at H = 2048). The target
// of issue 11 is the pass against this, measured in the same run
// (bench/compare-jax runs it every round).
void BM_FirstGemm(benchmark::State& state) {
  const int64_t H = state.range(0);
  const Dataset& data = train_split();
  const Params theta = init_gaussian(data.M, H, data.E, 0.05, 0);
  constexpr int64_t kChunk = 8192;
  std::vector<double> A0(static_cast<size_t>(kChunk) * H);
  const auto gemm = [&] {
    for (int64_t r0 = 0; r0 < data.N; r0 += kChunk)
      cpu::gemm_abt(std::min(kChunk, data.N - r0), H, data.E, data.row(r0), theta.W.data(), A0.data());
  };
  gemm();  // warm-up: first-touch pages, BLAS's thread pool
  for (auto _ : state) {
    gemm();
    benchmark::DoNotOptimize(A0.data());
  }
  const double flops = 2.0 * data.N * H * data.E;
  state.counters["gemm_gflop"] = flops / 1e9;
  state.counters["gflops"] = benchmark::Counter(flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel("cpu, OpenBLAS threads, 8192-row chunks");
}

}  // namespace

// Arguments: H, K.
BENCHMARK_CAPTURE(BM_ExpandPass, cpu, std::string("cpu"))
    ->Args({256, 8})->Args({2048, 8})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK_CAPTURE(BM_ExpandPass, cuda, std::string("cuda:0"))
    ->Args({256, 8})->Args({2048, 8})->Args({2048, 32})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

// Argument: H.
BENCHMARK(BM_FirstGemm)->Arg(256)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

BENCHMARK_MAIN();
