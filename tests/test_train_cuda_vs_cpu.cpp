// The CUDA training backend takes the same steps as the CPU backend: the
// same evaluation (loss, accuracy, full-data gradient), the same parameters
// and optimizer state after a run of run_batches() and step() calls — full
// batches replayed from a CUDA graph, short tail batches, RNGD refreshes
// every 3 steps, one of them on a 1-row tail — for every optimizer and
// several activations; and a restored checkpoint resumes the same run. The
// graph must really run (a failed capture is an error here, and the steps
// replayed from it are counted), and replaying it takes exactly the steps
// that launching the same kernels one by one takes.
// Without a GPU (or in a build without CUDA) the GPU tests skip with the
// reason; the refusal test runs everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "taylorscope/communicator.hpp"
#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/train_backend.hpp"
#include "test_support.hpp"

namespace taylorscope {
namespace {

constexpr int64_t kE = 12, kH = 9, kBatch = 8;

// Tolerance: |gpu − cpu| ≤ 1e-9 · max(|cpu|, floor), floor = 1e-4 · max |cpu|
// over the array. The backends differ only in rounding (cuBLAS and BLAS sum
// in other orders, device exp/pow/tanh differ from glibc's by an ulp or two,
// nvcc contracts a·b + c into FMAs), and a run of 27 steps carries those
// differences forward. Every array is built from terms at the scale of its
// largest entries, so an entry far below that scale (a bias passing through
// 0, a cancelling gradient component, a tiny softmax probability) keeps the
// absolute rounding of those terms and cannot be held to a relative
// tolerance; 1e-13 of the array's scale is still far below any real error
// (a wrong index, a missing term or a step taken twice shows at O(1)).
// Measured two ways, both over 300× inside the tolerance: on the CPU with θ
// perturbed by 1e-15 relative (what rounding does to a step), θ, gradients
// and optimizer states after this schedule move by ≤ 3e-12; and this file
// run against a host emulation of the CUDA backend (its kernels and call
// sequence on the CPU, GEMMs summed in another order than BLAS) passes
// with the tolerance at 3e-12.
void expect_close(const std::vector<double>& cpu, const std::vector<double>& gpu, const std::string& what) {
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  double scale = 0.0;
  for (double v : cpu) scale = std::max(scale, std::fabs(v));
  const double floor = 1e-4 * scale;
  for (size_t i = 0; i < cpu.size(); ++i) {
    ASSERT_TRUE(std::isfinite(cpu[i])) << what << "[" << i << "] is not finite on the CPU";
    EXPECT_LE(std::fabs(gpu[i] - cpu[i]), 1e-9 * std::max(std::fabs(cpu[i]), floor))
        << what << "[" << i << "]: cpu " << cpu[i] << ", gpu " << gpu[i];
  }
}

void expect_states_close(const OptimizerState& cpu, const OptimizerState& gpu) {
  EXPECT_EQ(cpu.step, gpu.step);
  ASSERT_EQ(cpu.arrays.size(), gpu.arrays.size());
  for (size_t k = 0; k < cpu.arrays.size(); ++k) {
    EXPECT_EQ(cpu.arrays[k].first, gpu.arrays[k].first);
    expect_close(cpu.arrays[k].second, gpu.arrays[k].second, "state " + cpu.arrays[k].first);
  }
}

// Loss and accuracy, and the gradient over each split.
void expect_evaluations_close(TrainBackend& cpu, TrainBackend& gpu) {
  for (Split split : {Split::train, Split::eval}) {
    SCOPED_TRACE(split == Split::train ? "train split" : "eval split");
    std::vector<double> gc, gg;
    const SplitMetrics mc = cpu.evaluate(split, &gc);
    const SplitMetrics mg = gpu.evaluate(split, &gg);
    EXPECT_LE(std::fabs(mg.loss - mc.loss), 1e-9 * std::fabs(mc.loss))
        << "cpu " << mc.loss << ", gpu " << mg.loss;
    // Counts of argmax hits: equal unless two logits tie to rounding.
    EXPECT_EQ(mc.accuracy, mg.accuracy);
    expect_close(gc, gg, "gradient");
    const SplitMetrics without = gpu.evaluate(split, nullptr);
    EXPECT_EQ(without.loss, mg.loss);
  }
}

struct Problem {
  Dataset train, eval;
  Params theta;
};

// N = 97 train rows: batches of 8 leave a 1-row tail.
Problem make_problem(const std::vector<int64_t>& train_counts = {20, 19, 20, 19, 19}) {
  Problem p;
  p.train = testing::synthetic_data(train_counts, kE, 7);
  p.eval = testing::synthetic_data({8, 8, 8, 8, 8}, kE, 8);
  p.theta = testing::random_params(p.train.M, kH, kE, 0.3, 9);
  return p;
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

OptimizerConfig make_config(const std::string& optimizer) {
  OptimizerConfig cfg;
  cfg.kind = parse_optimizer(optimizer);
  cfg.lr = 0.05;
  cfg.l2 = 1e-3;
  cfg.rngd_period = 3;
  if (cfg.kind == OptimizerKind::adam) cfg.lr = 0.01;
  // RNGD steps by up to lr/λ times the gradient: these keep 27 steps on this
  // tiny problem stable (λ = 0.005 with lr = 0.05 diverges, and a diverging
  // run amplifies rounding past any tolerance).
  if (cfg.kind == OptimizerKind::rngd) {
    cfg.lr = 0.02;
    cfg.rngd_damping = 0.05;
  }
  return cfg;
}

// A CUDA backend whose full batches must replay a captured graph: a capture
// that fails throws instead of falling back to eager steps unseen.
std::unique_ptr<TrainBackend> graphed_cuda(CudaTrainCounters* counters = nullptr) {
  CudaTrainOptions options;
  options.graphs = CudaGraphs::required;
  options.counters = counters;
  return make_cuda_train_backend(options);
}

std::unique_ptr<TrainBackend> started(std::unique_ptr<TrainBackend> backend, const Problem& p,
                                      const std::string& activation, const OptimizerConfig& cfg) {
  backend->upload(p.train, p.eval);
  backend->init(p.theta, parse_activation(activation), cfg);
  return backend;
}

// Epoch 1 in two slices (steps 0–12; batch 12 is the 1-row tail, at step 12
// an RNGD refresh), a direct step on 11 rows, epoch 2 in one slice.
void first_part(TrainBackend& b) {
  b.set_order(permutation(97, 1));
  b.run_batches(0, 5, kBatch);
  b.run_batches(5, 8, kBatch);
  b.step({3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46});
}
void second_part(TrainBackend& b) {
  b.set_order(permutation(97, 2));
  b.run_batches(0, 13, kBatch);
}

TEST(TrainCudaVsCpu, RefusesMissingDevices) {
  EXPECT_THROW(make_cuda_train_backend(-1), InputError);
  EXPECT_THROW(make_cuda_train_backend(1 << 20), InputError);
  CudaTrainOptions options;  // the factory with options refuses alike, in every build
  options.device = -1;
  EXPECT_THROW(make_cuda_train_backend(options), InputError);
  if (std::string why; !cuda_backend_available(&why)) {
    options.device = 0;
    EXPECT_THROW(make_cuda_train_backend(options), InputError);
  }
}

TEST(TrainCudaVsCpu, UploadRefusesMismatchedSets) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const Dataset train = testing::synthetic_data({5, 5}, 4, 1);
  const Dataset eval = testing::synthetic_data({5, 5}, 3, 2);
  EXPECT_THROW(make_cuda_train_backend(0)->upload(train, eval), InputError);
  EXPECT_NE(make_cuda_train_backend(0)->device_name().find("cuda:0"), std::string::npos);
}

class TrainCudaVsCpuActivation : public ::testing::TestWithParam<std::string> {};

// Forward and backward alone: 6100 train rows make two evaluation chunks.
TEST_P(TrainCudaVsCpuActivation, EvaluationEqualsCpu) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const Problem p = make_problem({1500, 1400, 1300, 1000, 900});
  const OptimizerConfig cfg = make_config("sgd");
  auto cpu = started(make_cpu_train_backend(), p, GetParam(), cfg);
  auto gpu = started(make_cuda_train_backend(0), p, GetParam(), cfg);
  expect_close(cpu->flat_params(), gpu->flat_params(), "initial θ");
  expect_evaluations_close(*cpu, *gpu);
}

INSTANTIATE_TEST_SUITE_P(Activations, TrainCudaVsCpuActivation,
                         ::testing::Values("silu", "tanh", "relu", "gelu", "sigmoid", "softplus"),
                         [](const auto& info) { return info.param; });

class TrainCudaVsCpuRun : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(TrainCudaVsCpuRun, StepsEqualCpu) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const auto& [optimizer, activation] = GetParam();
  const Problem p = make_problem();
  const OptimizerConfig cfg = make_config(optimizer);
  CudaTrainCounters ran;
  auto cpu = started(make_cpu_train_backend(), p, activation, cfg);
  auto gpu = started(graphed_cuda(&ran), p, activation, cfg);
  first_part(*cpu);
  first_part(*gpu);
  {
    SCOPED_TRACE("between the parts");  // evaluation reuses the step's buffers
    expect_evaluations_close(*cpu, *gpu);
  }
  second_part(*cpu);
  second_part(*gpu);
  expect_close(cpu->flat_params(), gpu->flat_params(), "θ");
  expect_states_close(cpu->optimizer_state(), gpu->optimizer_state());
  expect_evaluations_close(*cpu, *gpu);
  // The comparison above covered replayed steps, not only eager ones.
  EXPECT_GT(ran.captures, 0);
  EXPECT_GT(ran.graph_steps, 0);
}

