// The spurious-minima study's gradient descent on a GPU: one run per warp,
// its W, ∇F and row norms resident in shared memory for the whole descent;
// lane l computes the gradient of rows l and l + 32 with the CPU's per-row
// function (teacher_student.hpp), so both devices run the same arithmetic
// (compiled with -fmad=false, as the CPU never fuses; only libm's acos,
// atan2, sin and cos differ by ulps). The end points go back to the host,
// which judges them (Hessian, dsyev) with the CPU code: once per run, a few
// ms against the descent's 10^4–10^6 gradients, and one judge for both
// devices.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/spurious.hpp"
#include "taylorscope/teacher_student.hpp"

namespace taylorscope {
namespace {
namespace ts = teacher_student;

constexpr int kWarpsPerBlock = 4;

__global__ void descend_kernel(int k, int n, int64_t begin, int64_t count, double lr, double tol2,
                               int64_t max_iter, double zero_objective, double init_scale, bool init_normal,
                               uint64_t seed, int warps_per_block, double* W_out,
                               int64_t* iterations, int* converged) {
  extern __shared__ double smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t local = static_cast<int64_t>(blockIdx.x) * warps_per_block + warp;
  // A whole warp leaves together, and the kernel has no block-wide barrier,
  // so a block's last warps may be idle.
  if (local >= count) return;
  const int64_t m = static_cast<int64_t>(n) * k;
  double* w = smem + warp * (2 * m + n);
  double* g = w + m;
  double* norms = g + m;
  for (int64_t idx = lane; idx < m; idx += 32)
    w[idx] = ts::initial_weight(init_normal, seed, k, n, static_cast<uint64_t>(begin + local), static_cast<int>(idx / k),
                               static_cast<int>(idx % k), init_scale);
  __syncwarp();
  int64_t it = 0;
  bool done = false, zero = false;
  for (;;) {
    for (int i = lane; i < n; i += 32) norms[i] = ts::row_norm(w + static_cast<int64_t>(i) * k, k);
    __syncwarp();
    double sq = 0;
    for (int i = lane; i < n; i += 32) {
      double* gi = g + static_cast<int64_t>(i) * k;
      ts::neuron_gradient(i, n, k, w, norms, gi);
      for (int q = 0; q < k; ++q) sq += gi[q] * gi[q];
    }
    // Butterfly: every lane ends with the same sum, bit for bit (each
    // stage adds the same two partial sums, and + commutes), so the
    // verdict below is the same on every lane and the warp stays together.
    for (int off = 16; off > 0; off >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, off);
    // Every lane's reads of w (other rows) are done before any row moves.
    __syncwarp();
    if (sq <= tol2) {
      done = true;
      break;
    }
    if (it >= max_iter) break;
    if (it > 0 && it % kZeroCheckEvery == 0) {
      double f = 0;
      for (int i = lane; i < n; i += 32) f += ts::neuron_objective(i, n, k, w, norms);
      for (int off = 16; off > 0; off >>= 1) f += __shfl_xor_sync(0xffffffffu, f, off);
      // These reads of w, too, end before any row moves below.
      __syncwarp();
      if (f + 0.5 * ts::teacher_constant(k) <= zero_objective) {
        zero = true;
        break;
      }
    }
    for (int i = lane; i < n; i += 32)
      for (int q = 0; q < k; ++q) w[static_cast<int64_t>(i) * k + q] -= lr * g[static_cast<int64_t>(i) * k + q];
    ++it;
    __syncwarp();
  }
  for (int64_t idx = lane; idx < m; idx += 32) W_out[local * m + idx] = w[idx];
  if (lane == 0) {
    iterations[local] = it;
    converged[local] = (done ? 1 : 0) | (zero ? 2 : 0);
  }
}

}  // namespace

void descend_runs_cuda(int device, int k, int n, int64_t begin, int64_t end, const DescentSettings& s,
                       double* W, DescentOutcome* outcomes) {
  if (n > kCudaMaxRows) throw InputError("the CUDA study holds n ≤ " + std::to_string(kCudaMaxRows));
  const int64_t count = end - begin;
  if (count <= 0) return;
  TS_CUDA_CHECK(cudaSetDevice(device));
  const int64_t m = static_cast<int64_t>(n) * k;
  const size_t per_warp = (2 * m + n) * sizeof(double);
  int max_shared = 0;
  TS_CUDA_CHECK(cudaDeviceGetAttribute(&max_shared, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (per_warp > static_cast<size_t>(max_shared))
    throw InputError("k = " + std::to_string(k) + ", n = " + std::to_string(n) +
                     ": one run's W and gradient do not fit in a block's shared memory");
  int warps = kWarpsPerBlock;
  while (warps > 1 && per_warp * warps > static_cast<size_t>(max_shared)) --warps;
  const size_t shared = per_warp * warps;
  if (shared > 48 * 1024)
    TS_CUDA_CHECK(cudaFuncSetAttribute(descend_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(shared)));
  cuda::DeviceBuffer<double> dW(count * m);
  cuda::DeviceBuffer<int64_t> dIt(count);
  cuda::DeviceBuffer<int> dConv(count);
  const int64_t blocks = (count + warps - 1) / warps;
  descend_kernel<<<static_cast<unsigned>(blocks), 32 * warps, shared>>>(
      k, n, begin, count, s.lr, s.tol * s.tol, s.max_iter, s.zero_objective, s.init_scale, s.init_normal, s.seed, warps, dW.data(), dIt.data(), dConv.data());
  TS_CUDA_CHECK(cudaGetLastError());
  TS_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<int64_t> it(count);
  std::vector<int> conv(count);
  TS_CUDA_CHECK(cudaMemcpy(W, dW.data(), count * m * sizeof(double), cudaMemcpyDeviceToHost));
  TS_CUDA_CHECK(cudaMemcpy(it.data(), dIt.data(), count * sizeof(int64_t), cudaMemcpyDeviceToHost));
  TS_CUDA_CHECK(cudaMemcpy(conv.data(), dConv.data(), count * sizeof(int), cudaMemcpyDeviceToHost));
  for (int64_t r = 0; r < count; ++r) outcomes[r] = {it[r], (conv[r] & 1) != 0, (conv[r] & 2) != 0};
}

}  // namespace taylorscope
