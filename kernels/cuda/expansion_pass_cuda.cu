// The CUDA expansion backend: the pass of expansion_pass.hpp on one GPU.
//
// upload() makes the data resident once, rows sorted stably by class (every
// field of PassSums is a sum over samples, so the order is irrelevant, and
// sorted rows make each class a contiguous run for the class power sums).
// Host rows are staged in that order and copied over; rows already in this
// GPU's memory (a borrowed device array, data_values.hpp) are gathered on
// the device (gather_rows.cu), or read where they are when they already
// come in class order: the same sorted rows either way, so the same bits.
// run() copies θ and the plan, then walks the rows in chunks of a fixed
// size (CudaBackendOptions::chunk_bytes and the shape decide it, never the
// free memory: the chunking sets the sums' last bits); per chunk:
//   A0 = Z_chunk Wᵀ                  cublasDgemm                (R×H)
//   class power sums of A0           class_power_sums.cu        (no bias)
//   class sums of Z_chunk            class_power_sums.cu at P = 1 over E
//   stage 1: G = hidden contraction  hidden_contraction.cu      (R×C×M)
//   stage 2: per-sample jets, sums   sample_action_kernel.cu
// (a power_sums_only plan runs neither stage). The class sums run on a
// second stream beside the stages: they read A0 and Z and mostly wait on
// HBM, while stage 1 keeps the FP64 units and tensor cores busy; an event
// holds the next chunk's GEMM until they have read A0. Each kernel's
// order of summation is its own, so the overlap changes no bit.
// The sums accumulate on the device in chunk order and come back once at
// the end. Nothing uses atomics, so a run is bitwise reproducible — on any
// GPU with the same options, whatever else holds its memory (a run that
// does not fit is refused, not shrunk).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "cuda/class_power_sums.cuh"
#include "cuda/cuda_check.hpp"
#include "cuda/cuda_handles.hpp"
#include "cuda/gather_rows.cuh"
#include "cuda/hidden_contraction.cuh"
#include "cuda/sample_action_kernel.cuh"
#include "taylorscope/class_order.hpp"
#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/memory_budget.hpp"
#include "taylorscope/sample_action.hpp"

namespace taylorscope {
namespace {

using cuda::DeviceBuffer;

constexpr int64_t kMinChunkRows = 256;
constexpr int64_t kMaxChunkRows = int64_t{1} << 24;  // row and segment indices stay in int
constexpr size_t kStagingBytes = size_t{64} << 20;   // host staging for the sorted upload

template <class T>
void to_device(DeviceBuffer<T>& buffer, const T* host, size_t n, cudaStream_t stream) {
  buffer.ensure_size(n);
  if (n > 0)
    TS_CUDA_CHECK(cudaMemcpyAsync(buffer.data(), host, n * sizeof(T), cudaMemcpyHostToDevice, stream));
}

// How run() (or a stage) walks sorted rows [begin, end): `count` chunks of
// `rows` rows (the last may be shorter), each cut into segments of ≤
// kSegmentRows rows of one class.
struct ChunkPlan {
  int64_t rows = 0, count = 0;
  std::vector<cuda::RowSegment> segments;  // chunk-local rows, chunk after chunk
  std::vector<int> seg_first;              // count+1: chunk c owns [seg_first[c], seg_first[c+1])
  std::vector<int> class_first;            // count×(M+1), relative to seg_first[c]
  int max_segments = 0;                    // most segments in one chunk
};

ChunkPlan plan_chunks(int64_t begin, int64_t end, int64_t rows, const std::vector<int64_t>& class_begin) {
  const int M = static_cast<int>(class_begin.size()) - 1;
  ChunkPlan cp;
  cp.rows = rows;
  cp.count = (end - begin + rows - 1) / rows;
  cp.seg_first.push_back(0);
  for (int64_t c = 0; c < cp.count; ++c) {
    const int64_t r0 = begin + c * rows, r1 = std::min(end, r0 + rows);
    const int first = static_cast<int>(cp.segments.size());
    for (int a = 0; a < M; ++a) {
      cp.class_first.push_back(static_cast<int>(cp.segments.size()) - first);
      const int64_t lo = std::max(class_begin[a], r0), hi = std::min(class_begin[a + 1], r1);
      for (int64_t s = lo; s < hi; s += cuda::kSegmentRows)
        cp.segments.push_back({static_cast<int>(s - r0),
                               static_cast<int>(std::min<int64_t>(s + cuda::kSegmentRows, hi) - r0)});
    }
    const int n = static_cast<int>(cp.segments.size()) - first;
    cp.class_first.push_back(n);
    cp.seg_first.push_back(static_cast<int>(cp.segments.size()));
    cp.max_segments = std::max(cp.max_segments, n);
  }
  return cp;
}

class CudaExpansionBackend final : public ExpansionBackend {
 public:
  explicit CudaExpansionBackend(const CudaBackendOptions& options);
  ~CudaExpansionBackend() override;
  CudaExpansionBackend(const CudaExpansionBackend&) = delete;
  CudaExpansionBackend& operator=(const CudaExpansionBackend&) = delete;

