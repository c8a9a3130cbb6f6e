// Optimizer steps of `train` on the Fashion-MNIST train split at batch 50:
// 784-H-10 SiLU, L2 1e-3, per optimizer, on the CPU and (when present)
// CUDA. One iteration = 100 steps (run_batches over a fixed shuffled order);
// the counter steps_per_s and the ratio to SGD are what RESULTS.md quotes.
// RNGD refreshes its blocks every 100 steps, so each iteration includes one
// refresh, as an epoch does once per 100 steps.
// BM_TrainEpoch: one whole epoch of steps (N/50 = 1200 batches) per
// optimizer at H = 2048 on CUDA, once: the figure docs/gpu.md's device check
// reports beside the PyTorch loops.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "bench_data.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/train_backend.hpp"
#include "taylorscope/training.hpp"

using namespace taylorscope;

namespace {

using bench::train_split;

constexpr int64_t kBatch = 50, kSteps = 100;

void BM_TrainSteps(benchmark::State& state, const std::string& device, OptimizerKind kind) {
  const int64_t H = state.range(0);
  const Dataset& data = train_split();
  std::unique_ptr<TrainBackend> backend;
  try {
    backend = make_train_backend(device);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {}
    return;
  }
  OptimizerConfig cfg;
  cfg.kind = kind;
  cfg.lr = kind == OptimizerKind::adam ? 1e-3 : 0.01;
  cfg.l2 = 1e-3;
  backend->upload(data, data);
  backend->init(init_glorot_uniform(data.M, H, data.E, 0), parse_activation("silu"), cfg);
  backend->set_order(epoch_order(data.N, 0, 1));
  backend->run_batches(0, kSteps, kBatch);  // warm-up: first touch, cuBLAS handles, graph capture
  int64_t first = kSteps;
  for (auto _ : state) {
    if ((first + kSteps) * kBatch > data.N) first = 0;
    backend->run_batches(first, kSteps, kBatch);
    first += kSteps;
  }
  state.counters["steps_per_s"] =
      benchmark::Counter(static_cast<double>(kSteps), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(backend->device_name());
}

void BM_TrainEpoch(benchmark::State& state, const std::string& device, OptimizerKind kind) {
  const int64_t H = state.range(0);
  const Dataset& data = train_split();
  std::unique_ptr<TrainBackend> backend;
  try {
    backend = make_train_backend(device);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {}
    return;
  }
  OptimizerConfig cfg;
  cfg.kind = kind;
  cfg.lr = kind == OptimizerKind::adam ? 1e-3 : 0.01;
  cfg.l2 = 1e-3;
  backend->upload(data, data);
  backend->init(init_glorot_uniform(data.M, H, data.E, 0), parse_activation("silu"), cfg);
  const int64_t batches = (data.N + kBatch - 1) / kBatch;
  backend->set_order(epoch_order(data.N, 0, 1));
  backend->run_batches(0, kSteps, kBatch);  // warm-up: cuBLAS handles, graph capture
  backend->set_order(epoch_order(data.N, 0, 2));
  for (auto _ : state) backend->run_batches(0, batches, kBatch);
  state.counters["steps"] = static_cast<double>(batches);
  state.counters["steps_per_s"] =
      benchmark::Counter(static_cast<double>(batches), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(backend->device_name());
}

void register_all() {
  for (const char* device : {"cpu", "cuda:0"})
    for (OptimizerKind kind : {OptimizerKind::sgd, OptimizerKind::momentum, OptimizerKind::adam,
                               OptimizerKind::rngd}) {
      const std::string name = "BM_TrainSteps/" + std::string(device) + "/" + optimizer_name(kind);
      auto* b = benchmark::RegisterBenchmark(name.c_str(), [device, kind](benchmark::State& s) {
        BM_TrainSteps(s, device, kind);
      });
      b->Arg(256)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();
      if (std::string(device) == "cpu") b->Iterations(3);
    }
  for (OptimizerKind kind : {OptimizerKind::sgd, OptimizerKind::momentum, OptimizerKind::adam, OptimizerKind::rngd}) {
    const std::string name = "BM_TrainEpoch/cuda:0/" + optimizer_name(kind);
    benchmark::RegisterBenchmark(name.c_str(), [kind](benchmark::State& s) { BM_TrainEpoch(s, "cuda:0", kind); })
        ->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
