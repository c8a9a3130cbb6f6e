// The NCCL communicator (communicator.hpp's DeviceCommunicator) against the
// host one: every rank all-reduces the same device buffer through NCCL and
// the same host buffer through world(), and the bits must agree — eagerly
// and replayed from a CUDA graph (the training step captures its all-reduce).
//
// ctest runs it as `mpirun -np 1` in an MPI build (one rank on the GPU; a
// machine with one GPU cannot hold more: NCCL refuses two ranks on one
// device) and as a plain process otherwise; scripts/device-check runs it on
// the GPU machine. Without a GPU it skips ("no GPU: …"), without NCCL in the
// build it skips saying so.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "taylorscope/communicator.hpp"
#include "taylorscope/expansion_pass.hpp"  // cuda_backend_available

#if TS_TEST_NCCL
#include <cuda_runtime.h>
#endif

namespace ts = taylorscope;

namespace {

// As test_mpi_communicator.cpp: rank r's value i, mixed magnitudes and signs.
double contribution(int r, size_t i) {
  const uint64_t h = (static_cast<uint64_t>(r) + 1) * 0x9E3779B97F4A7C15ull ^ (i * 0xBF58476D1CE4E5B9ull);
  const double unit = static_cast<double>(h >> 11) * 0x1.0p-53;
  const int exponent = static_cast<int>((h >> 3) % 40) - 20;
  return (h & 1 ? -1.0 : 1.0) * std::ldexp(0.5 + unit, exponent);
}

#if TS_TEST_NCCL
#define CHECK_CUDA(call) ASSERT_EQ((call), cudaSuccess) << #call

size_t differing(const std::vector<double>& a, const std::vector<double>& b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(double)) != 0;
  return n;
}
#endif

TEST(NcclCommunicator, RankOrderSumOnTheDeviceEqualsTheHostsBits) {
#if !TS_TEST_NCCL
  std::string why;
  ts::nccl_available(&why);
  GTEST_SKIP() << why;  // "this build has no NCCL (…)"
#else
  std::string why;
  if (!ts::cuda_backend_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  ASSERT_TRUE(ts::nccl_available(&why)) << why;
  ts::Communicator& host = ts::world();
  int devices = 0;
  CHECK_CUDA(cudaGetDeviceCount(&devices));
  // Decided together: a rank that skipped alone would leave the others
  // waiting in NCCL's bootstrap.
  double without_gpu = host.local_rank() >= devices;
  host.allreduce_sum(&without_gpu, 1);
  if (without_gpu > 0)
    GTEST_SKIP() << without_gpu << " rank(s) without a GPU of their own (" << devices
                 << " on this machine; NCCL needs one per rank)";
  auto nccl = ts::make_nccl_communicator(host, host.local_rank());
  EXPECT_EQ(nccl->rank(), host.rank());
  EXPECT_EQ(nccl->size(), host.size());

  const size_t n = 100003;
  std::vector<double> mine(n), expect(n), got(n);
  for (size_t i = 0; i < n; ++i) mine[i] = contribution(host.rank(), i);
  expect = mine;
  host.allreduce_sum(expect.data(), n);

  double* d = nullptr;
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaMalloc(&d, n * sizeof(double)));
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  CHECK_CUDA(cudaMemcpy(d, mine.data(), n * sizeof(double), cudaMemcpyHostToDevice));
  nccl->allreduce_sum(d, n, stream);
  CHECK_CUDA(cudaStreamSynchronize(stream));
  CHECK_CUDA(cudaMemcpy(got.data(), d, n * sizeof(double), cudaMemcpyDeviceToHost));
  EXPECT_EQ(differing(got, expect), 0u) << "eager NCCL all-reduce vs the host's";

  // Captured after reserve(): the graph's replays give the same bits.
  nccl->reserve(n);
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  nccl->allreduce_sum(d, n, stream);
  CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  for (int replay = 0; replay < 2; ++replay) {
    CHECK_CUDA(cudaMemcpyAsync(d, mine.data(), n * sizeof(double), cudaMemcpyHostToDevice, stream));
    CHECK_CUDA(cudaGraphLaunch(exec, stream));
    CHECK_CUDA(cudaStreamSynchronize(stream));
    CHECK_CUDA(cudaMemcpy(got.data(), d, n * sizeof(double), cudaMemcpyDeviceToHost));
    EXPECT_EQ(differing(got, expect), 0u) << "graph replay " << replay;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  cudaFree(d);
  if (host.is_root())
    std::cout << "NCCL rank-order all-reduce of " << n << " doubles over " << host.size()
              << " rank(s): same bits as the host's, eager and from a CUDA graph" << std::endl;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  ts::start_processes(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (!ts::world().is_root()) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  double failed = RUN_ALL_TESTS() != 0;
  ts::world().allreduce_sum(&failed, 1);
  ts::finish_processes();
  return failed > 0 ? 1 : 0;
}
