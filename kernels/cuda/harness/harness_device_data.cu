// The two device passes over a data set that is already in the GPU's memory
// (a CUDA tensor handed to expand(), docs/python.md):
//   gather_rows (gather_rows.cu): dst row r = src row order[r], the class
//     sort of the CUDA backend's upload. Reference: the host's copy loop.
//     Work: every value read once and written once, plus the order.
//   count_nonfinite_on_device (finite_values_cuda.cu, a CUB reduction of
//     is_finite_value): the data check before a pass. Reference: the host's
//     count_nonfinite. Work: every value read once.
// Both are memory-bound: the floor is the bytes at the HBM ceiling.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>

#include "cuda/gather_rows.cuh"
#include "cuda/harness/harness.cuh"
#include "taylorscope/finite_values.hpp"

using namespace taylorscope;

namespace {

bool gather_case(const harness::Options& o, int64_t N, int64_t E) {
  const std::vector<double> Z = harness::random_vector(static_cast<size_t>(N * E), 1.0, 5);
  std::vector<int64_t> order(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
  std::vector<double> want(Z.size());
  for (int64_t r = 0; r < N; ++r) std::copy_n(&Z[order[r] * E], E, &want[r * E]);

  double* src = harness::to_device(Z);
  int64_t* dorder = harness::to_device(order);
  double* dst = harness::device_zeros<double>(Z.size());
  harness::poison(dst, Z.size());
  cuda::gather_rows(src, dorder, N, E, dst, 0);
  TS_CUDA_CHECK(cudaDeviceSynchronize());
  // A copy: exact.
  const bool ok = harness::validate("gather_rows", want, harness::to_host(dst, Z.size()), 0.0, 0.0);
  const double ms = harness::time_ms(o, [&] { cuda::gather_rows(src, dorder, N, E, dst, 0); });
  char size[64];
  std::snprintf(size, sizeof size, "N=%lld E=%lld", static_cast<long long>(N), static_cast<long long>(E));
  harness::report(o, "gather_rows", size, ok, ms, 2.0 * 8 * N * E + 8.0 * N, 0.0);
  for (void* p : {static_cast<void*>(src), static_cast<void*>(dorder), static_cast<void*>(dst)})
    TS_CUDA_CHECK(cudaFree(p));
  return ok;
}

bool finite_case(const harness::Options& o, int64_t n) {
  std::vector<double> v = harness::random_vector(static_cast<size_t>(n), 1.0, 11);
  // Non-finite values at the ends and inside, of each kind.
  v[0] = std::numeric_limits<double>::quiet_NaN();
  v[static_cast<size_t>(n / 3)] = std::numeric_limits<double>::infinity();
  v[static_cast<size_t>(n - 1)] = -std::numeric_limits<double>::infinity();
  double* d = harness::to_device(v);
  const int64_t want = count_nonfinite(v.data(), v.size());
  int64_t got = -1;
  const double ms = harness::time_ms(o, [&] { got = count_nonfinite_on_device(d, v.size(), 0); });
  const bool ok = got == want;
  std::printf("  count_nonfinite_on_device: %s, %lld counted, %lld expected\n", ok ? "ok" : "FAIL",
              static_cast<long long>(got), static_cast<long long>(want));
  char size[64];
  std::snprintf(size, sizeof size, "n=%lld", static_cast<long long>(n));
  // The time includes the call's own scratch allocation and the count's copy
  // back (what every data check pays), not only the reduction's kernels.
  harness::report(o, "count_nonfinite_on_device", size, ok, ms, 8.0 * n, 0.0);
  TS_CUDA_CHECK(cudaFree(d));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const harness::Options o = harness::parse(argc, argv);
  harness::require_gpu_or_exit("harness_device_data");
  bool ok = true;
  // Fashion-MNIST's train split (N = 60000, E = 784) and its padded form.
  ok &= gather_case(o, o.quick ? 6000 : 60000, 784);
  ok &= gather_case(o, o.quick ? 6000 : 60000, 1024);
  ok &= gather_case(o, 1001, 3);  // rows narrower than a warp
  ok &= finite_case(o, o.quick ? 6000 * 784 : 60000 * 784);
  ok &= finite_case(o, 5);
  return ok ? 0 : 1;
}
