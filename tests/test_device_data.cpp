// A data set whose values are in a GPU's memory (a CUDA tensor handed to the
// Python package's expand(), docs/python.md): only the CUDA expansion
// backend of that device reads it, the finite check runs on the device with
// the host's message, and the pass sees the same sorted rows, so the same
// bits, as when the rows come from the host. The refusals run everywhere (a
// device pointer that is never dereferenced); the GPU tests skip without a
// GPU, with the reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "input_error.hpp"
#include "taylorscope/activation.hpp"
#include "taylorscope/checksum.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/data_values.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/finite_values.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/tensor_run.hpp"
#include "taylorscope/train_backend.hpp"
#include "taylorscope/training.hpp"
#include "test_support.hpp"

#if TS_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace taylorscope {
namespace {

// A device address for the refusals: never dereferenced, so any value does.
const double* const kNowhere = reinterpret_cast<const double*>(uintptr_t{0x1000});

Dataset device_shaped(int device) {
  Dataset d = testing::synthetic_data({3, 4}, 5, 1);
  d.Z = DataValues::borrow_on_device(kNowhere, static_cast<size_t>(d.N * d.E), device);
  return d;
}

TEST(DeviceData, IsNeverReadOnTheHost) {
  const DataValues v = DataValues::borrow_on_device(kNowhere, 12, 1);
  EXPECT_TRUE(v.on_device());
  EXPECT_TRUE(v.borrowed());
  EXPECT_EQ(v.device(), 1);
  EXPECT_EQ(v.size(), 12u);
  EXPECT_EQ(v.device_data(), kNowhere);
  EXPECT_THROW((void)v.data(), std::logic_error);
  EXPECT_THROW((void)v[0], std::logic_error);
  EXPECT_THROW((void)DataValues::borrow_on_device(kNowhere, 12, -1), std::logic_error);
  const DataValues host = DataValues::borrow(kNowhere, 12);
  EXPECT_FALSE(host.on_device());
  EXPECT_EQ(host.device(), -1);
  EXPECT_THROW((void)host.device_data(), std::logic_error);
  // Assigning owned values makes it a host array again.
  DataValues w = v;
  w = std::vector<double>{1.0, 2.0};
  EXPECT_FALSE(w.on_device());
  EXPECT_EQ(w[1], 2.0);
}

TEST(DeviceData, TheCpuBackendRefusesItWithOneLine) {
  const Dataset d = device_shaped(0);
  auto cpu = make_cpu_backend();
  const std::string message = testing::input_error([&] { cpu->upload(d); });
  EXPECT_NE(message.find("synthetic: the values are in the memory of cuda:0, which the cpu"), std::string::npos)
      << message;
  EXPECT_NE(message.find("run on cuda:0 or copy them to the host"), std::string::npos) << message;
  // Refused before anything was kept: a run now is a run before upload.
  EXPECT_THROW(cpu->run(testing::random_params(2, 3, 5, 0.1, 2), PassPlan{}), std::logic_error);
}

TEST(DeviceData, TheCpuTensorAndTrainingBackendsRefuseItWithOneLine) {
  const Dataset d = device_shaped(0);
  const Dataset host = testing::synthetic_data({3, 4}, 5, 1);
  TensorSources src;
  src.data = &d;
  auto tensors = make_cpu_tensor_backend();
  std::string message = testing::input_error([&] { tensors->upload(src); });
  EXPECT_NE(message.find("synthetic: the values are in the memory of cuda:0, which the cpu"), std::string::npos)
      << message;
  auto training = make_cpu_train_backend();
  for (const auto& [tr, ev] : {std::pair{&d, &host}, std::pair{&host, &d}}) {
    message = testing::input_error([&] { training->upload(*tr, *ev); });
    EXPECT_NE(message.find("the values are in the memory of cuda:0, which the cpu (BLAS) backend"), std::string::npos)
        << message;
  }
}

TEST(DeviceData, IsRefusedUnderRowAndHiddenShards) {
  const Dataset d = device_shaped(0);
  const Params theta = testing::random_params(d.M, 3, d.E, 0.1, 2);
  PassPlan plan;
  plan.power_sums_only = true;
  plan.max_power = 2;
  auto cpu = make_cpu_backend();
  for (const char* shard : {"rows", "hidden"}) {
    const std::string message =
        testing::input_error([&] { sharded_pass(d, theta, plan, shard, *cpu, world()); });
    EXPECT_NE(message.find("values in a GPU's memory are expanded by one process"), std::string::npos)
        << shard << ": " << message;
  }
}

TEST(DeviceData, NeedsAGpuToBeChecked) {
  if (cuda_backend_available(nullptr)) GTEST_SKIP() << "a GPU is visible: the GPU tests below cover this path";
  // Without a usable GPU the finite check cannot run: an InputError naming
  // why, never a host read of a device address.
  const std::vector<int64_t> y = {0, 1};
  const std::string message =
      testing::input_error([&] { dataset_from_arrays("probe", kNowhere, 2, 3, y.data(), 2, 0, {}, 0); });
  EXPECT_TRUE(message.find("CUDA") != std::string::npos || message.find("cuda") != std::string::npos) << message;
  EXPECT_EQ(message.find("WRONG EXCEPTION"), std::string::npos) << message;
  // Nor can a training run's checksum of them.
  Dataset d = device_shaped(0);
  const std::string checksum = testing::input_error([&] { fingerprint_arrays(d); });
  EXPECT_TRUE(checksum.find("CUDA") != std::string::npos || checksum.find("cuda") != std::string::npos) << checksum;
  EXPECT_EQ(checksum.find("WRONG EXCEPTION"), std::string::npos) << checksum;
}

TEST(DeviceData, ChecksumInChunksIsTheWholesChecksum) {
  std::vector<char> bytes(10000);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  uint32_t crc = crc32_of(nullptr, 0);
  for (size_t at = 0; at < bytes.size(); at += 999)
    crc = crc32_continue(crc, bytes.data() + at, std::min<size_t>(999, bytes.size() - at));
  EXPECT_EQ(crc, crc32_of(bytes.data(), bytes.size()));
}

TEST(DeviceData, FiniteTestIsTheExponentTest) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  for (double x : {0.0, -0.0, 1.0, -3.5, std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
                   std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::min()})
    EXPECT_TRUE(is_finite_value(x)) << x;
  for (double x : {inf, -inf, std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::quiet_NaN(),
                   std::numeric_limits<double>::signaling_NaN()})
    EXPECT_FALSE(is_finite_value(x)) << x;
  const std::vector<double> v = {1.0, inf, 2.0, std::nan(""), -inf};
  EXPECT_EQ(count_nonfinite(v.data(), v.size()), 3);
}