INSTANTIATE_TEST_SUITE_P(OptimizersAndActivations, TrainCudaVsCpuRun,
                         ::testing::Combine(::testing::Values("sgd", "momentum", "adam", "rngd"),
                                            ::testing::Values("silu", "tanh", "relu", "gelu")),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

// A wider net, so that the kernels run several blocks (H = 70 columns of
// sums, 50-row batches, a BM = 500 output system) and the tail has 33 rows.
TEST(TrainCudaVsCpu, WideNetStepsEqualCpu) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  Problem p;
  p.train = testing::synthetic_data({40, 35, 30, 35, 30, 33, 30, 40, 30, 30}, 37, 11);  // N = 333
  p.eval = testing::synthetic_data({6, 6, 6, 6, 6, 6, 6, 6, 6, 6}, 37, 12);
  p.theta = testing::random_params(10, 70, 37, 0.15, 13);
  for (const std::string optimizer : {"sgd", "momentum", "adam", "rngd"}) {
    SCOPED_TRACE(optimizer);
    const OptimizerConfig cfg = make_config(optimizer);
    auto cpu = started(make_cpu_train_backend(), p, "silu", cfg);
    auto gpu = started(make_cuda_train_backend(0), p, "silu", cfg);
    for (TrainBackend* b : {cpu.get(), gpu.get()}) {
      b->set_order(permutation(333, 3));
      b->run_batches(0, 7, 50);  // steps 0–6, the last on the 33-row tail
      b->set_order(permutation(333, 4));
      b->run_batches(0, 7, 50);
    }
    expect_close(cpu->flat_params(), gpu->flat_params(), "θ");
    expect_states_close(cpu->optimizer_state(), gpu->optimizer_state());
    expect_evaluations_close(*cpu, *gpu);
  }
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

// Review R2: a step replayed from the CUDA graph is the eager step, bit for
// bit — the same kernels and GEMMs on the same buffers, so no rounding may
// differ. The schedule mixes replayed full batches, eager tails, RNGD
// refreshes and direct steps; one backend replays, the other never captures.
TEST(TrainCudaVsCpu, GraphReplayEqualsEagerStepsBitwise) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const Problem p = make_problem();
  for (const std::string optimizer : {"sgd", "momentum", "adam", "rngd"}) {
    SCOPED_TRACE(optimizer);
    const OptimizerConfig cfg = make_config(optimizer);
    CudaTrainCounters graphed_ran, eager_ran;
    auto graphed = started(graphed_cuda(&graphed_ran), p, "gelu", cfg);
    CudaTrainOptions eager_options;
    eager_options.graphs = CudaGraphs::off;
    eager_options.counters = &eager_ran;
    auto eager = started(make_cuda_train_backend(eager_options), p, "gelu", cfg);
    for (TrainBackend* b : {graphed.get(), eager.get()}) {
      first_part(*b);
      second_part(*b);
    }
    EXPECT_GT(graphed_ran.graph_steps, 0);
    EXPECT_EQ(eager_ran.graph_steps, 0);
    EXPECT_EQ(eager_ran.captures, 0);
    // Every step ran once, one way or the other: 13 + 1 + 13 per backend.
    EXPECT_EQ(graphed_ran.graph_steps + graphed_ran.eager_steps, 27);
    EXPECT_EQ(eager_ran.eager_steps, 27);
    EXPECT_TRUE(same_bits(graphed->flat_params(), eager->flat_params())) << "θ";
    const OptimizerState a = graphed->optimizer_state(), b = eager->optimizer_state();
    EXPECT_EQ(a.step, b.step);
    ASSERT_EQ(a.arrays.size(), b.arrays.size());
    for (size_t k = 0; k < a.arrays.size(); ++k)
      EXPECT_TRUE(same_bits(a.arrays[k].second, b.arrays[k].second)) << a.arrays[k].first;
  }
}

