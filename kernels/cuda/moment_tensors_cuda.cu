// The CUDA tensor backend (moment_tensors.hpp): the tile sweep of
// kernels/cpu/moment_tensors_cpu.cpp on one GPU, float64 throughout, the
// same statistics to rounding (docs/math.md §3, §6).
//
// FLOPs. The tile of a prefix with smallest index L is, per class, the GEMM
// X_Lᵀ diag(y) X_L of width c = E − L summed over R rows: 2·R·c² FLOPs.
//   J^(n): Σ_prefixes 2·N·c²        (each sample in its own class's GEMM)
//   T^(n): Σ_prefixes 2·M·H·c²
// For n = 3 that is ≈ 2·R·E³/3 over whole squares: T^(3) at M = 10, H = 2048,
// E = 1024 is 1.5e13, J^(3) of Fashion-MNIST (N = 60000, E = 784) 1.9e13;
// column panels (tile_plan.hpp) skip most of the lower triangles and the
// padding of batched squares adds a little: the plan issues 1.15e13 and
// 1.58e13 on an H100 (132 SMs). gemm_flops reports what was issued.
// The element work is M·packed_size(E, n) values per stream (1.8e9 for
// that T^(3), 8.1e8 for that J^(3)), taken in runs of 4–8 per lane with one
// merge per run (tile_statistics.cu): ~23 FP64 operations and 16 bytes of
// HBM (tile read, cache write) per value, so memory-bound at an estimated
// ~7 ms (T^(3)) and ~3 ms (J^(3)) at H200 ceilings (docs/gpu.md, unrun),
// against ~170 and ~240 ms of GEMM at 67 TFLOP/s.
//
// Design, all on one stream; the host only launches:
//   upload   Z sorted by class (stable; pinned double-buffered staging),
//            class counts, U, W and UW = diag(U_α)·W (tile_operands.cu).
//   sweep    the prefixes in groups of one padded square shape
//            (tile_plan.hpp); per group
//              Y = diag(prefix products)·X_L0   scale_rows_by_prefix  (n ≥ 3)
//              class tiles S_α (J), T_α          cublasDgemmStridedBatched
//              moments or histograms             tile_statistics.cu (J formed there)
//            A group's tiles and scaled operands stay within kTileBudgetBytes
//            (fixed, so the plan and hence the rounding never depend on free
//            memory). The host waits on the event of the group kInFlight
//            back: that reports progress and bounds how far it runs ahead.
//   cache    A moments sweep also keeps every element's J and T value when
//            they fit in free device memory (less kCacheReserveBytes; T^(3)
//            above needs 14.4 GB, J^(3) 6.5 GB); the histogram sweep of the same
//            order that follows (tensor_statistics) replays them instead of
//            recomputing the GEMMs, then frees them. Otherwise it recomputes.
// No floating-point atomics anywhere: on one device a sweep is bitwise
// reproducible, and a replayed histogram equals a recomputed one.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <climits>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_handles.hpp"
#include "cuda/gather_rows.cuh"
#include "cuda/tile_operands.cuh"
#include "cuda/tile_plan.hpp"
#include "cuda/tile_statistics.cuh"
#include "taylorscope/class_order.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/moment_tensors.hpp"

namespace taylorscope {
namespace {

using cuda::DeviceBuffer;

constexpr size_t kTileBudgetBytes = size_t{1} << 30;    // one group's tiles and scaled operands
constexpr size_t kStagingBytes = size_t{16} << 20;      // each of the two pinned upload buffers
constexpr size_t kCacheReserveBytes = size_t{1} << 30;  // device memory the element cache leaves free
constexpr int kInFlight = 16;                           // groups queued ahead of the GPU

void check_order(int n) {
  if (n < 1 || n > kMaxTensorOrder) throw InputError("tensor order must be 1..4, got " + std::to_string(n));
}

template <class T>
void to_device(DeviceBuffer<T>& buffer, const T* host, size_t n, cudaStream_t stream) {
  buffer.ensure_size(n);
  if (n > 0) TS_CUDA_CHECK(cudaMemcpyAsync(buffer.data(), host, n * sizeof(T), cudaMemcpyHostToDevice, stream));
}

// Page-locked host memory for the staged upload; move-less, freed on destruction.
class PinnedDoubles {
 public:
  PinnedDoubles() = default;
  ~PinnedDoubles() {
    if (ptr_) cudaFreeHost(ptr_);  // cannot throw from a destructor
  }
  PinnedDoubles(const PinnedDoubles&) = delete;
  PinnedDoubles& operator=(const PinnedDoubles&) = delete;
  double* data() { return ptr_; }
  void ensure_size(size_t n) {
    if (n <= size_) return;
    if (ptr_) TS_CUDA_CHECK(cudaFreeHost(ptr_));
    ptr_ = nullptr;
    size_ = 0;
    void* p = nullptr;
    TS_CUDA_CHECK(cudaMallocHost(&p, n * sizeof(double)));
    ptr_ = static_cast<double*>(p);
    size_ = n;
  }

