// The CUDA training backend (train_backend.hpp): the step of the CPU
// backend (kernels/cpu/train_cpu.cpp) on one GPU, float64 throughout, the
// same numbers to rounding.
//
// Resident on the device: both data sets, θ (flat ParamLayout), the
// gradient, the optimizer state, the epoch's order and workspace for one
// batch or evaluation chunk. One step on n rows, all on one stream:
//   gather_batch              rows of the order → X (n×E), y
//   A = X Wᵀ                  cublasDgemm
//   bias_activation           A += b, Hs = σ(A)
//   logits = Hs Uᵀ            cublasDgemm
//   softmax_xent              logits += c, δ = softmax − onehot
//   ∇U = δᵀHs/n               cublasDgemm
//   ∇c = Σ_s δ/n              column_sums
//   dA = δU/n                 cublasDgemm
//   dA ∘= σ'(A), ∇b = Σ dA    activation_backward_sums
//   ∇W = dAᵀX                 cublasDgemm (not for RNGD in one process)
//   update, l2 on U and W     optimizer_update (SGD, momentum, Adam), or RNGD's
//                             step_without_grad_w (one process: W moved from dA,
//                             docs/rngd.md) or step (the data-parallel path)
//   batch += 1, step += 1     advance_step_counter
//
// run_batches() replays that sequence as a CUDA graph. The graph reads its
// batch number and step count from a device StepCounter that the step
// itself advances, so one captured step serves every full batch: the host
// sets the counter once, then launches the graph count times. Outside the
// graph run (kernel by kernel, the same code): the short last batch of an
// epoch, RNGD refresh steps (cuSOLVER factorisations and a synchronisation
// to check them), and the first full batch after anything the graph bakes
// in changed — that eager step has cuBLAS pick its kernels and loads every
// module before the capture. A capture that fails leaves the steps eager
// (with one line on stderr) rather than failing the run — unless the
// options (or TAYLORSCOPE_REQUIRE_CUDA_GRAPH=1) require the graph, as the
// tests and the device check do, so that a pass cannot hide a graph that
// never ran. CudaGraphs::off runs every step eagerly: a replayed step must
// equal it bit for bit.
//
// Data-parallel over the ranks of a Communicator (train_backend.hpp; the
// CPU backend's scheme): each rank gathers and differentiates its
// shard_range of the step's rows, scaled by 1/n of the whole batch, and the
// gradient is all-reduced in rank order before the update. With NCCL (a
// DeviceCommunicator, one GPU per rank) the all-reduce is enqueued on the
// stream, so it is part of the captured step (its scratch reserved at init,
// since a capture cannot allocate). Without NCCL the gradient goes through
// the host's MPI all-reduce, which a graph cannot hold: every step then
// runs eagerly. RNGD refresh steps (eager) first run the whole batch's
// forward pass on every rank, so the blocks are the single process's.
// Evaluations shard the split's rows and reduce on the host. With one rank
// none of this runs: the single-process step, bit for bit.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_handles.hpp"
#include "cuda/rngd_cuda.cuh"
#include "cuda/train_kernels.cuh"
#include "taylorscope/communicator.hpp"
#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/train_backend.hpp"

namespace taylorscope {
namespace {

using cuda::DeviceBuffer;

constexpr int64_t kEvalChunkRows = 4096;
// cuBLAS's recommended workspace on Hopper; set explicitly so that captured
// GEMMs never allocate.
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

template <class T>
void to_host(std::vector<T>& host, const T* device, size_t n, cudaStream_t stream) {
  host.resize(n);
  if (n > 0)
    TS_CUDA_CHECK(cudaMemcpyAsync(host.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost, stream));
}

class CudaTrainBackend final : public TrainBackend {
 public:
  explicit CudaTrainBackend(const CudaTrainOptions& options);
  ~CudaTrainBackend() override;
  CudaTrainBackend(const CudaTrainBackend&) = delete;
  CudaTrainBackend& operator=(const CudaTrainBackend&) = delete;

  std::string device_name() const override { return name_; }
  int data_device() const override { return device_; }
  void upload(const Dataset& train, const Dataset& eval) override;
  void init(const Params& theta, const Activation& act, const OptimizerConfig& config) override;
  void step(const std::vector<int64_t>& rows) override;
  void set_order(const std::vector<int64_t>& order) override;
  void run_batches(int64_t first, int64_t count, int64_t batch_size) override;
  SplitMetrics evaluate(Split split, std::vector<double>* grad) override;
  std::vector<double> flat_params() const override;
  OptimizerState optimizer_state() const override;
  void restore(const std::vector<double>& flat_params, const OptimizerState& state) override;