// The data-parallel path on one GPU (issue 10): rows "sharded" over one
// rank, the gradient all-reduced through NCCL inside the captured graph when
// the build has NCCL (the host communicator otherwise). One rank's share is
// the whole batch and a one-rank rank-order sum is a copy, so every step is
// the plain path's arithmetic: θ and the state must match it bit for bit.
// RNGD's refresh on this path recomputes the batch's forward pass before the
// sharded one; the same kernels on the same rows, so bits again — if that
// ever changes, this is the test that says so. RNGD's step is the exception:
// the plain path moves W without forming ∇W (step_without_grad_w, the CPU's
// scheme), the data-parallel one preconditions the all-reduced gradient,
// so the two agree to rounding (expect_close's tolerance), not in bits.
TEST(TrainCudaVsCpu, OneRankDataParallelPathEqualsThePlainPath) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const bool nccl = nccl_available(nullptr);
  const Problem p = make_problem();
  auto one_rank = make_single_communicator();
  for (const std::string optimizer : {"sgd", "momentum", "adam", "rngd"}) {
    SCOPED_TRACE(optimizer);
    const OptimizerConfig cfg = make_config(optimizer);
    CudaTrainCounters ran;
    CudaTrainOptions options;
    options.comm = one_rank.get();
    options.data_parallel_path = true;
    // With NCCL the all-reduce must be captured; without, steps are eager.
    options.graphs = nccl ? CudaGraphs::required : CudaGraphs::use;
    options.counters = &ran;
    auto parallel = started(make_cuda_train_backend(options), p, "gelu", cfg);
    auto plain = started(graphed_cuda(), p, "gelu", cfg);
    for (TrainBackend* b : {parallel.get(), plain.get()}) {
      first_part(*b);
      second_part(*b);
    }
    if (nccl) EXPECT_GT(ran.graph_steps, 0) << "no step replayed the graph with NCCL's all-reduce in it";
    if (optimizer == "rngd") {
      expect_close(plain->flat_params(), parallel->flat_params(), "θ");
      expect_states_close(plain->optimizer_state(), parallel->optimizer_state());
      expect_evaluations_close(*plain, *parallel);
      continue;
    }
    EXPECT_TRUE(same_bits(parallel->flat_params(), plain->flat_params())) << "θ";
    const OptimizerState a = parallel->optimizer_state(), b = plain->optimizer_state();
    ASSERT_EQ(a.arrays.size(), b.arrays.size());
    for (size_t k = 0; k < a.arrays.size(); ++k)
      EXPECT_TRUE(same_bits(a.arrays[k].second, b.arrays[k].second)) << a.arrays[k].first;
    std::vector<double> ga, gb;
    const SplitMetrics ma = parallel->evaluate(Split::eval, &ga), mb = plain->evaluate(Split::eval, &gb);
    EXPECT_EQ(ma.loss, mb.loss);
    EXPECT_TRUE(same_bits(ga, gb)) << "∇S_E";
  }
}