 private:
  double* ptr_ = nullptr;
  size_t size_ = 0;
};

class CudaTensorBackend final : public TensorBackend {
 public:
  explicit CudaTensorBackend(int device);
  ~CudaTensorBackend() override;
  CudaTensorBackend(const CudaTensorBackend&) = delete;
  CudaTensorBackend& operator=(const CudaTensorBackend&) = delete;

  std::string device_name() const override { return name_; }
  int data_device() const override { return device_; }
  void upload(const TensorSources& sources) override;
  int64_t E() const override { return uploaded_ ? E_ : 0; }
  TensorSweep sweep(int order, const HistogramRange* ranges, const SweepProgress& progress,
                    const TileRange& tiles) override;

 private:
  void select_device() const { TS_CUDA_CHECK(cudaSetDevice(device_)); }
  void upload_sorted_rows(const Dataset& d);
  bool reserve_cache(size_t doubles);
  void run_gemm(const cuda::GemmCall& c);

  int device_;
  std::string name_;  // first: selecting the device before the handles are made
  int sms_ = 0, stats_blocks_ = 0;
  cuda::Stream stream_;
  cuda::CublasHandle cublas_;
  std::array<cuda::Event, kInFlight> in_flight_;
  std::array<cuda::Event, 2> staged_;  // the copy that last read each staging buffer
  PinnedDoubles staging_[2];

  // What upload() made resident. J: rows sorted by class, class α owns rows
  // [class_begin_[α], class_begin_[α+1]). T: U, W and UW.
  bool uploaded_ = false, has_J_ = false, has_T_ = false;
  int M_ = 0;
  int64_t E_ = 0, N_ = 0, H_ = 0;
  std::vector<int64_t> class_begin_;
  DeviceBuffer<double> Zs_, class_count_, ones_, U_, W_, UW_;

