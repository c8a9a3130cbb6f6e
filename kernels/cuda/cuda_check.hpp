// Checks for CUDA, cuBLAS and cuSOLVER calls, and an owning device buffer.
// Every runtime, cuBLAS and cuSOLVER call of the CUDA backends goes through
// TS_CUDA_CHECK / TS_CUBLAS_CHECK / TS_CUSOLVER_CHECK; a failure throws
// std::runtime_error naming the call, its file:line and the library's error
// string. Every kernel launch (and every cuBLAS call that launches work) is
// followed by TS_CUDA_LAUNCHED(stream, "step"): it checks the launch, and
// with TAYLORSCOPE_CUDA_SYNC=1 in the environment it also waits for the
// work to finish, so a kernel that faults is named where it ran instead of
// surfacing at the next synchronisation (a debugging mode: slow).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolver_common.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace taylorscope::cuda {

[[noreturn]] inline void throw_call_failed(const char* call, const char* file, int line,
                                           const char* what) {
  throw std::runtime_error(std::string(call) + " failed at " + file + ":" +
                           std::to_string(line) + ": " + what);
}

// Throws InputError unless CUDA is usable and `device` exists (the factories
// of both CUDA backends call it first).
void require_device(int device);

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) throw_call_failed(call, file, line, cudaGetErrorString(status));
}

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw_call_failed(call, file, line, cublasGetStatusString(status));
}

// cuSOLVER has no status-string function; these are the statuses its dense
// routines return.
inline const char* cusolver_status_string(cusolverStatus_t status) {
  switch (status) {
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED: return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    case CUSOLVER_STATUS_INVALID_WORKSPACE: return "CUSOLVER_STATUS_INVALID_WORKSPACE";
    default: return "cuSOLVER error";
  }
}

inline void check_cusolver(cusolverStatus_t status, const char* call, const char* file, int line) {
  if (status != CUSOLVER_STATUS_SUCCESS)
    throw_call_failed(call, file, line, cusolver_status_string(status));
}

// True when the environment variable is set to anything but "" or "0".
inline bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

// TAYLORSCOPE_CUDA_SYNC=1: synchronise after every launch (read once).
inline bool sync_each_launch() {
  static const bool on = env_flag("TAYLORSCOPE_CUDA_SYNC");
  return on;
}

// After a launch on `stream`: throws if the launch failed, and in the
// synchronising mode if the work failed, naming `step` and file:line. A
// stream being captured into a graph is not synchronised (that would end
// the capture); the graph's replay is checked where it is launched.
inline void check_launch(cudaStream_t stream, const char* step, const char* file, int line) {
  check_cuda(cudaGetLastError(), step, file, line);
  if (!sync_each_launch()) return;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  check_cuda(cudaStreamIsCapturing(stream, &capturing), step, file, line);
  if (capturing != cudaStreamCaptureStatusNone) return;
  const cudaError_t status = cudaStreamSynchronize(stream);
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(step) + " failed on the GPU (launched at " + file + ":" +
                             std::to_string(line) + ", TAYLORSCOPE_CUDA_SYNC): " +
                             cudaGetErrorString(status));
}

// Owns `size()` elements of device memory (cudaMalloc'd); move-only. Growing
// with ensure_size() discards the contents, so buffers reused across runs
// are reallocated only when a run needs more than any run before it.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) { ensure_size(n); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(T); }

  void ensure_size(size_t n) {
    if (n <= size_) return;
    release();
    void* p = nullptr;
    check_cuda(cudaMalloc(&p, n * sizeof(T)), "cudaMalloc", __FILE__, __LINE__);
    ptr_ = static_cast<T*>(p);
    size_ = n;
  }

 private:
  void release() noexcept {
    if (ptr_) cudaFree(ptr_);  // cannot throw from a destructor; nothing to do on failure
    ptr_ = nullptr;
    size_ = 0;
  }

  T* ptr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace taylorscope::cuda

#define TS_CUDA_CHECK(call) ::taylorscope::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define TS_CUBLAS_CHECK(call) ::taylorscope::cuda::check_cublas((call), #call, __FILE__, __LINE__)
#define TS_CUSOLVER_CHECK(call) ::taylorscope::cuda::check_cusolver((call), #call, __FILE__, __LINE__)
#define TS_CUDA_LAUNCHED(stream, step) ::taylorscope::cuda::check_launch((stream), (step), __FILE__, __LINE__)