#if TS_HAVE_CUDA

// Z of `d` copied into device memory, freed with the object.
class OnDevice {
 public:
  explicit OnDevice(const std::vector<double>& host) : n_(host.size()) {
    if (cudaMalloc(&p_, n_ * sizeof(double)) != cudaSuccess) throw std::runtime_error("cudaMalloc");
    if (cudaMemcpy(p_, host.data(), n_ * sizeof(double), cudaMemcpyHostToDevice) != cudaSuccess)
      throw std::runtime_error("cudaMemcpy");
  }
  ~OnDevice() { cudaFree(p_); }
  OnDevice(const OnDevice&) = delete;
  OnDevice& operator=(const OnDevice&) = delete;
  const double* get() const { return p_; }

 private:
  double* p_ = nullptr;
  size_t n_;
};

std::vector<double> host_values(const Dataset& d) { return {d.Z.begin(), d.Z.end()}; }

Dataset on_device(const Dataset& d, const OnDevice& z) {
  const std::vector<int64_t> y(d.labels.begin(), d.labels.end());
  return dataset_from_arrays(d.spec, z.get(), d.N, d.E, y.data(), d.N, d.M, {}, 0);
}

// The rows of `d` in class order (what the CUDA backend's sort gives).
Dataset class_sorted(const Dataset& d) {
  std::vector<int64_t> order(static_cast<size_t>(d.N));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return d.labels[a] < d.labels[b]; });
  Dataset s = d;
  std::vector<double> z;
  for (int64_t r : order) z.insert(z.end(), d.row(r), d.row(r) + d.E);
  s.Z = std::move(z);
  for (size_t r = 0; r < order.size(); ++r) s.labels[r] = d.labels[static_cast<size_t>(order[r])];
  return s;
}