  // Sweep workspace, kept across sweeps.
  DeviceBuffer<double> S_, T_, YJ_, YT_;
  DeviceBuffer<cuda::PrefixEntry> prefixes_;
  DeviceBuffer<MomentAccumulator> slots_;
  DeviceBuffer<unsigned long long> hist_;
  // The element cache: J's values, then T's (those present), of the moments
  // sweep of order cache_order_ (0: none to replay) over the tiles cache_tiles_.
  DeviceBuffer<double> cache_;
  int cache_order_ = 0;
  TileRange cache_tiles_;
};

CudaTensorBackend::CudaTensorBackend(int device)
    : device_(device), name_(cuda::select_device_named(device)), cublas_(stream_) {
  TS_CUDA_CHECK(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device_));
  stats_blocks_ = cuda::tile_statistics_blocks(device_);
}

CudaTensorBackend::~CudaTensorBackend() {
  // Best effort: a destructor cannot throw. The buffers and handles are
  // released after this body, with the device still selected.
  cudaSetDevice(device_);
  cudaStreamSynchronize(stream_);
}

// The checks and the layout of prepare_inputs in moment_tensors_cpu.cpp.
void CudaTensorBackend::upload(const TensorSources& src) {
  uploaded_ = false;
  cache_order_ = 0;
  if (!src.data && !src.theta) throw InputError("tensors: nothing to stream (no data and no θ)");
  select_device();
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // nothing of a previous sweep still reads the buffers
  cache_ = DeviceBuffer<double>();
  has_J_ = has_T_ = false;
  N_ = H_ = 0;
  std::vector<double> counts, ones;  // host sources of async copies: kept to the final synchronisation
  if (src.data) {
    const Dataset& d = *src.data;
    require_data_readable_by(d, device_, name_);
    class_begin_.assign(d.M + 1, 0);
    int64_t largest = 0;
    for (int a = 0; a < d.M; ++a) {
      if (d.class_counts.at(a) == 0)
        throw InputError(d.spec + ": class " + std::to_string(a) +
                         " has no samples, so J^(n) (a class-conditional moment) is undefined");
      class_begin_[a + 1] = class_begin_[a] + d.class_counts[a];
      largest = std::max(largest, d.class_counts[a]);
    }
    if (class_begin_[d.M] != d.N || d.labels.size() != static_cast<size_t>(d.N) ||
        d.Z.size() != static_cast<size_t>(d.N * d.E))
      throw InputError(d.spec + ": Z, labels and class counts do not match N = " + std::to_string(d.N));
    if (d.E > INT_MAX || largest > INT_MAX)
      throw InputError(d.spec + ": E or a class count is too large for the CUDA tensor backend");
    M_ = d.M;
    E_ = d.E;
    N_ = d.N;
    upload_sorted_rows(d);
    counts.resize(d.M);
    for (int a = 0; a < d.M; ++a) counts[a] = static_cast<double>(d.class_counts[a]);
    to_device(class_count_, counts.data(), counts.size(), stream_);
    ones.assign(static_cast<size_t>(largest), 1.0);
    to_device(ones_, ones.data(), ones.size(), stream_);
    has_J_ = true;
  }
  if (src.theta) {
    const Params& p = *src.theta;
    if (src.data) check_params_fit(p, src.data->E, src.data->M, "θ");
    if (p.U.size() != static_cast<size_t>(p.M * p.H) || p.W.size() != static_cast<size_t>(p.H * p.E))
      throw InputError("θ: U and W do not match M = " + std::to_string(p.M) + ", H = " + std::to_string(p.H) +
                       ", E = " + std::to_string(p.E));
    if (p.E > INT_MAX || p.H > INT_MAX || p.M > INT_MAX)
      throw InputError("θ: M, H or E is too large for the CUDA tensor backend");
    M_ = static_cast<int>(p.M);
    E_ = p.E;
    H_ = p.H;
    to_device(U_, p.U.data(), p.U.size(), stream_);
    to_device(W_, p.W.data(), p.W.size(), stream_);
    UW_.ensure_size(static_cast<size_t>(p.M * p.H * p.E));
    cuda::class_weighted_rows(U_.data(), W_.data(), M_, H_, E_, UW_.data(), stream_);
    has_T_ = true;
  }
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  uploaded_ = true;
}

// Z with the rows in stable class order, gathered into two pinned buffers in
// turn so that the host fills one while the other is copied; or, for values
// already in this GPU's memory (a CUDA tensor), gathered on the device.
void CudaTensorBackend::upload_sorted_rows(const Dataset& d) {
  const int64_t N = d.N, E = d.E;
  Zs_.ensure_size(static_cast<size_t>(N * E));
  if (N * E == 0) return;
  const std::vector<int64_t> order = class_order(d.labels, d.M, d.spec).rows;
  if (d.Z.on_device()) {
    cuda::gather_rows(d.Z.device_data(), order, E, Zs_.data(), stream_);
    return;
  }
  const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(kStagingBytes / sizeof(double)) / E);
  for (PinnedDoubles& buffer : staging_) buffer.ensure_size(static_cast<size_t>(rows * E));
  for (int64_t r0 = 0, chunk = 0; r0 < N; r0 += rows, ++chunk) {
    const int b = static_cast<int>(chunk % 2);
    TS_CUDA_CHECK(cudaEventSynchronize(staged_[b]));
    const int64_t n = std::min(rows, N - r0);
    double* stage = staging_[b].data();
    for (int64_t i = 0; i < n; ++i) std::copy_n(d.row(order[r0 + i]), E, stage + i * E);
    TS_CUDA_CHECK(cudaMemcpyAsync(Zs_.data() + r0 * E, stage, static_cast<size_t>(n * E) * sizeof(double),
                                  cudaMemcpyHostToDevice, stream_));
    TS_CUDA_CHECK(cudaEventRecord(staged_[b], stream_));
  }
}

// Makes room for the element cache when it fits in free device memory with
// kCacheReserveBytes to spare (a cache held from before counts as free).
bool CudaTensorBackend::reserve_cache(size_t doubles) {
  size_t free_bytes = 0, total_bytes = 0;
  TS_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  const size_t need = doubles * sizeof(double), held = cache_.bytes();
  if (need > held && need - held + kCacheReserveBytes > free_bytes) {
    cache_ = DeviceBuffer<double>();
    return false;
  }
  try {
    cache_.ensure_size(doubles);
  } catch (const std::runtime_error&) {  // lost a race for the memory: recompute instead
    (void)cudaGetLastError();
    cache_ = DeviceBuffer<double>();
    return false;
  }
  return true;
}

