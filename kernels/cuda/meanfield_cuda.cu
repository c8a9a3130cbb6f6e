// The random network of `meanfield --simulate` on the GPU: the weights and
// biases drawn on the device from the same Philox streams as the CPU
// (meanfield.hpp's meanfield_weight/meanfield_bias, TS_HD), one cuBLAS DGEMM
// per layer for all 2P inputs, and one block per pair reducing its sums.
// Only the 3P sums of each layer come back to the host.
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_handles.hpp"
#include "taylorscope/meanfield.hpp"

namespace taylorscope {
namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 ? blocks : 65535);
}

// W row-major N×N: W[i·N + j] = W_l[i][j], the draw index of meanfield_weight.
__global__ void draw_weights(double* W, int64_t N, uint64_t seed, int layer, double sigma_w) {
  const int64_t total = N * N;
  for (int64_t k = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; k < total; k += int64_t{gridDim.x} * blockDim.x)
    W[k] = meanfield_weight(seed, layer, N, k / N, k % N, sigma_w);
}

__global__ void draw_biases(double* b, int64_t N, uint64_t seed, int layer, double sigma_b) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < N; i += int64_t{gridDim.x} * blockDim.x)
    b[i] = meanfield_bias(seed, layer, i, sigma_b);
}

__global__ void activate(const double* Z, double* A, int64_t count, Activation act) {
  for (int64_t k = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; k < count; k += int64_t{gridDim.x} * blockDim.x)
    A[k] = activation_value(act, Z[k]);
}

__global__ void add_bias(double* Z, const double* b, int64_t count, int64_t N) {
  for (int64_t k = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; k < count; k += int64_t{gridDim.x} * blockDim.x)
    Z[k] += b[k % N];
}

// One block per pair p (rows 2p, 2p + 1 of Z): Σ a², Σ b², Σ a·b over N,
// each thread a strided share, then a tree in shared memory.
__global__ void reduce_pairs(const double* Z, int64_t N, PairSums* out) {
  __shared__ double s_aa[kThreads], s_bb[kThreads], s_ab[kThreads];
  const double* a = Z + (2 * int64_t{blockIdx.x}) * N;
  const double* b = a + N;
  double aa = 0, bb = 0, ab = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    aa += a[i] * a[i];
    bb += b[i] * b[i];
    ab += a[i] * b[i];
  }
  s_aa[threadIdx.x] = aa;
  s_bb[threadIdx.x] = bb;
  s_ab[threadIdx.x] = ab;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      s_aa[threadIdx.x] += s_aa[threadIdx.x + half];
      s_bb[threadIdx.x] += s_bb[threadIdx.x + half];
      s_ab[threadIdx.x] += s_ab[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = PairSums{s_aa[0], s_bb[0], s_ab[0]};
}

}  // namespace

void meanfield_propagate_cuda(const SimulateConfig& config, const std::vector<double>& Z0,
                              std::vector<PairSums>& sums, const std::function<void(int64_t, int64_t)>& progress) {
  cuda::require_device(config.device);
  cuda::select_device_named(config.device);
  const int64_t N = config.width, P = config.pairs, rows = 2 * P;
  const double sigma_w = std::sqrt(config.theory.sigma_w2), sigma_b = std::sqrt(config.theory.sigma_b2);
  cuda::Stream stream;
  cuda::CublasHandle blas(stream.get());
  cuda::DeviceBuffer<double> Z(rows * N), A(rows * N), W(N * N), b(N);
  cuda::DeviceBuffer<PairSums> layer_sums(P);
  sums.assign(static_cast<size_t>(config.depth + 1) * P, PairSums{});
  TS_CUDA_CHECK(cudaMemcpyAsync(Z.data(), Z0.data(), Z0.size() * sizeof(double), cudaMemcpyHostToDevice, stream.get()));
  auto reduce = [&](int l) {
    reduce_pairs<<<static_cast<unsigned>(P), kThreads, 0, stream.get()>>>(Z.data(), N, layer_sums.data());
    TS_CUDA_LAUNCHED(stream.get(), "meanfield reduce_pairs");
    TS_CUDA_CHECK(cudaMemcpyAsync(sums.data() + static_cast<size_t>(l) * P, layer_sums.data(), P * sizeof(PairSums),
                                  cudaMemcpyDeviceToHost, stream.get()));
    TS_CUDA_CHECK(cudaStreamSynchronize(stream.get()));  // the host reads the sums; layer_sums is reused
  };
  reduce(0);
  const double one = 1.0, zero = 0.0;
  for (int l = 1; l <= config.depth; ++l) {
    draw_weights<<<grid_for(N * N), kThreads, 0, stream.get()>>>(W.data(), N, config.seed, l, sigma_w);
    TS_CUDA_LAUNCHED(stream.get(), "meanfield draw_weights");
    draw_biases<<<grid_for(N), kThreads, 0, stream.get()>>>(b.data(), N, config.seed, l, sigma_b);
    TS_CUDA_LAUNCHED(stream.get(), "meanfield draw_biases");
    activate<<<grid_for(rows * N), kThreads, 0, stream.get()>>>(Z.data(), A.data(), rows * N, config.theory.act);
    TS_CUDA_LAUNCHED(stream.get(), "meanfield activate");
    // Column-major view: the row-major Z (rows×N) is Zᵀ (N×rows), W's buffer
    // is Wᵀ, A's is Aᵀ; Zᵀ = W Aᵀ = op_T(Wᵀ) · Aᵀ.
    const int n = static_cast<int>(N), r = static_cast<int>(rows);
    TS_CUBLAS_CHECK(cublasDgemm(blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, n, r, n, &one, W.data(), n, A.data(), n,
                                &zero, Z.data(), n));
    TS_CUDA_LAUNCHED(stream.get(), "meanfield cublasDgemm");
    add_bias<<<grid_for(rows * N), kThreads, 0, stream.get()>>>(Z.data(), b.data(), rows * N, N);
    TS_CUDA_LAUNCHED(stream.get(), "meanfield add_bias");
    reduce(l);
    if (progress) progress(l, config.depth);
  }
}

}  // namespace taylorscope