void expect_same_bits(const PassSums& a, const PassSums& b) {
  EXPECT_EQ(a.jet, b.jet);
  EXPECT_EQ(a.direct, b.direct);
  EXPECT_EQ(a.class_power, b.class_power);
  EXPECT_EQ(a.class_sum, b.class_sum);
  EXPECT_EQ(a.class_count, b.class_count);
}

TEST(DeviceDataGpu, NonFiniteValuesAreCountedOnTheDeviceWithTheHostsMessage) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  Dataset d = testing::synthetic_data({40, 33, 27}, 19, 5);
  std::vector<double> z = host_values(d);
  ASSERT_EQ(count_nonfinite_on_device(OnDevice(z).get(), z.size(), 0), 0);
  z[7] = std::nan("");
  z[300] = std::numeric_limits<double>::infinity();
  z[z.size() - 1] = -std::numeric_limits<double>::infinity();
  const OnDevice bad(z);
  EXPECT_EQ(count_nonfinite_on_device(bad.get(), z.size(), 0), 3);
  const std::vector<int64_t> y(d.labels.begin(), d.labels.end());
  const std::string on_gpu = testing::input_error(
      [&] { dataset_from_arrays("probe", bad.get(), d.N, d.E, y.data(), d.N, 0, {}, 0); });
  const std::string on_host =
      testing::input_error([&] { dataset_from_arrays("probe", z.data(), d.N, d.E, y.data(), d.N, 0); });
  EXPECT_EQ(on_gpu, on_host);
  EXPECT_NE(on_gpu.find("3 non-finite values"), std::string::npos) << on_gpu;
}

// Memory that is not the named device's (host memory claimed as cuda:0,
// as a wrong DLPack device id would) is refused by the runtime's word
// before the reduction reads it: a fault there would poison the process's
// CUDA context and every later test in it. The check selects the data's
// device, then the caller's current one again (seen with two GPUs or more).
TEST(DeviceDataGpu, MemoryOfAnotherKindOrDeviceIsRefusedBeforeItIsRead) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const std::vector<double> host(64, 1.0);
  const std::string message = testing::input_error([&] { count_nonfinite_on_device(host.data(), host.size(), 0); });
  EXPECT_NE(message.find("not in that device's memory"), std::string::npos) << message;
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  const int last = count - 1;  // cuda:0 itself on a one-GPU machine
  ASSERT_EQ(cudaSetDevice(last), cudaSuccess);
  const OnDevice on_last(host);  // allocated on the current device
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  EXPECT_EQ(count_nonfinite_on_device(on_last.get(), host.size(), last), 0);
  int current = -1;
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(current, 0) << "the check left cuda:" << last << " selected";
  if (last != 0) {  // another GPU's memory named as cuda:0's
    const std::string other = testing::input_error([&] { count_nonfinite_on_device(on_last.get(), host.size(), 0); });
    EXPECT_NE(other.find("not in that device's memory"), std::string::npos) << other;
  }
}

// Shuffled rows (the backend gathers them on the device) and class-sorted
// rows (read where they are): the pass's sums bit for bit those of the same
// rows uploaded from the host, under one chunk and several.
TEST(DeviceDataGpu, PassSumsEqualAHostUploadBitForBit) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const PassPlan plan = testing::make_plan("silu", 8, {0.25, 0.5, 1.0, 2.0}, 7);
  const Dataset shuffled = testing::synthetic_data({70, 41, 55, 12}, 37, 9);
  const Params theta = testing::random_params(shuffled.M, 70, shuffled.E, 0.25, 3);
  for (const Dataset& host : {shuffled, class_sorted(shuffled)}) {
    const OnDevice z(host_values(host));
    const Dataset device = on_device(host, z);
    ASSERT_TRUE(device.Z.on_device());
    for (int64_t rows : {int64_t{0}, int64_t{37}}) {
      SCOPED_TRACE("max_chunk_rows=" + std::to_string(rows));
      CudaBackendOptions options;
      options.max_chunk_rows = rows;
      auto from_host = make_cuda_backend(options);
      from_host->upload(host);
      const PassSums want = from_host->run(theta, plan);
      auto in_place = make_cuda_backend(options);
      in_place->upload(device);
      expect_same_bits(want, in_place->run(theta, plan));
    }
  }
}