void CudaTensorBackend::run_gemm(const cuda::GemmCall& c) {
  if (c.k == 0) {  // H = 0: an empty sum
    const size_t extent = static_cast<size_t>((c.batch - 1) * c.strideC + static_cast<int64_t>(c.n - 1) * c.ldc + c.m);
    TS_CUDA_CHECK(cudaMemsetAsync(c.C, 0, extent * sizeof(double), stream_));
    return;
  }
  const double one = 1.0, zero = 0.0;
  TS_CUBLAS_CHECK(cublasDgemmStridedBatched(cublas_, CUBLAS_OP_N, CUBLAS_OP_T, c.m, c.n, c.k, &one, c.A, c.lda,
                                            c.strideA, c.B, c.ldb, c.strideB, &zero, c.C, c.ldc, c.strideC,
                                            c.batch));
  TS_CUDA_LAUNCHED(stream_, "cublasDgemmStridedBatched (tile GEMM)");
}

TensorSweep CudaTensorBackend::sweep(int n, const HistogramRange* ranges, const SweepProgress& progress,
                                     const TileRange& tiles) {
  if (!uploaded_) throw std::logic_error("CudaTensorBackend::sweep before upload");
  check_order(n);
  const bool histogram = ranges != nullptr;
  const int bins = histogram ? ranges[0].bins : 0;
  if (histogram)
    for (int k = 0; k < 3; ++k)
      if (ranges[k].bins != bins || bins < 1) throw std::invalid_argument("sweep: histogram ranges need equal bins ≥ 1");
  select_device();
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // a failed sweep may have left work queued

  cuda::SweepShape shape;
  shape.n = n;
  shape.E = E_;
  shape.M = M_;
  shape.J = has_J_;
  shape.T = has_T_;
  shape.class_begin = class_begin_;
  shape.H = H_;
  shape.tiles = tiles;
  const cuda::SweepPlan plan = cuda::plan_sweep(shape, kTileBudgetBytes);

  // The cache: written by a moments sweep, replayed by the histogram sweep of
  // the same order and tiles right after it, dropped by anything else.
  const bool replay = histogram && cache_order_ == n && cache_tiles_.begin == tiles.begin &&
                      cache_tiles_.end == tiles.end;
  cache_order_ = 0;
  if (!replay) {
    if (histogram) cache_ = DeviceBuffer<double>();
    auto workspace = [&] {
      S_.ensure_size(has_J_ ? plan.tile_doubles : 0);
      T_.ensure_size(has_T_ ? plan.tile_doubles : 0);
      YJ_.ensure_size(plan.yJ_doubles);
      YT_.ensure_size(plan.yT_doubles);
    };
    try {
      workspace();
    } catch (const std::runtime_error&) {  // out of memory: a held cache goes first
      if (cache_.size() == 0) throw;
      (void)cudaGetLastError();
      cache_ = DeviceBuffer<double>();
      workspace();
    }
  }
  // After the workspace, so that the cache takes only what is left.
  const int64_t ce = plan.cache_elements;
  const bool caching = !histogram && reserve_cache(static_cast<size_t>(ce) * ((has_J_ ? 1 : 0) + (has_T_ ? 1 : 0)));
  to_device(prefixes_, plan.prefixes.data(), plan.prefixes.size(), stream_);
  const size_t nslots = static_cast<size_t>(stats_blocks_) * 3;
  if (histogram) {
    hist_.ensure_size(3 * static_cast<size_t>(bins));
    TS_CUDA_CHECK(cudaMemsetAsync(hist_.data(), 0, hist_.bytes(), stream_));
  } else {
    slots_.ensure_size(nslots);
    TS_CUDA_CHECK(cudaMemsetAsync(slots_.data(), 0, nslots * sizeof(MomentAccumulator), stream_));  // all empty
  }

  cuda::TileOperands op;
  op.Zs = Zs_.data();
  op.ones = ones_.data();
  op.U = U_.data();
  op.W = W_.data();
  op.UW = UW_.data();
  op.YJ = YJ_.data();
  op.YT = YT_.data();
  op.S = S_.data();
  op.T = T_.data();

  cuda::TileStatsArgs a;
  a.n = n;
  a.M = M_;
  a.class_count = class_count_.data();
  a.N = static_cast<double>(N_);
  a.on[kStreamJ] = has_J_;
  a.on[kStreamT] = has_T_;
  a.on[kStreamJT] = has_J_ && has_T_;
  a.S = has_J_ && !replay ? S_.data() : nullptr;
  a.T = has_T_ && !replay ? T_.data() : nullptr;
  a.from_cache = replay;
  a.slots = slots_.data();
  if (histogram) {
    for (int k = 0; k < 3; ++k) a.range[k] = ranges[k];
    a.bins = bins;
    a.hist = hist_.data();
  }
  double* cache_J = (caching || replay) && has_J_ ? cache_.data() : nullptr;
  double* cache_T = (caching || replay) && has_T_ ? cache_.data() + (has_J_ ? ce : 0) : nullptr;

  const int E = static_cast<int>(E_);
  const int64_t total = static_cast<int64_t>(plan.prefixes.size());
  const int64_t groups = static_cast<int64_t>(plan.groups.size());
  int64_t done = 0;
  auto finished = [&](int64_t g) {
    done += plan.groups[g].K;
    if (progress) progress(done, total);
  };
  double flops = 0;
  for (int64_t gi = 0; gi < groups; ++gi) {
    if (gi >= kInFlight) {
      TS_CUDA_CHECK(cudaEventSynchronize(in_flight_[gi % kInFlight]));
      finished(gi - kInFlight);
    }
    const cuda::TileGroup& g = plan.groups[gi];
    const cuda::PrefixEntry* group_prefixes = prefixes_.data() + g.first;
    if (!replay && g.c0 > 0) {
      if (n >= 3) {
        if (has_J_)
          cuda::scale_rows_by_prefix(Zs_.data(), N_, E, n, group_prefixes, g.K, g.L0, g.c0, YJ_.data(), g.ldy, stream_);
        if (has_T_)
          cuda::scale_rows_by_prefix(W_.data(), H_, E, n, group_prefixes, g.K, g.L0, g.c0, YT_.data(), g.ldy, stream_);
      }
      for (const cuda::GemmCall& c : cuda::tile_gemms(shape, g, op, sms_)) {
        run_gemm(c);
        flops += c.flops();
      }
    }
    a.K = g.K;
    a.c0 = g.c0;
    a.ld = g.ld;
    a.L0 = g.L0;
    a.per_tile = g.K > 0 ? g.elements / g.K : 0;
    a.tile_stride = g.tile_stride;
    a.prefixes = group_prefixes;
    a.cache_J = cache_J ? cache_J + g.cache_offset : nullptr;
    a.cache_T = cache_T ? cache_T + g.cache_offset : nullptr;
    cuda::tile_statistics(a, histogram, stats_blocks_, stream_);
    TS_CUDA_CHECK(cudaEventRecord(in_flight_[gi % kInFlight], stream_));
  }

  TensorSweep out;
  std::vector<MomentAccumulator> slots;
  std::vector<unsigned long long> counts;
  if (histogram) {
    counts.resize(3 * static_cast<size_t>(bins));
    TS_CUDA_CHECK(cudaMemcpyAsync(counts.data(), hist_.data(), counts.size() * sizeof(unsigned long long),
                                  cudaMemcpyDeviceToHost, stream_));
  } else {
    slots.resize(nslots);
    TS_CUDA_CHECK(cudaMemcpyAsync(slots.data(), slots_.data(), nslots * sizeof(MomentAccumulator),
                                  cudaMemcpyDeviceToHost, stream_));
  }
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (int64_t g = std::max<int64_t>(0, groups - kInFlight); g < groups; ++g) finished(g);

  if (histogram) {
    for (int k = 0; k < 3; ++k) out.histogram[k].assign(counts.begin() + k * bins, counts.begin() + (k + 1) * bins);
  } else {
    // Block order: the same merge on every run.
    for (size_t b = 0; b < static_cast<size_t>(stats_blocks_); ++b)
      for (int k = 0; k < 3; ++k) moments_merge(out.acc[k], slots[b * 3 + k]);
  }
  out.gemm_flops = flops;
  if (replay) cache_ = DeviceBuffer<double>();
  if (caching) {
    cache_order_ = n;
    cache_tiles_ = tiles;
  }
  return out;
}

}  // namespace

std::unique_ptr<TensorBackend> make_cuda_tensor_backend(int device) {
  cuda::require_device(device);
  return std::make_unique<CudaTensorBackend>(device);
}

}  // namespace taylorscope