// Review R3: RNGD's blocks grow as H·B² (and (B·M)²). A batch whose blocks
// cannot fit on the GPU is refused with one line before its first step,
// not in cudaMalloc halfway through a refresh: B = 4096 at H = 2048 needs
// 2048·4096² doubles, 275 GB.
TEST(TrainCudaVsCpu, RngdRefusesABatchWhoseBlocksExceedGpuMemory) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  Problem p;
  p.train = testing::synthetic_data(std::vector<int64_t>(10, 410), 4, 21);  // N = 4100
  p.eval = testing::synthetic_data(std::vector<int64_t>(10, 2), 4, 22);
  p.theta = testing::random_params(10, 2048, 4, 0.1, 23);
  auto gpu = started(make_cuda_train_backend(0), p, "silu", make_config("rngd"));
  gpu->set_order(permutation(4100, 5));
  const std::vector<double> before = gpu->flat_params();
  try {
    gpu->run_batches(0, 1, 4096);
    ADD_FAILURE() << "RNGD ran a batch whose blocks need 275 GB";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--batch"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  EXPECT_TRUE(same_bits(before, gpu->flat_params())) << "a refused batch changed θ";
  gpu->run_batches(0, 2, 64);  // a batch that fits still runs
}

class TrainCudaVsCpuRestore : public ::testing::TestWithParam<std::string> {};