  std::string device_name() const override { return name_; }
  int data_device() const override { return options_.device; }
  void upload(const Dataset& data) override;
  // Rows read in place from the caller's device array are the caller's:
  // forget them, as the CPU backend forgets its reference. A copy (Z_) stays.
  void release() override {
    if (rows_ != Z_.data()) {
      rows_ = nullptr;
      uploaded_ = false;
    }
  }
  PassSums run(const Params& theta, const PassPlan& plan) override;

  void begin_stages(const Params& theta, const PassPlan& plan, ShardRange hidden) override;
  void hidden_stage(ShardRange rows, double* G) override;
  void sample_stage(ShardRange rows, const double* G) override;
  PassSums end_stages() override;

 private:
  // The checks every pass makes of θ and the plan against the resident data.
  void check_run(const Params& theta, const PassPlan& plan) const;
  // θ's hidden units [hidden.begin, hidden.end) (W rows, U columns
  // packed for the hidden contraction, b) and the whole θ's c and c′
  // onto the device, with the plan's Taylor coefficients (k < K) and t's.
  void upload_theta(const Params& theta, const PassPlan& plan, ShardRange hidden, int K);
  // A0 (rows×H) = Z[r0, r0+rows) W_ᵀ for the W_ on the device.
  void gemm_A0(int64_t r0, int rows, int H);
  // Stage 1 on the chunk in A0_ (rows × H units of W_, U_packed_, b_) into G_.
  void contract(int rows, int H, const Activation& act, int Kp, int T);
  // Stage 2 on the chunk of sorted rows [r0, r0+rows) whose G is in G_,
  // added into sample_sums_.
  void sample(int64_t r0, int rows, int K, int Kp, int T);
  // The chunk's class segments and their class index onto the device.
  void upload_segments(const ChunkPlan& chunks);
  // Class power sums of A0 (units H) or class sums of Z (P = 1 over E) for
  // chunk `chunk` of `chunks`, into `totals`.
  void class_sums_of(const double* X, int H, int P, const ChunkPlan& chunks, int64_t chunk, double* partials,
                     double* totals, cudaStream_t stream);

  int64_t chunk_rows(int64_t H, int C, int M, int P) const;
  void require_fits(size_t need, size_t held, int64_t rows, int64_t H, int K) const;

  CudaBackendOptions options_;
  std::string name_;  // first: selecting the device before the handles are made
  cuda::Stream stream_;
  cuda::Stream side_;                          // run()'s class sums, beside the stages
  cuda::Event a0_ready_, class_sums_done_;     // A0 written / read by the class sums
  cuda::CublasHandle cublas_;

  // The resident data set. shape_ carries spec, N, E, M (no rows) for
  // check_pass_inputs; class c owns sorted rows [class_begin_[c], class_begin_[c+1]).
  bool uploaded_ = false;
  Dataset shape_;
  std::vector<int64_t> class_begin_, class_count_;
  DeviceBuffer<double> Z_;
  // The sorted rows the pass reads: Z_, or a borrowed device array that came
  // in class order (the caller keeps it alive, as DataValues::borrow says).
  const double* rows_ = nullptr;
  DeviceBuffer<int32_t> labels_;

  // θ and the plan of the current run.
  DeviceBuffer<double> W_, U_packed_, b_, c_, c_shift_, taylor_, t_values_;
  SigmoidLadder ladder_;  // of the plan's t (pass_channels.hpp), as the CPU pass forms its σ channels
  // Chunk workspace, kept across runs.
  DeviceBuffer<double> A0_, G_, seg_partials_, zseg_partials_, block_partials_;
  DeviceBuffer<cuda::RowSegment> segments_;
  DeviceBuffer<int> class_first_;
  // Running totals: sample sums (jet[0..K], direct[0..T)), class powers and
  // class sums of Z.
  DeviceBuffer<double> sample_sums_, class_power_, class_sum_;

