// The DeviceCommunicator over NCCL, bootstrapped over the host communicator
// as llm.c does: rank 0 creates the unique id, MPI broadcasts it.
//
// NCCL's own ncclAllReduce sums in an order that depends on its algorithm
// (ring, tree), protocol and the topology, so the bits of a result would
// change with NCCL_ALGO or the machine. Instead every rank all-gathers the
// R buffers and sums them in rank order with the kernel below: R× the
// traffic of a ring all-reduce's reduce-scatter half, but the same bits as
// the MPI path's allreduce_sum on every rank and every topology.
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "cuda/cuda_check.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"  // cuda_backend_available

namespace taylorscope {
namespace {

void check_nccl(ncclResult_t status, const char* call) {
  if (status != ncclSuccess)
    throw std::runtime_error(std::string(call) + " failed: " + ncclGetErrorString(status));
}
#define TS_NCCL_CHECK(call) check_nccl((call), #call)

// out[i] = ((g[0][i] + g[1][i]) + g[2][i]) + …: rank order, as on the host.
__global__ void sum_in_rank_order(const double* gathered, double* out, size_t count, int ranks) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < count; i += size_t{gridDim.x} * blockDim.x) {
    double sum = gathered[i];
    for (int r = 1; r < ranks; ++r) sum += gathered[static_cast<size_t>(r) * count + i];
    out[i] = sum;
  }
}

class NcclCommunicator final : public DeviceCommunicator {
 public:
  NcclCommunicator(Communicator& host, int device) : rank_(host.rank()), size_(host.size()), device_(device) {
    TS_CUDA_CHECK(cudaSetDevice(device_));
    ncclUniqueId id;
    if (host.is_root()) TS_NCCL_CHECK(ncclGetUniqueId(&id));
    host.broadcast(&id, sizeof id, 0);
    TS_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
  }
  ~NcclCommunicator() override {
    if (scratch_) cudaFree(scratch_);
    ncclCommDestroy(comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void reserve(size_t count) override {
    if (count <= capacity_) return;
    if (scratch_) TS_CUDA_CHECK(cudaFree(scratch_));
    scratch_ = nullptr;
    TS_CUDA_CHECK(cudaMalloc(&scratch_, count * size_ * sizeof(double)));
    capacity_ = count;
  }

  void allreduce_sum(double* data, size_t count, void* stream) override {
    if (count == 0) return;
    if (count > capacity_) {
      cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
      TS_CUDA_CHECK(cudaStreamIsCapturing(static_cast<cudaStream_t>(stream), &capturing));
      if (capturing != cudaStreamCaptureStatusNone)
        throw std::logic_error("NCCL all-reduce of " + std::to_string(count) +
                               " doubles captured without reserve(): a capture cannot allocate");
      reserve(count);
    }
    auto s = static_cast<cudaStream_t>(stream);
    TS_NCCL_CHECK(ncclAllGather(data, scratch_, count, ncclDouble, comm_, s));
    const int threads = 256;
    const int blocks = static_cast<int>(std::min<size_t>((count + threads - 1) / threads, 4096));
    sum_in_rank_order<<<blocks, threads, 0, s>>>(scratch_, data, count, size_);
    TS_CUDA_LAUNCHED(s, "NCCL rank-order sum");
  }

 private:
  int rank_, size_, device_;
  ncclComm_t comm_ = nullptr;
  double* scratch_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace

bool nccl_available(std::string* why) {
  if (!cuda_backend_available(why)) return false;
  return true;
}

std::unique_ptr<DeviceCommunicator> make_nccl_communicator(Communicator& host, int device) {
  cuda::require_device(device);
  return std::make_unique<NcclCommunicator>(host, device);
}

}  // namespace taylorscope