// A checkpoint taken after the first part, restored into a fresh CUDA
// backend, resumes the run: the second part ends where the uninterrupted
// run does. The same from a CPU checkpoint, against the CPU's own run.
TEST_P(TrainCudaVsCpuRestore, RestoredCheckpointResumesTheRun) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const Problem p = make_problem();
  const OptimizerConfig cfg = make_config(GetParam());
  for (bool from_cpu : {false, true}) {
    SCOPED_TRACE(from_cpu ? "checkpoint from the CPU" : "checkpoint from CUDA");
    auto whole = from_cpu ? started(make_cpu_train_backend(), p, "tanh", cfg)
                          : started(make_cuda_train_backend(0), p, "tanh", cfg);
    first_part(*whole);
    const std::vector<double> theta = whole->flat_params();
    const OptimizerState state = whole->optimizer_state();
    second_part(*whole);

    auto resumed = started(make_cuda_train_backend(0), p, "tanh", cfg);
    resumed->restore(theta, state);
    expect_close(theta, resumed->flat_params(), "restored θ");
    expect_states_close(state, resumed->optimizer_state());
    second_part(*resumed);
    expect_close(whole->flat_params(), resumed->flat_params(), "θ after resuming");
    expect_states_close(whole->optimizer_state(), resumed->optimizer_state());
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TrainCudaVsCpuRestore,
                         ::testing::Values("sgd", "momentum", "adam", "rngd"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace taylorscope