 private:
  struct DeviceData {
    int64_t N = 0;
    DeviceBuffer<double> Z;         // N×E
    DeviceBuffer<int32_t> labels;   // N
  };
  // Everything a captured step bakes in besides the buffers' contents: the
  // batch size, and generations that change when a buffer it reads moves or
  // a value it was captured with (config, shape, RNGD batch size) changes.
  struct GraphKey {
    int64_t batch = 0;
    uint64_t workspace = 0, rngd = 0;
    bool operator==(const GraphKey& o) const {
      return batch == o.batch && workspace == o.workspace && rngd == o.rngd;
    }
  };

  void select_device() const { TS_CUDA_CHECK(cudaSetDevice(device_)); }
  void require_init(const char* what) const;
  void upload_split(const Dataset& d, DeviceData& out);
  template <class T>
  void grow(DeviceBuffer<T>& buffer, size_t n);
  void reserve_rows(int64_t n);
  // Forward over n rows X, y at θ; with grad, ∇S over them (scaled by inv_n)
  // into grad_ (added to it with accumulate); with totals, loss and correct
  // count added to totals_. Leaves A_, Hs_ and delta_ for RNGD, and dA_.
  // Without grad_W, ∇W is left as it was: RNGD's single-process step moves
  // W from dA_ directly (RngdCuda::step_without_grad_w).
  void forward_backward(const double* X, const int32_t* y, int n, double inv_n, bool grad,
                        bool accumulate, bool totals, bool grad_W = true);
  // One optimizer step on the n rows order[base + s] (base from counter, or
  // 0 without one); refresh re-estimates RNGD's blocks on them first.
  void enqueue_step(const int64_t* order, int64_t stride, int n, const cuda::StepCounter* counter,
                    bool refresh);
  bool rngd_refresh_due() const;
  // ∇ summed over the ranks: on the stream with NCCL, else through the host.
  void allreduce_gradient();
  // The data-parallel path: several ranks, or one that asked for it.
  bool parallel() const { return comm_.size() > 1 || data_parallel_path_; }
  // Whether two ranks of comm_ compute on one GPU (`--device cuda:0` on
  // every rank), by the devices' UUIDs. A collective.
  bool ranks_share_a_gpu() const;
  void full_batch_step(int64_t batch_size);
  bool capture(int64_t batch_size);
  void drop_graph();
  void sync() const { TS_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
  void tally(int64_t CudaTrainCounters::*field) const {
    if (counters_) ++(counters_->*field);
  }

  int device_;
  std::string name_;  // first: selecting the device before the handles are made
  Communicator& comm_;
  bool data_parallel_path_;
  std::unique_ptr<DeviceCommunicator> device_comm_;  // NCCL, with several ranks when the build has it
  std::vector<double> host_grad_;                    // the host all-reduce's copy
  CudaGraphs graphs_;
  CudaTrainCounters* counters_;
  cuda::Stream stream_;
  DeviceBuffer<char> cublas_workspace_;  // before cublas_: it outlives the handle that uses it
  cuda::CublasHandle cublas_;
  cuda::CusolverHandle cusolver_;

  bool uploaded_ = false, initialised_ = false;
  int64_t E_ = 0;
  int M_ = 0;
  DeviceData train_, eval_;

  Activation act_;
  OptimizerConfig cfg_;
  Optimizer opt_{OptimizerConfig{}};
  ParamLayout layout_;
  cuda::FlatLayout L_;
  DeviceBuffer<double> theta_, grad_;
  DeviceBuffer<double> state_[2];  // the optimizer's θ-sized arrays (opt_.state_names())
  int64_t step_ = 0;
  cuda::RngdCuda rngd_;

  DeviceBuffer<int64_t> order_, rows_;  // the epoch's order; step()'s rows
  int64_t order_size_ = 0;
  DeviceBuffer<cuda::StepCounter> counter_;

  // Workspace for rows_capacity_ rows.
  int64_t rows_capacity_ = 0;
  DeviceBuffer<double> X_, A_, Hs_, logits_, delta_, dA_, partials_, totals_;
  DeviceBuffer<int32_t> y_;
  DeviceBuffer<int64_t> batch_rows_;
  uint64_t workspace_generation_ = 0;

  cudaGraphExec_t graph_ = nullptr;
  GraphKey graph_key_, warm_key_;  // of graph_; of the last eager full-batch step
  bool graph_failed_ = false;
};

CudaTrainBackend::CudaTrainBackend(const CudaTrainOptions& options)
    : device_(options.device),
      name_(cuda::select_device_named(options.device)),
      comm_(options.comm ? *options.comm : world()),
      data_parallel_path_(options.data_parallel_path),
      graphs_(options.graphs),
      counters_(options.counters),
      cublas_(stream_),
      cusolver_(stream_) {
  if (graphs_ == CudaGraphs::use && cuda::env_flag("TAYLORSCOPE_REQUIRE_CUDA_GRAPH")) graphs_ = CudaGraphs::required;
  // After cublasSetStream, which resets the workspace to cuBLAS's own pool.
  cublas_workspace_.ensure_size(kCublasWorkspaceBytes);
  TS_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_.data(), cublas_workspace_.bytes()));
  counter_.ensure_size(1);
  rngd_.bind(cublas_, cusolver_, stream_);
  // Collective: every rank takes the same branch (one build, one --device,
  // and the same allgathered answer to whether two ranks share a GPU: NCCL
  // refuses two ranks on one device, so those all-reduce through the host).
  if (parallel() && nccl_available(nullptr) && !ranks_share_a_gpu())
    device_comm_ = make_nccl_communicator(comm_, device_);
  if (parallel() && !device_comm_ && graphs_ == CudaGraphs::required)
    throw std::runtime_error(name_ + ": a CUDA graph is required (TAYLORSCOPE_REQUIRE_CUDA_GRAPH), but with " +
                             std::to_string(comm_.size()) +
                             " ranks and no NCCL in this build the gradient is all-reduced through the host, "
                             "which a graph cannot hold");
}

bool CudaTrainBackend::ranks_share_a_gpu() const {
  cudaDeviceProp prop{};
  TS_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  const std::vector<std::string> uuids = comm_.allgather(std::string(prop.uuid.bytes, sizeof prop.uuid.bytes));
  for (size_t a = 0; a < uuids.size(); ++a)
    for (size_t b = a + 1; b < uuids.size(); ++b)
      if (uuids[a] == uuids[b]) return true;
  return false;
}

CudaTrainBackend::~CudaTrainBackend() {
  // Best effort: a destructor cannot throw. The buffers and handles are
  // released after this body, with the device still selected.
  cudaSetDevice(device_);
  cudaStreamSynchronize(stream_);
  if (graph_) cudaGraphExecDestroy(graph_);
}

void CudaTrainBackend::require_init(const char* what) const {
  if (!initialised_) throw std::logic_error(std::string("CudaTrainBackend::") + what + " before init");
}

template <class T>
void CudaTrainBackend::grow(DeviceBuffer<T>& buffer, size_t n) {
  const T* before = buffer.data();
  buffer.ensure_size(n);
  if (buffer.data() != before) ++workspace_generation_;
}

void CudaTrainBackend::upload_split(const Dataset& d, DeviceData& out) {
  if (d.N < 0 || d.Z.size() != static_cast<size_t>(d.N * d.E) ||
      d.labels.size() != static_cast<size_t>(d.N))
    throw InputError(d.spec + ": Z and labels do not match N = " + std::to_string(d.N) +
                     ", E = " + std::to_string(d.E));
  for (int64_t s = 0; s < d.N; ++s)
    if (d.labels[s] < 0 || d.labels[s] >= d.M)
      throw InputError(d.spec + ": label " + std::to_string(d.labels[s]) + " of sample " +
                       std::to_string(s) + " is outside 0.." + std::to_string(d.M - 1));
  grow(out.Z, d.Z.size());
  grow(out.labels, d.labels.size());
  // Values already in this GPU's memory (a CUDA tensor) are copied on the
  // device: the backend's own copy, as for host values.
  if (!d.Z.empty())
    TS_CUDA_CHECK(cudaMemcpyAsync(out.Z.data(), d.Z.on_device() ? d.Z.device_data() : d.Z.data(),
                                  d.Z.size() * sizeof(double),
                                  d.Z.on_device() ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice, stream_));
  if (!d.labels.empty())
    TS_CUDA_CHECK(cudaMemcpyAsync(out.labels.data(), d.labels.data(), d.labels.size() * sizeof(int32_t),
                                  cudaMemcpyHostToDevice, stream_));
  out.N = d.N;
}

void CudaTrainBackend::upload(const Dataset& train, const Dataset& eval) {
  if (train.E != eval.E || train.M != eval.M)
    throw InputError("train and eval data differ in shape: E " + std::to_string(train.E) + " vs " +
                     std::to_string(eval.E) + ", M " + std::to_string(train.M) + " vs " +
                     std::to_string(eval.M));
  if (train.E < 1 || train.E > INT_MAX / 2 || train.M < 1)
    throw InputError(train.spec + ": the CUDA training backend needs 1 ≤ E < 2³⁰ and M ≥ 1");
  require_data_readable_by(train, device_, name_);
  require_data_readable_by(eval, device_, name_);
  select_device();
  uploaded_ = false;
  upload_split(train, train_);
  upload_split(eval, eval_);
  sync();
  if (train.E != E_ || train.M != M_) initialised_ = false;  // θ no longer fits: init again
  E_ = train.E;
  M_ = train.M;
  rows_capacity_ = 0;  // workspace is sized by E
  uploaded_ = true;
  ++workspace_generation_;  // a captured gather reads the train set
}

void CudaTrainBackend::init(const Params& theta, const Activation& act, const OptimizerConfig& config) {
  if (!uploaded_) throw std::logic_error("CudaTrainBackend::init before upload");
  check_params_fit(theta, E_, M_, "initial parameters");
  check_optimizer_config(config);
  if (theta.H < 1 || theta.H > INT_MAX / 2)
    throw InputError("initial parameters: the CUDA training backend needs 1 ≤ H < 2³⁰, got H = " +
                     std::to_string(theta.H));
  const std::vector<double> flat = flatten(theta);
  if (static_cast<int64_t>(flat.size()) != layout_of(theta).size())
    throw InputError("initial parameters: U, W, b, c do not match M, H, E");
  select_device();
  initialised_ = false;
  act_ = act;
  cfg_ = config;
  opt_ = Optimizer(config);
  layout_ = layout_of(theta);
  L_ = cuda::flat_layout(layout_);
  rows_capacity_ = 0;  // workspace is sized by H and M
  const size_t size = static_cast<size_t>(L_.size);
  grow(theta_, size);
  grow(grad_, size);
  TS_CUDA_CHECK(cudaMemcpyAsync(theta_.data(), flat.data(), size * sizeof(double),
                                cudaMemcpyHostToDevice, stream_));
  for (int i = 0; i < opt_.state_count(); ++i) {
    grow(state_[i], size);
    TS_CUDA_CHECK(cudaMemsetAsync(state_[i].data(), 0, size * sizeof(double), stream_));
  }
  if (opt_.preconditioned()) rngd_.configure(L_, cfg_.rngd_damping);
  if (device_comm_) device_comm_->reserve(size);  // before any capture that all-reduces
  step_ = 0;
  ++workspace_generation_;  // a captured step bakes in the config and the shape
  sync();
  initialised_ = true;
}

void CudaTrainBackend::reserve_rows(int64_t n) {
  if (n <= rows_capacity_) return;
  if (n > INT_MAX) throw InputError("a batch of " + std::to_string(n) + " rows is too large");
  const size_t R = static_cast<size_t>(n), H = L_.H, M = L_.M;
  grow(X_, R * E_);
  grow(y_, R);
  grow(batch_rows_, R);
  grow(A_, R * H);
  grow(Hs_, R * H);
  grow(dA_, R * H);
  grow(logits_, R * M);
  grow(delta_, R * M);
  grow(partials_, cuda::softmax_partials_size(static_cast<int>(n)));
  grow(totals_, 2);
  rows_capacity_ = n;
}

void CudaTrainBackend::forward_backward(const double* X, const int32_t* y, int n, double inv_n,
                                        bool grad, bool accumulate, bool totals, bool grad_W) {
  const int M = L_.M, H = L_.H, E = L_.E;
  const double* U = theta_.data();
  const double* W = theta_.data() + L_.W;
  const double* b = theta_.data() + L_.b;
  const double* c = theta_.data() + L_.c;

  cuda::gemm_rm(cublas_, false, true, n, H, E, 1.0, X, E, W, E, 0.0, A_.data(), H);
  cuda::bias_activation(A_.data(), b, Hs_.data(), n, H, act_, stream_);
  cuda::gemm_rm(cublas_, false, true, n, M, H, 1.0, Hs_.data(), H, U, H, 0.0, logits_.data(), M);
  cuda::softmax_xent(logits_.data(), c, y, n, M, delta_.data(), totals ? partials_.data() : nullptr,
                     totals_.data(), stream_);
  if (!grad) return;

  // δ = softmax − onehot per sample; the 1/n of the mean rides on the GEMMs.
  double* gU = grad_.data();
  double* gW = grad_.data() + L_.W;
  double* gb = grad_.data() + L_.b;
  double* gc = grad_.data() + L_.c;
  const double beta = accumulate ? 1.0 : 0.0;
  cuda::gemm_rm(cublas_, true, false, M, H, n, inv_n, delta_.data(), M, Hs_.data(), H, beta, gU, H);
  cuda::column_sums(delta_.data(), n, M, inv_n, accumulate, gc, stream_);
  cuda::gemm_rm(cublas_, false, false, n, H, M, inv_n, delta_.data(), M, U, H, 0.0, dA_.data(), H);
  cuda::activation_backward_sums(dA_.data(), A_.data(), n, H, act_, accumulate, gb, stream_);
  if (grad_W) cuda::gemm_rm(cublas_, true, false, H, E, n, 1.0, dA_.data(), H, X, E, beta, gW, E);
}

void CudaTrainBackend::enqueue_step(const int64_t* order, int64_t stride, int n,
                                    const cuda::StepCounter* counter, bool refresh) {
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  TS_CUDA_CHECK(cudaStreamIsCapturing(stream_, &capturing));
  if (capturing == cudaStreamCaptureStatusNone) tally(&CudaTrainCounters::eager_steps);
  const double inv_n = 1.0 / static_cast<double>(n);
  if (!parallel()) {
    cuda::gather_batch(train_.Z.data(), train_.labels.data(), L_.E, order, counter, stride, n, X_.data(),
                       y_.data(), batch_rows_.data(), stream_);
    forward_backward(X_.data(), y_.data(), n, inv_n, true, false, false, /*grad_W=*/!opt_.preconditioned());
  } else {
    if (refresh) {  // the whole batch's forward pass for RNGD's blocks (refresh steps are eager)
      cuda::gather_batch(train_.Z.data(), train_.labels.data(), L_.E, order, counter, stride, n, X_.data(),
                         y_.data(), batch_rows_.data(), stream_);
      forward_backward(X_.data(), y_.data(), n, inv_n, false, false, false);
      rngd_.refresh(n, X_.data(), A_.data(), Hs_.data(), delta_.data(), y_.data(), batch_rows_.data(), act_,
                    cfg_.rngd_omega);
      refresh = false;
    }
    // This rank's rows: order[base + begin + s], s < its share.
    const ShardRange mine = shard_range(n, comm_.rank(), comm_.size());
    if (mine.size() > 0) {
      const int local = static_cast<int>(mine.size());
      cuda::gather_batch(train_.Z.data(), train_.labels.data(), L_.E, order + mine.begin, counter, stride, local,
                         X_.data(), y_.data(), batch_rows_.data(), stream_);
      forward_backward(X_.data(), y_.data(), local, inv_n, true, false, false);
    } else {  // fewer rows than ranks: this one adds nothing
      TS_CUDA_CHECK(cudaMemsetAsync(grad_.data(), 0, static_cast<size_t>(L_.size) * sizeof(double), stream_));
    }
    allreduce_gradient();
  }
  if (opt_.preconditioned()) {
    // The blocks are estimated on this batch, before its update (as the CPU does).
    if (refresh) {
      rngd_.refresh(n, X_.data(), A_.data(), Hs_.data(), delta_.data(), y_.data(), batch_rows_.data(),
                    act_, cfg_.rngd_omega);
      rngd_.recompute_products(theta_.data() + L_.W, cfg_.l2);
    }
    if (parallel())  // the all-reduced gradient, ∇W in it
      rngd_.step(grad_.data(), theta_.data(), cfg_);
    else
      rngd_.step_without_grad_w(n, X_.data(), dA_.data(), grad_.data(), theta_.data(), cfg_);
  } else {
    cuda::UpdateArgs args;
    args.theta = theta_.data();
    args.grad = grad_.data();
    args.state[0] = state_[0].data();
    args.state[1] = state_[1].data();
    args.counter = counter_.data();
    args.L = L_;
    args.config = cfg_;
    cuda::optimizer_update(args, stream_);
  }
  cuda::advance_step_counter(counter_.data(), stream_);
}

void CudaTrainBackend::allreduce_gradient() {
  const size_t size = static_cast<size_t>(L_.size);
  if (device_comm_) {
    device_comm_->allreduce_sum(grad_.data(), size, stream_);
    return;
  }
  // Never inside a capture: full_batch_step replays no graph without NCCL.
  to_host(host_grad_, grad_.data(), size, stream_);
  sync();
  comm_.allreduce_sum(host_grad_.data(), size);
  TS_CUDA_CHECK(cudaMemcpyAsync(grad_.data(), host_grad_.data(), size * sizeof(double), cudaMemcpyHostToDevice,
                                stream_));
  sync();  // host_grad_ is reused by the next step
}

bool CudaTrainBackend::rngd_refresh_due() const {
  return opt_.preconditioned() && RngdRule::refresh_due(cfg_, step_, rngd_.ready());
}

void CudaTrainBackend::step(const std::vector<int64_t>& rows) {
  require_init("step");
  if (rows.empty()) throw InputError("a mini-batch needs at least one sample");
  for (int64_t r : rows)
    if (r < 0 || r >= train_.N) throw std::out_of_range("train row " + std::to_string(r));
  select_device();
  const int64_t n = static_cast<int64_t>(rows.size());
  if (opt_.preconditioned()) rngd_.require_fits(static_cast<int>(std::min<int64_t>(n, INT_MAX)), name_);
  reserve_rows(n);  // refuses n > INT_MAX
  if (opt_.preconditioned()) rngd_.reserve_rows(static_cast<int>(n));
  grow(rows_, rows.size());
  TS_CUDA_CHECK(cudaMemcpyAsync(rows_.data(), rows.data(), rows.size() * sizeof(int64_t),
                                cudaMemcpyHostToDevice, stream_));
  cuda::set_step_counter(counter_.data(), 0, step_, stream_);
  enqueue_step(rows_.data(), n, static_cast<int>(n), nullptr, rngd_refresh_due());
  ++step_;
  sync();
}

void CudaTrainBackend::set_order(const std::vector<int64_t>& order) {
  if (!uploaded_) throw std::logic_error("CudaTrainBackend::set_order before upload");
  // The device trusts the order, so it is checked here (the CPU checks each row as it gathers).
  for (int64_t r : order)
    if (r < 0 || r >= train_.N) throw std::out_of_range("train row " + std::to_string(r));
  select_device();
  order_size_ = 0;
  grow(order_, order.size());
  if (!order.empty())
    TS_CUDA_CHECK(cudaMemcpyAsync(order_.data(), order.data(), order.size() * sizeof(int64_t),
                                  cudaMemcpyHostToDevice, stream_));
  sync();  // `order` may go as soon as we return
  order_size_ = static_cast<int64_t>(order.size());
}

// A full batch: the captured step when it fits, else one eager step that
// leaves everything ready for a capture next time.
void CudaTrainBackend::full_batch_step(int64_t batch_size) {
  const GraphKey key{batch_size, workspace_generation_, rngd_.generation()};
  // Several ranks without NCCL all-reduce through the host: no graph.
  const bool graphs = graphs_ != CudaGraphs::off && (!parallel() || device_comm_);
  if (graphs && !(graph_ && graph_key_ == key) && !graph_failed_ && warm_key_ == key && capture(batch_size))
    graph_key_ = key;
  if (graphs && graph_ && graph_key_ == key) {
    TS_CUDA_CHECK(cudaGraphLaunch(graph_, stream_));
    TS_CUDA_LAUNCHED(stream_, "graph replay of a training step");
    tally(&CudaTrainCounters::graph_steps);
    return;
  }
  enqueue_step(order_.data(), batch_size, static_cast<int>(batch_size), counter_.data(), false);
  warm_key_ = key;
}

// Captures one full-batch step (its batch and step from counter_). Returns
// false, with the stream usable again, when capture or instantiation fails.
bool CudaTrainBackend::capture(int64_t batch_size) {
  drop_graph();
  cudaGraph_t graph = nullptr;
  std::string why;
  TS_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  try {
    enqueue_step(order_.data(), batch_size, static_cast<int>(batch_size), counter_.data(), false);
  } catch (const std::exception& e) {
    why = e.what();
  }
  cudaError_t status = cudaStreamEndCapture(stream_, &graph);  // also ends a failed capture
  if (why.empty() && status != cudaSuccess) why = cudaGetErrorString(status);
  if (why.empty()) {
    status = cudaGraphInstantiate(&graph_, graph, 0);
    if (status != cudaSuccess) {
      graph_ = nullptr;
      why = cudaGetErrorString(status);
    }
  }
  if (graph) cudaGraphDestroy(graph);
  if (why.empty()) {
    tally(&CudaTrainCounters::captures);
    return true;
  }
  (void)cudaGetLastError();  // capture errors are not sticky; clear the last one
  graph_failed_ = true;
  if (graphs_ == CudaGraphs::required)
    throw std::runtime_error(name_ + ": capturing the training step into a CUDA graph failed (" + why +
                             "), and a graph is required (TAYLORSCOPE_REQUIRE_CUDA_GRAPH)");
  std::fprintf(stderr,
               "taylorscope: %s: capturing the training step into a CUDA graph failed (%s); "
               "steps run kernel by kernel\n",
               name_.c_str(), why.c_str());
  return false;
}

void CudaTrainBackend::drop_graph() {
  if (graph_) {
    sync();  // a launched graph may still run
    cudaGraphExecDestroy(graph_);
  }
  graph_ = nullptr;
}

void CudaTrainBackend::run_batches(int64_t first, int64_t count, int64_t batch_size) {
  require_init("run_batches");
  if (count <= 0) return;
  // All batches are checked before the first runs (the CPU runs those before a bad one).
  if (batch_size <= 0 || first < 0 || (first + count - 1) * batch_size >= order_size_)
    throw std::out_of_range("run_batches: batch past the order");
  select_device();
  if (opt_.preconditioned()) {
    const int rows = static_cast<int>(std::min({batch_size, order_size_, int64_t{INT_MAX}}));
    rngd_.require_fits(rows, name_);
    rngd_.reserve_rows(rows);
  }
  reserve_rows(batch_size);
  cuda::set_step_counter(counter_.data(), first, step_, stream_);
  for (int64_t k = first; k < first + count; ++k) {
    const int64_t n = std::min(batch_size, order_size_ - k * batch_size);
    const bool refresh = rngd_refresh_due();
    if (n == batch_size && !refresh)
      full_batch_step(batch_size);
    else
      enqueue_step(order_.data(), batch_size, static_cast<int>(n), counter_.data(), refresh);
    ++step_;
  }
  sync();
}

SplitMetrics CudaTrainBackend::evaluate(Split split, std::vector<double>* grad) {
  require_init("evaluate");
  select_device();
  // P exact again, as the CPU recomputes it here (rngd_cuda.cuh).
  if (opt_.preconditioned() && !parallel()) rngd_.recompute_products(theta_.data() + L_.W, cfg_.l2);
  const DeviceData& d = split == Split::train ? train_ : eval_;
  const double inv_n = 1.0 / static_cast<double>(d.N);
  // This rank's rows (all of them in a single process).
  const ShardRange mine = shard_range(d.N, comm_.rank(), comm_.size());
  reserve_rows(std::min(kEvalChunkRows, std::max<int64_t>(mine.size(), 1)));
  TS_CUDA_CHECK(cudaMemsetAsync(totals_.data(), 0, 2 * sizeof(double), stream_));
  if (grad && mine.size() == 0)
    TS_CUDA_CHECK(cudaMemsetAsync(grad_.data(), 0, L_.size * sizeof(double), stream_));
  for (int64_t r0 = mine.begin; r0 < mine.end; r0 += kEvalChunkRows) {
    const int n = static_cast<int>(std::min(kEvalChunkRows, mine.end - r0));
    forward_backward(d.Z.data() + r0 * E_, d.labels.data() + r0, n, inv_n, grad != nullptr, r0 > mine.begin,
                     true);
  }
  std::vector<double> totals;
  to_host(totals, totals_.data(), 2, stream_);
  if (grad) to_host(*grad, grad_.data(), static_cast<size_t>(L_.size), stream_);
  sync();
  if (parallel()) {  // one host all-reduce: [∇S | loss | correct]
    std::vector<double> reduced = grad ? *grad : std::vector<double>();
    reduced.insert(reduced.end(), totals.begin(), totals.end());
    comm_.allreduce_sum(reduced.data(), reduced.size());
    if (grad) std::copy_n(reduced.begin(), grad->size(), grad->begin());
    totals.assign(reduced.end() - 2, reduced.end());
  }
  return {totals[0] * inv_n, totals[1] * inv_n};
}

std::vector<double> CudaTrainBackend::flat_params() const {
  require_init("flat_params");
  select_device();
  std::vector<double> flat;
  to_host(flat, theta_.data(), static_cast<size_t>(L_.size), stream_);
  sync();
  return flat;
}

OptimizerState CudaTrainBackend::optimizer_state() const {
  require_init("optimizer_state");
  select_device();
  OptimizerState s;
  s.step = step_;
  const size_t size = static_cast<size_t>(L_.size);
  const std::vector<std::string> names = opt_.state_names();
  for (size_t i = 0; i < names.size(); ++i) {
    s.arrays.emplace_back(names[i], std::vector<double>());
    to_host(s.arrays.back().second, state_[i].data(), size, stream_);
  }
  sync();
  if (opt_.preconditioned() && rngd_.ready()) {
    std::vector<double> rows, nu, h, eta;
    rngd_.download(&rows, &nu, &h, &eta);
    const auto& name = RngdRule::refresh_arrays;
    s.arrays.emplace_back(name[0], std::move(rows));
    s.arrays.emplace_back(name[1], std::move(nu));
    s.arrays.emplace_back(name[2], std::move(h));
    s.arrays.emplace_back(name[3], std::move(eta));
  }
  return s;
}

void CudaTrainBackend::restore(const std::vector<double>& flat, const OptimizerState& s) {
  require_init("restore");
  select_device();  // first: require_fits below asks this device for its free memory
  const size_t size = static_cast<size_t>(L_.size);
  if (flat.size() != size) throw InputError("checkpoint parameters do not match the model's size");
  auto take = [&](const std::string& name, size_t n) -> const std::vector<double>& {
    const std::vector<double>* v = s.find(name);
    if (!v || v->size() != n) throw InputError("checkpoint lacks a valid optimizer array '" + name + "'");
    return *v;
  };
  // Everything is checked before anything changes.
  std::vector<const std::vector<double>*> state;
  for (const std::string& name : opt_.state_names()) state.push_back(&take(name, size));
  std::vector<int64_t> rows;
  const std::vector<double>* nu = nullptr;
  const std::vector<double>* h = nullptr;
  const std::vector<double>* eta = nullptr;
  const auto& rngd_name = RngdRule::refresh_arrays;
  if (opt_.preconditioned() && s.find(rngd_name[0])) {
    rows = rngd_checkpoint_rows(*s.find(rngd_name[0]), train_.N);
    rngd_.require_fits(static_cast<int>(std::min<int64_t>(static_cast<int64_t>(rows.size()), INT_MAX)), name_);
    const size_t n = rows.size();
    nu = &take(rngd_name[1], n * L_.H);
    h = &take(rngd_name[2], n * L_.H);
    eta = &take(rngd_name[3], n * L_.M);
  }

  TS_CUDA_CHECK(cudaMemcpyAsync(theta_.data(), flat.data(), size * sizeof(double),
                                cudaMemcpyHostToDevice, stream_));
  for (size_t i = 0; i < state.size(); ++i)
    TS_CUDA_CHECK(cudaMemcpyAsync(state_[i].data(), state[i]->data(), size * sizeof(double),
                                  cudaMemcpyHostToDevice, stream_));
  step_ = s.step;
  if (opt_.preconditioned()) rngd_.configure(L_, cfg_.rngd_damping);
  if (!rows.empty()) {
    // x̃ from the train set as the CPU does; σ(a), ν, η as stored.
    const int n = static_cast<int>(rows.size());
    reserve_rows(n);
    grow(rows_, rows.size());
    TS_CUDA_CHECK(cudaMemcpyAsync(rows_.data(), rows.data(), rows.size() * sizeof(int64_t),
                                  cudaMemcpyHostToDevice, stream_));
    cuda::gather_batch(train_.Z.data(), train_.labels.data(), L_.E, rows_.data(), nullptr, n, n,
                       X_.data(), y_.data(), batch_rows_.data(), stream_);
    TS_CUDA_CHECK(cudaMemcpyAsync(Hs_.data(), h->data(), h->size() * sizeof(double),
                                  cudaMemcpyHostToDevice, stream_));
    rngd_.refresh_from(n, X_.data(), Hs_.data(), *nu, *eta, batch_rows_.data());
    if (!parallel()) rngd_.recompute_products(theta_.data() + L_.W, cfg_.l2);
  }
  sync();
}

}  // namespace

std::unique_ptr<TrainBackend> make_cuda_train_backend(const CudaTrainOptions& options) {
  cuda::require_device(options.device);
  return std::make_unique<CudaTrainBackend>(options);
}

std::unique_ptr<TrainBackend> make_cuda_train_backend(int device, Communicator& comm) {
  CudaTrainOptions options;
  options.device = device;
  options.comm = &comm;
  return make_cuda_train_backend(options);
}

}  // namespace taylorscope