  // The sorted labels on the host (the stages count their rows' classes).
  std::vector<int32_t> host_labels_;
  // Between begin_stages and end_stages.
  struct Staged {
    bool active = false;
    bool stages = true;  // !plan.power_sums_only
    int M = 0, H = 0, K = 0, P = 0, Kp = 0, T = 0, C = 0;
    int64_t rows = 0;  // rows per chunk
    std::vector<int64_t> class_count;
  } staged_;
  PassPlan stage_plan_;
};

CudaExpansionBackend::CudaExpansionBackend(const CudaBackendOptions& options)
    : options_(options), name_(cuda::select_device_named(options.device)), cublas_(stream_) {}

CudaExpansionBackend::~CudaExpansionBackend() {
  // Best effort: a destructor cannot throw. The buffers and handles are
  // released after this body, with the device still selected.
  cudaSetDevice(options_.device);
  cudaStreamSynchronize(side_);
  cudaStreamSynchronize(stream_);
}

void CudaExpansionBackend::upload(const Dataset& data) {
  uploaded_ = false;
  const int64_t N = data.N, E = data.E;
  const int M = data.M;
  if (N < 0 || E < 0 || M < 0 || data.Z.size() != static_cast<size_t>(N * E) ||
      data.labels.size() != static_cast<size_t>(N))
    throw InputError(data.spec + ": Z and labels do not match N = " + std::to_string(N) +
                     ", E = " + std::to_string(E));
  if (E > INT_MAX) throw InputError(data.spec + ": E is too large for the CUDA backend");
  require_data_readable_by(data, *this);

  // Stable class order: sorted row r is original row order[r].
  ClassOrder sorted = class_order(data.labels, M, data.spec);
  const std::vector<int64_t>& order = sorted.rows;
  class_begin_ = std::move(sorted.class_begin);
  class_count_.assign(M, 0);
  for (int a = 0; a < M; ++a) class_count_[a] = class_begin_[a + 1] - class_begin_[a];
  std::vector<int32_t> sorted_labels(N);
  for (int64_t r = 0; r < N; ++r) sorted_labels[r] = data.labels[order[r]];

  TS_CUDA_CHECK(cudaSetDevice(options_.device));
  labels_.ensure_size(static_cast<size_t>(N));
  rows_ = nullptr;
  if (data.Z.on_device()) {
    bool in_order = true;
    for (int64_t r = 0; r < N && in_order; ++r) in_order = order[r] == r;
    if (in_order) {
      rows_ = data.Z.device_data();
      Z_ = DeviceBuffer<double>();  // an earlier upload's copy is not read any more
    } else {
      Z_.ensure_size(static_cast<size_t>(N * E));
      cuda::gather_rows(data.Z.device_data(), order, E, Z_.data(), stream_);
    }
  } else {
    Z_.ensure_size(static_cast<size_t>(N * E));
    if (E > 0) {
      const int64_t stage_rows = std::max<int64_t>(1, kStagingBytes / (sizeof(double) * E));
      std::vector<double> stage(static_cast<size_t>(std::min(N, stage_rows) * E));
      for (int64_t r0 = 0; r0 < N; r0 += stage_rows) {
        const int64_t n = std::min(stage_rows, N - r0);
        for (int64_t i = 0; i < n; ++i)
          std::copy_n(data.row(order[r0 + i]), E, stage.data() + i * E);
        TS_CUDA_CHECK(cudaMemcpyAsync(Z_.data() + r0 * E, stage.data(), n * E * sizeof(double),
                                      cudaMemcpyHostToDevice, stream_));
        TS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // before `stage` is refilled
      }
    }
  }
  if (!rows_) rows_ = Z_.data();
  to_device(labels_, sorted_labels.data(), sorted_labels.size(), stream_);
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  host_labels_ = std::move(sorted_labels);
  staged_ = Staged{};

  shape_ = Dataset{};
  shape_.spec = data.spec;
  shape_.N = N;
  shape_.E = E;
  shape_.M = M;
  uploaded_ = true;
}

// Rows per chunk: A0 (H doubles a row), G (C·M) and the class-power and
// class-sum partials (P·H + E per segment: one per kSegmentRows rows plus up
// to M+1 more per chunk) within options_.chunk_bytes. A function of the shape and the
// options alone (review N1: sizing it by the free memory made the bits of
// the sums depend on what else held the GPU).
int64_t CudaExpansionBackend::chunk_rows(int64_t H, int C, int M, int P) const {
  const size_t budget = options_.chunk_bytes;
  const size_t E = static_cast<size_t>(shape_.E);
  const size_t per_row = sizeof(double) * (H + static_cast<size_t>(C) * M +
                                           (static_cast<size_t>(P) * H + E + cuda::kSegmentRows - 1) /
                                               cuda::kSegmentRows);
  const size_t fixed = sizeof(double) * (static_cast<size_t>(P) * H + E) * (M + 1);
  int64_t rows = budget > fixed ? static_cast<int64_t>((budget - fixed) / per_row) : 0;
  rows = std::clamp(rows, kMinChunkRows, kMaxChunkRows);
  if (options_.max_chunk_rows > 0) rows = std::min(rows, options_.max_chunk_rows);
  return std::max<int64_t>(1, std::min(rows, shape_.N));
}

// Refuses a run whose buffers (need bytes, of which held are allocated
// already and reused) do not fit in the device's free memory, before
// anything is allocated: one line instead of a cudaMalloc failure.
void CudaExpansionBackend::require_fits(size_t need, size_t held, int64_t rows, int64_t H, int K) const {
  if (need <= held) return;
  size_t free_bytes = 0, total_bytes = 0;
  TS_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (need - held <= free_bytes - free_bytes / 16) return;  // 1/16 spare for the allocator and cuBLAS
  throw InputError(name_ + ": the expansion pass at H = " + std::to_string(H) + ", K = " + std::to_string(K) +
                   " needs " + format_bytes(static_cast<double>(need)) + " of GPU memory (chunks of " +
                   std::to_string(rows) + " rows), more than the " +
                   format_bytes(static_cast<double>(free_bytes + held)) +
                   " free; free the GPU or use --device cpu");
}

void CudaExpansionBackend::check_run(const Params& theta, const PassPlan& plan) const {
  if (!uploaded_) throw std::logic_error("CudaExpansionBackend: a pass before upload");
  check_pass_inputs(shape_, theta, plan);
  const int M = shape_.M;
  if (M > cuda::kMaxClasses)
    throw InputError(name_ + ": the CUDA backend supports at most " +
                     std::to_string(cuda::kMaxClasses) + " classes; the data set has " +
                     std::to_string(M));
  if (theta.H > INT_MAX / 2) throw InputError(name_ + ": H is too large for the CUDA backend");
  const size_t H = static_cast<size_t>(theta.H), E = static_cast<size_t>(shape_.E);
  if (theta.U.size() != static_cast<size_t>(M) * H || theta.W.size() != H * E || theta.b.size() != H ||
      theta.c.size() != static_cast<size_t>(M))
    throw InputError(name_ + ": θ's arrays do not match M, H, E");
}

void CudaExpansionBackend::upload_theta(const Params& theta, const PassPlan& plan, ShardRange hidden, int K) {
  const int M = shape_.M;
  const int64_t H = theta.H, E = shape_.E, Hs = hidden.size();
  TS_CUDA_CHECK(cudaSetDevice(options_.device));
  // U goes in the hidden contraction's B-fragment order (zero-padded).
  std::vector<double> U_packed(cuda::hidden_contraction_u_size(M, Hs)), c_shift(M);
  cuda::pack_hidden_contraction_u(theta.U.data(), M, H, hidden.begin, Hs, U_packed.data());
  // c′ sums U over every unit: the logits are the whole θ's.
  order1_logits(theta.U.data(), theta.c.data(), K > 0 ? plan.taylor[0] : 0.0, M, H, c_shift.data());
  to_device(W_, theta.W.data() + hidden.begin * E, static_cast<size_t>(Hs * E), stream_);
  to_device(U_packed_, U_packed.data(), U_packed.size(), stream_);
  to_device(b_, theta.b.data() + hidden.begin, static_cast<size_t>(Hs), stream_);
  to_device(c_, theta.c.data(), theta.c.size(), stream_);
  to_device(c_shift_, c_shift.data(), c_shift.size(), stream_);
  to_device(taylor_, plan.taylor.data(), static_cast<size_t>(K), stream_);
  to_device(t_values_, plan.t_values.data(), plan.power_sums_only ? 0 : plan.t_values.size(), stream_);
  ladder_ = plan.power_sums_only ? SigmoidLadder{}
                                 : make_sigmoid_ladder(plan.act, plan.t_values.data(),
                                                       static_cast<int>(plan.t_values.size()));
}

void CudaExpansionBackend::gemm_A0(int64_t r0, int rows, int H) {
  // A0 (rows×H, row-major) = Z_chunk Wᵀ. In cuBLAS's column-major terms
  // A0ᵀ (H×rows) = Wᵀᵀ·Zᵀ, where W row-major is Wᵀ (E×H, ld E) and the Z
  // chunk row-major is Zᵀ (E×rows, ld E).
  const int E = static_cast<int>(shape_.E);
  if (H == 0 || rows == 0) return;
  if (E > 0) {
    const double one = 1.0, zero = 0.0;
    TS_CUBLAS_CHECK(cublasDgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, H, rows, E, &one, W_.data(), E,
                                rows_ + r0 * E, E, &zero, A0_.data(), H));
    TS_CUDA_LAUNCHED(stream_, "cublasDgemm A0 = Z Wᵀ");
  } else {
    TS_CUDA_CHECK(cudaMemsetAsync(A0_.data(), 0, static_cast<size_t>(rows) * H * sizeof(double), stream_));
  }
}

void CudaExpansionBackend::upload_segments(const ChunkPlan& chunks) {
  to_device(segments_, chunks.segments.data(), chunks.segments.size(), stream_);
  to_device(class_first_, chunks.class_first.data(), chunks.class_first.size(), stream_);
}

void CudaExpansionBackend::class_sums_of(const double* X, int H, int P, const ChunkPlan& chunks, int64_t chunk,
                                         double* partials, double* totals, cudaStream_t stream) {
  cuda::ClassPowerArgs cp;
  cp.A0 = X;
  cp.H = H;
  cp.M = shape_.M;
  cp.P = P;
  cp.segments = segments_.data() + chunks.seg_first[chunk];
  cp.nseg = chunks.seg_first[chunk + 1] - chunks.seg_first[chunk];
  cp.class_first_seg = class_first_.data() + chunk * (shape_.M + 1);
  cp.seg_partials = partials;
  cp.class_power = totals;
  cuda::class_power_sums(cp, stream);
}

void CudaExpansionBackend::contract(int rows, int H, const Activation& act, int Kp, int T) {
  cuda::HiddenContractionArgs hc;
  hc.A0 = A0_.data();
  hc.bias = b_.data();
  hc.U_packed = U_packed_.data();
  hc.t_values = t_values_.data();
  hc.act = act;
  hc.ladder = ladder_;
  hc.R = rows;
  hc.H = H;
  hc.M = shape_.M;
  hc.powers = Kp;
  hc.T = T;
  hc.G = G_.data();
  cuda::hidden_contraction(hc, stream_);
}

void CudaExpansionBackend::sample(int64_t r0, int rows, int K, int Kp, int T) {
  cuda::SampleActionArgs sa;
  sa.G = G_.data();
  sa.labels = labels_.data() + r0;
  sa.c_shift = c_shift_.data();
  sa.c = c_.data();
  sa.taylor = taylor_.data();
  sa.t_values = t_values_.data();
  sa.R = rows;
  sa.K = K;
  sa.M = shape_.M;
  sa.powers = Kp;
  sa.T = T;
  sa.block_partials = block_partials_.data();
  sa.sums = sample_sums_.data();
  cuda::sample_action(sa, stream_);
}

PassSums CudaExpansionBackend::run(const Params& theta, const PassPlan& plan) {
  // The running totals and θ on the device are the stages' until end_stages.
  if (staged_.active) throw std::logic_error("CudaExpansionBackend::run between begin_stages and end_stages");
  check_run(theta, plan);
  const int M = shape_.M;
  const int64_t N = shape_.N;
  const int H = static_cast<int>(theta.H), E = static_cast<int>(shape_.E);
  const bool stages = !plan.power_sums_only;
  const int K = stages ? plan.order : 0, P = plan.max_power, Kp = plan.power_channels();
  const int T = stages ? static_cast<int>(plan.t_values.size()) : 0, C = plan.channels();

  PassSums sums = PassSums::zeros(plan, M, H, E);
  sums.class_count = class_count_;
  upload_theta(theta, plan, ShardRange{0, theta.H}, K);

  // Chunks, their class segments, workspace and zeroed running totals.
  const ChunkPlan chunks = plan_chunks(0, N, chunk_rows(H, C, M, P), class_begin_);
  const size_t R = static_cast<size_t>(chunks.rows);
  {
    const size_t nss = static_cast<size_t>(K) + 1 + T;
    const size_t need = sizeof(double) * (R * H + R * C * M + static_cast<size_t>(chunks.max_segments) * (P * H + E) +
                                          cuda::sample_action_partials_size(static_cast<int>(R), K, M, T) +
                                          nss + sums.class_power.size() + sums.class_sum.size());
    const size_t held = A0_.bytes() + G_.bytes() + seg_partials_.bytes() + zseg_partials_.bytes() +
                        block_partials_.bytes() + sample_sums_.bytes() + class_power_.bytes() + class_sum_.bytes();
    require_fits(need, held, chunks.rows, H, K);
  }
  A0_.ensure_size(R * H);
  G_.ensure_size(R * C * M);
  seg_partials_.ensure_size(static_cast<size_t>(chunks.max_segments) * P * H);
  zseg_partials_.ensure_size(static_cast<size_t>(chunks.max_segments) * E);
  block_partials_.ensure_size(cuda::sample_action_partials_size(static_cast<int>(R), K, M, T));
  upload_segments(chunks);
  const size_t nsample_sums = stages ? static_cast<size_t>(K) + 1 + T : 0;
  sample_sums_.ensure_size(nsample_sums);
  class_power_.ensure_size(sums.class_power.size());
  class_sum_.ensure_size(sums.class_sum.size());
  if (nsample_sums > 0)
    TS_CUDA_CHECK(cudaMemsetAsync(sample_sums_.data(), 0, nsample_sums * sizeof(double), stream_));
  if (!sums.class_power.empty())
    TS_CUDA_CHECK(cudaMemsetAsync(class_power_.data(), 0, sums.class_power.size() * sizeof(double),
                                  stream_));
  if (!sums.class_sum.empty())
    TS_CUDA_CHECK(cudaMemsetAsync(class_sum_.data(), 0, sums.class_sum.size() * sizeof(double), stream_));

  for (int64_t chunk = 0; chunk < chunks.count; ++chunk) {
    const int64_t r0 = chunk * chunks.rows;
    const int rows = static_cast<int>(std::min(chunks.rows, N - r0));

    // The last chunk's class sums have read A0 before the GEMM overwrites it.
    if (chunk > 0) TS_CUDA_CHECK(cudaStreamWaitEvent(stream_, class_sums_done_, 0));
    gemm_A0(r0, rows, H);
    TS_CUDA_CHECK(cudaEventRecord(a0_ready_, stream_));
    TS_CUDA_CHECK(cudaStreamWaitEvent(side_, a0_ready_, 0));
    class_sums_of(A0_.data(), H, P, chunks, chunk, seg_partials_.data(), class_power_.data(), side_);
    // The class sums of z are the first power of z over E "units": the same
    // kernels, the same fixed order.
    class_sums_of(rows_ + r0 * E, E, 1, chunks, chunk, zseg_partials_.data(), class_sum_.data(), side_);
    TS_CUDA_CHECK(cudaEventRecord(class_sums_done_, side_));
    if (!stages) continue;

    contract(rows, H, plan.act, Kp, T);  // stage 1: G = Σ_β U g(a)
    sample(r0, rows, K, Kp, T);          // stage 2: per-sample jets and direct losses, summed
  }
  if (chunks.count > 0) TS_CUDA_CHECK(cudaStreamWaitEvent(stream_, class_sums_done_, 0));

  std::vector<double> sample_sums(nsample_sums);
  if (nsample_sums > 0)
    TS_CUDA_CHECK(cudaMemcpyAsync(sample_sums.data(), sample_sums_.data(), nsample_sums * sizeof(double),
                                  cudaMemcpyDeviceToHost, stream_));
  if (!sums.class_power.empty())
    TS_CUDA_CHECK(cudaMemcpyAsync(sums.class_power.data(), class_power_.data(),
                                  sums.class_power.size() * sizeof(double), cudaMemcpyDeviceToHost,
                                  stream_));
  if (!sums.class_sum.empty())
    TS_CUDA_CHECK(cudaMemcpyAsync(sums.class_sum.data(), class_sum_.data(), sums.class_sum.size() * sizeof(double),
                                  cudaMemcpyDeviceToHost, stream_));
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (stages) {
    std::copy_n(sample_sums.begin(), K + 1, sums.jet.begin());
    std::copy_n(sample_sums.begin() + K + 1, T, sums.direct.begin());
  }
  return sums;
}

void CudaExpansionBackend::begin_stages(const Params& theta, const PassPlan& plan, ShardRange hidden) {
  check_run(theta, plan);
  if (hidden.begin < 0 || hidden.end > theta.H || hidden.begin > hidden.end)
    throw std::logic_error("CudaExpansionBackend::begin_stages: hidden units outside 0..H");
  Staged st;
  st.stages = !plan.power_sums_only;
  st.M = shape_.M;
  st.H = static_cast<int>(hidden.size());
  st.K = st.stages ? plan.order : 0;
  st.P = plan.max_power;
  st.Kp = plan.power_channels();
  st.T = st.stages ? static_cast<int>(plan.t_values.size()) : 0;
  st.C = plan.channels();
  st.rows = chunk_rows(st.H, st.C, st.M, st.P);
  st.class_count.assign(st.M, 0);
  const int E = static_cast<int>(shape_.E);
  const size_t R = static_cast<size_t>(st.rows);
  // A chunk has at most one partial segment per class beyond its full ones.
  const size_t max_segments = (R + cuda::kSegmentRows - 1) / cuda::kSegmentRows + st.M;
  const size_t nss = st.stages ? static_cast<size_t>(st.K) + 1 + st.T : 0;
  const size_t npower = static_cast<size_t>(st.P) * st.M * st.H, nsum = static_cast<size_t>(st.M) * E;
  {
    const size_t need = sizeof(double) * (R * st.H + R * st.C * st.M + max_segments * (st.P * st.H + E) +
                                          cuda::sample_action_partials_size(static_cast<int>(R), st.K, st.M, st.T) +
                                          nss + npower + nsum);
    const size_t held = A0_.bytes() + G_.bytes() + seg_partials_.bytes() + zseg_partials_.bytes() +
                        block_partials_.bytes() + sample_sums_.bytes() + class_power_.bytes() + class_sum_.bytes();
    require_fits(need, held, st.rows, st.H, st.K);
  }
  upload_theta(theta, plan, hidden, st.K);
  A0_.ensure_size(R * st.H);
  G_.ensure_size(R * st.C * st.M);
  seg_partials_.ensure_size(max_segments * st.P * st.H);
  zseg_partials_.ensure_size(max_segments * E);
  block_partials_.ensure_size(cuda::sample_action_partials_size(static_cast<int>(R), st.K, st.M, st.T));
  sample_sums_.ensure_size(nss);
  class_power_.ensure_size(npower);
  class_sum_.ensure_size(nsum);
  if (nss > 0) TS_CUDA_CHECK(cudaMemsetAsync(sample_sums_.data(), 0, nss * sizeof(double), stream_));
  if (npower > 0) TS_CUDA_CHECK(cudaMemsetAsync(class_power_.data(), 0, npower * sizeof(double), stream_));
  if (nsum > 0) TS_CUDA_CHECK(cudaMemsetAsync(class_sum_.data(), 0, nsum * sizeof(double), stream_));
  st.active = true;
  staged_ = std::move(st);
  stage_plan_ = plan;
}

void CudaExpansionBackend::hidden_stage(ShardRange rows, double* G) {
  if (!staged_.active) throw std::logic_error("CudaExpansionBackend::hidden_stage outside begin_stages/end_stages");
  if (rows.begin < 0 || rows.end > shape_.N || rows.begin > rows.end)
    throw std::logic_error("CudaExpansionBackend::hidden_stage: rows outside the data");
  const Staged& st = staged_;
  TS_CUDA_CHECK(cudaSetDevice(options_.device));
  const ChunkPlan chunks = plan_chunks(rows.begin, rows.end, st.rows, class_begin_);
  upload_segments(chunks);
  for (int64_t chunk = 0; chunk < chunks.count; ++chunk) {
    const int64_t r0 = rows.begin + chunk * chunks.rows;
    const int n = static_cast<int>(std::min(chunks.rows, rows.end - r0));
    gemm_A0(r0, n, st.H);
    class_sums_of(A0_.data(), st.H, st.P, chunks, chunk, seg_partials_.data(), class_power_.data(), stream_);
    if (st.C == 0) continue;
    contract(n, st.H, stage_plan_.act, st.Kp, st.T);
    // This rank's share of G goes to the host for the all-reduce between the stages.
    TS_CUDA_CHECK(cudaMemcpyAsync(G + (r0 - rows.begin) * st.C * st.M, G_.data(),
                                  static_cast<size_t>(n) * st.C * st.M * sizeof(double), cudaMemcpyDeviceToHost,
                                  stream_));
  }
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // G is the caller's once this returns
}

void CudaExpansionBackend::sample_stage(ShardRange rows, const double* G) {
  if (!staged_.active) throw std::logic_error("CudaExpansionBackend::sample_stage outside begin_stages/end_stages");
  if (rows.begin < 0 || rows.end > shape_.N || rows.begin > rows.end)
    throw std::logic_error("CudaExpansionBackend::sample_stage: rows outside the data");
  Staged& st = staged_;
  const int E = static_cast<int>(shape_.E);
  TS_CUDA_CHECK(cudaSetDevice(options_.device));
  const ChunkPlan chunks = plan_chunks(rows.begin, rows.end, st.rows, class_begin_);
  upload_segments(chunks);
  for (int64_t chunk = 0; chunk < chunks.count; ++chunk) {
    const int64_t r0 = rows.begin + chunk * chunks.rows;
    const int n = static_cast<int>(std::min(chunks.rows, rows.end - r0));
    class_sums_of(rows_ + r0 * E, E, 1, chunks, chunk, zseg_partials_.data(), class_sum_.data(), stream_);
    if (!st.stages) continue;
    if (st.C > 0)
      TS_CUDA_CHECK(cudaMemcpyAsync(G_.data(), G + (r0 - rows.begin) * st.C * st.M,
                                    static_cast<size_t>(n) * st.C * st.M * sizeof(double), cudaMemcpyHostToDevice,
                                    stream_));
    sample(r0, n, st.K, st.Kp, st.T);
  }
  for (int64_t r = rows.begin; r < rows.end; ++r) ++st.class_count[host_labels_[r]];
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // G may be refilled once this returns
}

PassSums CudaExpansionBackend::end_stages() {
  if (!staged_.active) throw std::logic_error("CudaExpansionBackend::end_stages without begin_stages");
  Staged st = std::move(staged_);
  staged_ = Staged{};
  PassSums sums = PassSums::zeros(stage_plan_, st.M, st.H, shape_.E);
  sums.class_count = std::move(st.class_count);
  TS_CUDA_CHECK(cudaSetDevice(options_.device));
  std::vector<double> sample_sums(st.stages ? static_cast<size_t>(st.K) + 1 + st.T : 0);
  if (!sample_sums.empty())
    TS_CUDA_CHECK(cudaMemcpyAsync(sample_sums.data(), sample_sums_.data(), sample_sums.size() * sizeof(double),
                                  cudaMemcpyDeviceToHost, stream_));
  if (!sums.class_power.empty())
    TS_CUDA_CHECK(cudaMemcpyAsync(sums.class_power.data(), class_power_.data(),
                                  sums.class_power.size() * sizeof(double), cudaMemcpyDeviceToHost, stream_));
  if (!sums.class_sum.empty())
    TS_CUDA_CHECK(cudaMemcpyAsync(sums.class_sum.data(), class_sum_.data(), sums.class_sum.size() * sizeof(double),
                                  cudaMemcpyDeviceToHost, stream_));
  TS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (st.stages) {
    std::copy_n(sample_sums.begin(), st.K + 1, sums.jet.begin());
    std::copy_n(sample_sums.begin() + st.K + 1, st.T, sums.direct.begin());
  }
  return sums;
}

}  // namespace

bool cuda_backend_available(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear the error so later calls start clean
    if (why) *why = cudaGetErrorString(status);
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA device is visible";
    return false;
  }
  if (why) why->clear();
  return true;
}

namespace cuda {

void require_device(int device) {
  std::string why;
  if (!cuda_backend_available(&why)) throw InputError("the CUDA backend is unavailable: " + why);
  int count = 0;
  TS_CUDA_CHECK(cudaGetDeviceCount(&count));
  if (device < 0 || device >= count)
    throw InputError("cuda:" + std::to_string(device) + " does not exist (" + std::to_string(count) +
                     " CUDA device(s) visible)");
}

}  // namespace cuda

std::unique_ptr<ExpansionBackend> make_cuda_backend(const CudaBackendOptions& options) {
  cuda::require_device(options.device);
  return std::make_unique<CudaExpansionBackend>(options);
}

std::unique_ptr<ExpansionBackend> make_cuda_backend(int device) {
  CudaBackendOptions options;
  options.device = device;
  return make_cuda_backend(options);
}

}  // namespace taylorscope
