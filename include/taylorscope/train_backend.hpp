// Training the MLP of docs/math.md §1 on one device: the interface the CPU and
// CUDA backends share, and what the trainer (host/training) drives.
//
// Parameters travel as one flat float64 vector in ParamLayout order
// [U (M×H) | W (H×E) | b (H) | c (M)], so gradients, optimizer states and
// checkpoints all share one indexing. The training objective is
//   L(θ) = S_T(θ) + (l2/2)(|U|² + |W|²)          (biases are not decayed)
// and every optimizer step uses its gradient on the step's mini-batch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "taylorscope/activation.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/optimizer.hpp"
#include "taylorscope/params.hpp"

namespace taylorscope {

struct ParamLayout {
  int64_t M = 0, H = 0, E = 0;
  int64_t U() const { return 0; }
  int64_t W() const { return M * H; }
  int64_t b() const { return M * H + H * E; }
  int64_t c() const { return M * H + H * E + H; }
  int64_t size() const { return M * H + H * E + H + M; }
};
ParamLayout layout_of(const Params& p);
std::vector<double> flatten(const Params& p);
Params unflatten(const std::vector<double>& flat, const ParamLayout& layout);

// The state an optimizer carries between steps, for checkpoints: the step
// count and named arrays, the rule's (optimizer.hpp: its state_names, and
// RNGD's refresh_arrays). Restoring it makes a resumed run take the same
// steps as an uninterrupted one.
struct OptimizerState {
  int64_t step = 0;
  std::vector<std::pair<std::string, std::vector<double>>> arrays;
  const std::vector<double>* find(const std::string& name) const;
};
// A checkpoint's RNGD refresh rows ("rngd_rows", stored as doubles) as row
// numbers of a train set of train_rows rows. Throws InputError, one line,
// for an empty batch or a row that is not a whole number in [0, train_rows):
// every backend's restore reads them through this.
std::vector<int64_t> rngd_checkpoint_rows(const std::vector<double>& rows, int64_t train_rows);

enum class Split { train, eval };

struct SplitMetrics {
  double loss = 0;      // S: mean cross-entropy (no L2)
  double accuracy = 0;  // fraction of samples whose largest logit is the label
};

class TrainBackend {
 public:
  virtual ~TrainBackend() = default;
  virtual std::string device_name() const = 0;
  // The CUDA device whose memory upload() can read a data set's values from
  // where they are (DataValues::on_device), or -1: host memory only
  // (require_data_readable_by, dataset.hpp).
  virtual int data_device() const { return -1; }
  // Makes both data sets available (the CPU backend keeps references: they
  // must outlive it). E and M of the two must agree.
  virtual void upload(const Dataset& train, const Dataset& eval) = 0;
  // Starts from θ with a fresh optimizer state.
  virtual void init(const Params& theta, const Activation& act, const OptimizerConfig& config) = 0;
  // One optimizer step on the mini-batch made of these rows of the train set.
  virtual void step(const std::vector<int64_t>& rows) = 0;
  // An epoch's work in slices: set_order gives the permutation of the train
  // rows, run_batches takes optimizer steps on its batches [first,
  // first + count), batch k being rows order[k·B, min((k+1)·B, N)). Same
  // steps as step() on those rows; a GPU backend keeps the order resident
  // and replays a captured step instead of launching kernel by kernel.
  virtual void set_order(const std::vector<int64_t>& order) = 0;
  virtual void run_batches(int64_t first, int64_t count, int64_t batch_size) = 0;
  // Loss and accuracy over a whole split at the current θ; with grad, also
  // ∇S over that split (flat, no L2 term) — the full-data gradients of the
  // grad-dot record (docs/math.md §8).
  virtual SplitMetrics evaluate(Split split, std::vector<double>* grad) = 0;
  virtual std::vector<double> flat_params() const = 0;
  virtual OptimizerState optimizer_state() const = 0;
  // θ and the optimizer state of a checkpoint (after init with the same config).
  virtual void restore(const std::vector<double>& flat_params, const OptimizerState& state) = 0;
};

// A backend is one rank of a data-parallel run over `comm` (train_cpu.cpp,
// train_cuda.cu): each step's rows and each evaluation's are split across
// the ranks and their gradients all-reduced, so every rank holds the same θ
// and state, equal to one process's to rounding. With one rank, exactly the
// single-process backend.
std::unique_ptr<TrainBackend> make_cpu_train_backend(Communicator& comm = world());
// Throws InputError when this build has no CUDA or the device does not exist.
std::unique_ptr<TrainBackend> make_cuda_train_backend(int device, Communicator& comm = world());
// For a --device value: make_train_backend in backends.hpp.

}  // namespace taylorscope
