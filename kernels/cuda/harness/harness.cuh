// What every kernel harness shares (llm.c's dev/cuda style): one program per
// custom kernel builds a plain CPU reference, runs the kernel, validates
// every output at |gpu − ref| ≤ tol + |ref|·eps, then times it — warm-up,
// repeats, the L2 flushed before each repeat — and prints the time beside
// what the bytes and FLOPs it must move and do would take at the device's
// ceilings. Without a GPU a harness says so and exits 0.
//
// Ceilings (H200 SXM, measured on this workplace's machine where noted):
// HBM ≈ 4.3 TB/s (a device-to-device copy, bytes read + written), FP64
// ≈ 67 TFLOP/s on the tensor cores (DGEMM), ≈ 34 TFLOP/s on the FP64 FMA
// units that custom kernels use. Change them with --hbm-gbs / --fp64-tflops.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda/cuda_check.hpp"

namespace taylorscope::harness {

struct Options {
  double hbm_gbs = 4300;        // bytes ceiling
  double fp64_fma_tflops = 34;  // what a custom kernel's DFMAs can reach
  double fp64_tc_tflops = 67;   // DGEMM on the tensor cores
  int warmup = 3, repeats = 20;
  std::string json;             // append one JSON line per result here
  bool quick = false;           // smaller sizes (a first look)
};

inline Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--json") o.json = value();
    else if (a == "--hbm-gbs") o.hbm_gbs = std::atof(value());
    else if (a == "--fp64-tflops") o.fp64_fma_tflops = std::atof(value());
    else if (a == "--fp64-tc-tflops") o.fp64_tc_tflops = std::atof(value());
    else if (a == "--repeats") o.repeats = std::max(1, std::atoi(value()));
    else if (a == "--quick") o.quick = true;
    else {
      std::fprintf(stderr, "usage: %s [--json FILE] [--repeats N] [--quick] [--hbm-gbs X] [--fp64-tflops X] [--fp64-tc-tflops X]\n", argv[0]);
      std::exit(2);
    }
  }
  return o;
}

// Exits 0 with a line when no GPU is usable: the harness is a GPU program.
inline void require_gpu_or_exit(const char* name) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::printf("%s: no GPU (%s); nothing to run\n", name,
                status != cudaSuccess ? cudaGetErrorString(status) : "no CUDA device is visible");
    std::exit(0);
  }
  cudaDeviceProp prop{};
  TS_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s on %s (%d SMs, %.0f MB L2)\n", name, prop.name, prop.multiProcessorCount,
              prop.l2CacheSize / 1e6);
}

inline std::vector<double> random_vector(size_t n, double scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

// Any contiguous host array (a std::vector, a Dataset's DataValues).
template <class Host>
auto to_device(const Host& host) {
  using T = std::remove_cv_t<std::remove_pointer_t<decltype(host.data())>>;
  T* p = nullptr;
  TS_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(1, host.size()) * sizeof(T)));
  if (!host.empty()) TS_CUDA_CHECK(cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return p;
}

template <class T>
T* device_zeros(size_t n) {
  T* p = nullptr;
  TS_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(T)));
  TS_CUDA_CHECK(cudaMemset(p, 0, std::max<size_t>(1, n) * sizeof(T)));
  return p;
}