TEST(DeviceDataGpu, ExpandReadsItAndTheCpuBackendDoesNot) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const Dataset host = testing::synthetic_data({30, 25, 31}, 23, 4);
  const Params theta = testing::random_params(host.M, 40, host.E, 0.3, 8);
  const OnDevice z(host_values(host));
  const Dataset device = on_device(host, z);
  const Activation act = parse_activation("tanh");
  ExpansionOptions options;
  options.order = 6;
  auto gpu = make_cuda_backend(0);
  const ExpansionResult want = expand(host, theta, act, options, *gpu);
  const ExpansionResult got = expand(device, theta, act, options, *gpu);
  EXPECT_EQ(got.S_k, want.S_k);
  EXPECT_EQ(got.S_direct, want.S_direct);
  auto cpu = make_cpu_backend();
  const std::string message = testing::input_error([&] { expand(device, theta, act, options, *cpu); });
  EXPECT_NE(message.find("which the cpu"), std::string::npos) << message;
}

TEST(DeviceDataGpu, TensorStatisticsEqualAHostUploadBitForBit) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const Dataset host = testing::synthetic_data({30, 25, 31}, 23, 6);
  const Params theta = testing::random_params(host.M, 16, host.E, 0.3, 7);
  const OnDevice z(host_values(host));
  const Dataset device = on_device(host, z);
  auto run = [&](const Dataset& d) {
    auto backend = make_cuda_tensor_backend(0);
    auto pass = make_cuda_backend(0);
    return run_tensors(tensor_sources(d, &theta, ""), 2, 16, *backend, pass.get());
  };
  const TensorRun want = run(host), got = run(device);
  for (const auto& [w, g] : {std::pair{&want.stats.J, &got.stats.J}, std::pair{&want.stats.JT, &got.stats.JT}}) {
    EXPECT_EQ(w->count, g->count);
    EXPECT_EQ(w->mean, g->mean);
    EXPECT_EQ(w->std, g->std);
    EXPECT_EQ(w->min, g->min);
    EXPECT_EQ(w->max, g->max);
    EXPECT_EQ(w->sum, g->sum);
  }
  EXPECT_EQ(want.stats.dot, got.stats.dot);
  EXPECT_EQ(want.dot_power_sum, got.dot_power_sum);
}

// Training on device values: the backend copies them on the device, the
// same steps follow, and the run records the same data checksum.
TEST(DeviceDataGpu, TrainingEqualsAHostUploadBitForBit) {
  if (std::string why; !cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  Dataset host = testing::synthetic_data({20, 20, 20}, 5, 11);
  const OnDevice z(host_values(host));
  Dataset device = on_device(host, z);
  fingerprint_arrays(host);
  fingerprint_arrays(device);
  ASSERT_EQ(device.sources.size(), host.sources.size());
  for (size_t i = 0; i < host.sources.size(); ++i) {
    EXPECT_EQ(device.sources[i].crc32, host.sources[i].crc32);
    EXPECT_EQ(device.sources[i].bytes, host.sources[i].bytes);
  }
  const TrainConfig c = testing::small_train_config();
  auto a = make_cuda_train_backend(0, world());
  const TrainResult want = train(host, host, c, *a, "", false, NpyPrecision::f64, {});
  auto b = make_cuda_train_backend(0, world());
  const TrainResult got = train(device, device, c, *b, "", false, NpyPrecision::f64, {});
  EXPECT_EQ(got.theta.W, want.theta.W);
  EXPECT_EQ(got.theta.U, want.theta.U);
  EXPECT_EQ(got.records.back().train_loss, want.records.back().train_loss);
}

#endif  // TS_HAVE_CUDA

}  // namespace
}  // namespace taylorscope
