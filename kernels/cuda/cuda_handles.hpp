// Owning handles for what every CUDA backend sets up and tears down: a
// non-blocking stream, a cuBLAS handle bound to it in native float64, a
// cuSOLVER handle bound to it, and events. Each is created in its
// constructor (throwing std::runtime_error with the failing call) and
// released in its destructor (best effort: a destructor cannot throw), so a
// backend whose constructor throws halfway leaks nothing. Declare them in the
// order they are created: members are destroyed in reverse.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <string>
#include <utility>

#include "cuda/cuda_check.hpp"

namespace taylorscope::cuda {

// Makes `device` current and returns its name as the backends report it,
// "cuda:0 NVIDIA H200". A backend's first member is initialised from it, so
// everything after it is created on that device.
inline std::string select_device_named(int device) {
  TS_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  TS_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return "cuda:" + std::to_string(device) + " " + prop.name;
}

// Move-only ownership of one raw handle, released by Release.
template <class Handle, void (*Release)(Handle)>
class Owned {
 public:
  Owned() = default;
  explicit Owned(Handle h) : h_(h) {}
  ~Owned() { reset(); }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& o) noexcept : h_(std::exchange(o.h_, Handle{})) {}
  Owned& operator=(Owned&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, Handle{});
    }
    return *this;
  }
  Handle get() const { return h_; }
  operator Handle() const { return h_; }  // NOLINT: passed straight to the CUDA APIs

 private:
  void reset() noexcept {
    if (h_) Release(h_);
    h_ = Handle{};
  }
  Handle h_{};
};

inline void release_stream(cudaStream_t s) { cudaStreamDestroy(s); }
inline void release_cublas(cublasHandle_t h) { cublasDestroy(h); }
inline void release_cusolver(cusolverDnHandle_t h) { cusolverDnDestroy(h); }
inline void release_event(cudaEvent_t e) { cudaEventDestroy(e); }

// A stream that does not synchronise with the legacy default stream.
class Stream : public Owned<cudaStream_t, release_stream> {
 public:
  Stream() : Owned(create()) {}

 private:
  static cudaStream_t create() {
    cudaStream_t s = nullptr;
    TS_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }
};

// cuBLAS on `stream`, native float64: no fixed-point emulation, so the GEMMs
// match the CPU's BLAS to rounding.
class CublasHandle : public Owned<cublasHandle_t, release_cublas> {
 public:
  explicit CublasHandle(cudaStream_t stream) : Owned(create()) {
    TS_CUBLAS_CHECK(cublasSetStream(get(), stream));
    TS_CUBLAS_CHECK(cublasSetMathMode(get(), CUBLAS_DEFAULT_MATH));
  }

 private:
  static cublasHandle_t create() {
    cublasHandle_t h = nullptr;
    TS_CUBLAS_CHECK(cublasCreate(&h));
    return h;
  }
};

class CusolverHandle : public Owned<cusolverDnHandle_t, release_cusolver> {
 public:
  explicit CusolverHandle(cudaStream_t stream) : Owned(create()) {
    TS_CUSOLVER_CHECK(cusolverDnSetStream(get(), stream));
  }

 private:
  static cusolverDnHandle_t create() {
    cusolverDnHandle_t h = nullptr;
    TS_CUSOLVER_CHECK(cusolverDnCreate(&h));
    return h;
  }
};

// An event for ordering only (no timing).
class Event : public Owned<cudaEvent_t, release_event> {
 public:
  Event() : Owned(create()) {}

 private:
  static cudaEvent_t create() {
    cudaEvent_t e = nullptr;
    TS_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    return e;
  }
};

}  // namespace taylorscope::cuda