template <class T>
std::vector<T> to_host(const T* device, size_t n) {
  std::vector<T> h(n);
  if (n) TS_CUDA_CHECK(cudaMemcpy(h.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

// Fills the output with NaN first, so an element the kernel never writes
// fails validation instead of passing on a stale value.
inline void poison(double* device, size_t n) { TS_CUDA_CHECK(cudaMemset(device, 0xff, n * sizeof(double))); }

// |got − want| ≤ tol + |want|·eps for every element; prints the worst and
// the first few misses. NaN never passes.
inline bool validate(const char* what, const std::vector<double>& want, const std::vector<double>& got,
                     double tol, double eps) {
  if (want.size() != got.size()) {
    std::printf("  %s: FAIL, %zu values against %zu expected\n", what, got.size(), want.size());
    return false;
  }
  size_t bad = 0, worst_at = 0;
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::fabs(got[i] - want[i]);
    const double allowed = tol + std::fabs(want[i]) * eps;
    const double ratio = err / allowed;
    if (!(err <= allowed)) {
      if (bad < 5) std::printf("  %s[%zu]: got %.17g, want %.17g\n", what, i, got[i], want[i]);
      ++bad;
    }
    if (!(ratio <= worst)) {
      worst = std::isnan(ratio) ? INFINITY : ratio;
      worst_at = i;
    }
  }
  std::printf("  %s: %s, %zu values, worst error %.2f of its allowance (at %zu)\n", what, bad ? "FAIL" : "ok",
              want.size(), worst, worst_at);
  return bad == 0;
}

// Sums whose terms cancel: |got − want| ≤ eps·scale[i], scale the sum of the
// terms' magnitudes (the rounding of a sum is relative to that, not to it).
inline bool validate_scaled(const char* what, const std::vector<double>& want, const std::vector<double>& got,
                            const std::vector<double>& scale, double eps) {
  std::vector<double> rel_want(want.size()), rel_got(got.size());
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    const double s = scale[i] > 0 ? scale[i] : 1.0;
    rel_want[i] = want[i] / s;
    rel_got[i] = got[i] / s;
  }
  return validate(what, rel_want, rel_got, eps, 0.0);
}

// Median milliseconds of `run` over the repeats, each after a write of
// twice the L2 (so no repeat reads what the last one left cached).
inline double time_ms(const Options& o, const std::function<void()>& run) {
  int l2 = 0;
  TS_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
  const size_t flush_bytes = 2 * static_cast<size_t>(std::max(l2, 1 << 20));
  void* flush = nullptr;
  TS_CUDA_CHECK(cudaMalloc(&flush, flush_bytes));
  cudaEvent_t start, stop;
  TS_CUDA_CHECK(cudaEventCreate(&start));
  TS_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < o.warmup; ++i) run();
  TS_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> ms;
  for (int i = 0; i < o.repeats; ++i) {
    TS_CUDA_CHECK(cudaMemsetAsync(flush, i & 0xff, flush_bytes, 0));
    TS_CUDA_CHECK(cudaEventRecord(start, 0));
    run();
    TS_CUDA_CHECK(cudaEventRecord(stop, 0));
    TS_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    TS_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  TS_CUDA_CHECK(cudaEventDestroy(start));
  TS_CUDA_CHECK(cudaEventDestroy(stop));
  TS_CUDA_CHECK(cudaFree(flush));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// What a kernel must move and compute: bytes through HBM, FLOPs on the
// FP64 FMA units, FLOPs on the FP64 tensor cores (DMMA, padding included:
// what the tensor cores execute). The floor is the largest of the three
// times at the ceilings: the pipes run side by side.
struct Work {
  double bytes = 0, fma_flops = 0, tc_flops = 0;
};

// One timed result beside each ceiling; `extra_json` (", \"key\": value…")
// is appended to the JSON line.
inline void report_work(const Options& o, const std::string& kernel, const std::string& size, bool valid, double ms,
                        const Work& w, const std::string& extra_json = "") {
  const double s = ms * 1e-3;
  const double gbs = w.bytes / s / 1e9, fma = w.fma_flops / s / 1e12, tc = w.tc_flops / s / 1e12;
  const double floor_ms = std::max({w.bytes / (o.hbm_gbs * 1e9), w.fma_flops / (o.fp64_fma_tflops * 1e12),
                                    w.tc_flops / (o.fp64_tc_tflops * 1e12)}) * 1e3;
  std::printf("  %-28s %-34s %9.3f ms  %7.1f GB/s (%4.1f%% of %.0f)  FMA %6.2f TFLOP/s (%4.1f%% of %.0f)"
              "  TC %6.2f TFLOP/s (%4.1f%% of %.0f)  floor %.3f ms (%.0f%%)  %s\n",
              kernel.c_str(), size.c_str(), ms, gbs, 100 * gbs / o.hbm_gbs, o.hbm_gbs, fma,
              100 * fma / o.fp64_fma_tflops, o.fp64_fma_tflops, tc, 100 * tc / o.fp64_tc_tflops, o.fp64_tc_tflops,
              floor_ms, 100 * floor_ms / ms, valid ? "valid" : "INVALID");
  if (o.json.empty()) return;
  if (FILE* f = std::fopen(o.json.c_str(), "a")) {
    std::fprintf(f,
                 "{\"kernel\": \"%s\", \"size\": \"%s\", \"valid\": %s, \"ms\": %.6g, \"GB_per_s\": %.6g, "
                 "\"TFLOP_per_s\": %.6g, \"TC_TFLOP_per_s\": %.6g, \"floor_ms\": %.6g%s}\n",
                 kernel.c_str(), size.c_str(), valid ? "true" : "false", ms, gbs, fma, tc, floor_ms,
                 extra_json.c_str());
    std::fclose(f);
  }
}

// One timed result: the time beside the floors bytes/HBM and flops/FP64.
inline void report(const Options& o, const std::string& kernel, const std::string& size, bool valid, double ms,
                   double bytes, double flops) {
  report_work(o, kernel, size, valid, ms, Work{bytes, flops, 0});
}

}  // namespace taylorscope::harness
