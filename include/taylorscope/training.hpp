// `taylorscope train`: the epoch loop around a TrainBackend — seeded
// shuffling, per-epoch metrics with the full-data ⟨∇L_T, ∇S_E⟩ record of
// docs/math.md §8, early stopping, atomic checkpoints and --resume.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "taylorscope/activation.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/npy.hpp"
#include "taylorscope/params.hpp"
#include "taylorscope/train_backend.hpp"

namespace taylorscope {

enum class EarlyStop { grad_dot, eval_loss, none };
EarlyStop parse_early_stop(const std::string& name);  // "grad-dot", "eval-loss", "none"
std::string early_stop_name(EarlyStop rule);

struct TrainConfig {
  int64_t hidden = 256;
  Activation act;
  OptimizerConfig opt;
  int64_t batch = 50;
  int epochs = 10;
  uint64_t seed = 0;
  std::string init = "glorot";  // glorot | gaussian
  double init_scale = 0.05;     // std of the gaussian init
  EarlyStop early_stop = EarlyStop::none;
  int patience = 3;             // eval-loss: epochs without a new minimum before stopping
};

// One row of curves.csv. Epoch 0 is the initial θ, before any step.
struct EpochRecord {
  int epoch = 0;
  double train_loss = 0, train_acc = 0, eval_loss = 0, eval_acc = 0;
  // ⟨∇L_T, ∇S_E⟩: full-batch gradients of the training objective (with its
  // L2 term — the direction gradient flow moves θ in) and of the evaluation
  // loss. dS_E/dt = −grad_dot under that flow (docs/math.md §8).
  double grad_dot = 0;
  double lr = 0;
  double seconds = 0;        // wall time of the epoch's steps and its evaluation
  double step_seconds = 0;   // the optimizer steps alone (what a training loop compares)
};

// Both stopping rules, evaluated on the records so far (−1: not reached).
struct StopEpochs {
  int by_grad_dot = -1;   // first epoch whose grad_dot < 0 after one ≥ 0
  int by_eval_loss = -1;  // epoch of the smallest eval loss
};
StopEpochs stop_epochs(const std::vector<EpochRecord>& records);

// The rows of the train set in epoch `epoch`'s order: a Fisher–Yates shuffle
// drawn from mt19937_64 seeded by (seed, epoch), so every device and every
// resumed run sees the same batches.
std::vector<int64_t> epoch_order(int64_t N, uint64_t seed, int epoch);

// What the trainer tells its caller as it goes (the CLI draws progress).
struct TrainObserver {
  std::function<void(int epoch, int64_t batches_done, int64_t batches_total)> on_batches;
  std::function<void(const EpochRecord&)> on_epoch;
  // Once every input is judged and the run directory is locked, before the
  // first computation (the CLI prints its queued warnings here).
  std::function<void()> on_start;
};

struct TrainResult {
  std::vector<EpochRecord> records;
  StopEpochs stop;
  int chosen_epoch = 0;        // whose θ is in best/
  std::string chosen_by;       // the rule that chose it
  bool stopped_early = false;
  int resumed_from = -1;       // epoch of the checkpoint resumed from, −1 for a fresh run
  double seconds = 0;          // this invocation's wall time
  // The final θ and best/'s θ (chosen_epoch's), as written to the run
  // directory (in float64, whatever --save-precision wrote): a caller such
  // as dominance analyses them without reading the files back.
  Params theta, best_theta;
};

// An epoch ended with a non-finite loss, metric, θ or optimizer state. Not an
// InputError (exit 1, not 2): the settings were valid, the run they started
// blew up. The message names the epoch, what is not finite and the last
// finite epoch, which the run directory's checkpoint still holds.
struct TrainingDiverged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws InputError for what train() would refuse before creating out_dir:
// the settings (batch, epochs, hidden, patience, optimizer, init), an empty
// set, or an --eval set whose E or M differ from --data's. A caller that
// creates files before calling train() (dominance, for each width) calls it
// first.
void check_train_inputs(const Dataset& train_set, const Dataset& eval_set, const TrainConfig& config);

// Trains into out_dir (an empty out_dir: the same run, nothing written, no
// resume): checkpoint.bin after every epoch (atomically),
// curves.csv, U/W/b/c.npy (final θ), best/ (θ at the chosen epoch) and,
// last, report.json (training_report.hpp). With resume and a
// checkpoint in out_dir, continues from it (the settings must match).
// Holds out_dir's DirectoryLock (run_lock.hpp) from start to return: a
// second run on the same directory is refused with InputError naming the
// directory and the holder's pid. Throws TrainingDiverged when an epoch's
// results are not finite, writing nothing of that epoch; an initial θ whose
// results are not finite is an InputError.
//
// Under several ranks (comm.size() > 1) every rank calls train() with the
// same inputs and a backend made over the same comm (data-parallel:
// train_backend.hpp); every rank ends with the same θ and TrainResult. Rank
// 0 alone creates out_dir, holds the lock and writes every file; on
// --resume it reads the checkpoint and broadcasts it. report.json then
// records `ranks`, every rank's device and timing_ms.allreduce.
TrainResult train(const Dataset& train_set, const Dataset& eval_set, const TrainConfig& config,
                  TrainBackend& backend, const std::string& out_dir, bool resume,
                  NpyPrecision save_precision, const TrainObserver& observer, Communicator& comm = world());

}  // namespace taylorscope
