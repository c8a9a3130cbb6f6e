// `taylorscope bn-check`: seed 004's BatchNorm claims (MATH.md §12; Thm 5
// and §7.5.1), checked two ways (docs/bn-check.md).
//
// 1. Projection: for random batches, the BN Jacobian (batch_norm.hpp) kills
//    f and 1, and the gradient through BN equals (1/std)·P⊥_{f,1} g, set
//    against a reverse-mode derivative of the forward's own operations.
// 2. Energy: a ReLU teacher labels Gaussian inputs; a wider student with and
//    without BN after each hidden linear layer is trained by SGD at several
//    step sizes η for the same training time t = η·steps, from the same
//    initial point; the row energies E_j = ½‖W_j·‖² of its hidden layers are
//    recorded. With BN each SGD step changes E_j by exactly ½η²‖∇W_j·‖², so
//    the drift at time t is O(η); without BN it tends to a non-zero limit.
//
// Everything is float64 on the CPU; random draws are Philox streams
// (counter_rng.hpp), so any trial or run is reproducible from the seed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace taylorscope {

struct ProjectionConfig {
  int64_t trials = 1000;
  int max_batch = 256;  // B is uniform in [2, max_batch]
  uint64_t seed = 1;
};

// Each error is in the units of the quantity's natural scale, so that 1e-12
// means twelve digits whatever the batch's scale: J has entries of order
// 1/std, so every J-error is multiplied by std, and divided by the largest
// entry of the vector J was applied to (f, 1 or g).
struct ProjectionTrial {
  int64_t trial = 0;
  int batch = 0;
  double mean = 0, std = 0;          // of the batch x
  double max_abs_Jf = 0;             // std · max|J f| / max|f|, J the closed form
  double max_abs_J1 = 0;             // std · max|J 1|
  double max_abs_grad_diff = 0;      // std · max|g_x − (1/std) P⊥ g| / max|g|, g_x by reverse mode
  double max_abs_jacobian_diff = 0;  // std · max|J − J_ops|, J_ops by forward mode, column by column
};

struct EnergyConfig {
  int input_dim = 16;      // d: x ~ N(0, I_d)
  int teacher_width = 4;   // K
  int student_width = 16;  // N
  int depth = 2;           // hidden layers, each linear [→ BN → affine] → ReLU
  int64_t samples = 256;   // the fixed training set
  int64_t batch = 0;       // 0: full batch (every step sees all samples)
  std::vector<double> lrs = {0.2, 0.1, 0.05, 0.025, 0.0125};
  double time = 20;  // t = η·steps, the same for every η
  int records = 50;  // energies recorded at t·k/records, k = 0..records
  uint64_t seed = 1;
};

struct EnergyRun {
  double lr = 0;
  bool bn = false;
  int64_t steps = 0;  // round(time / lr)
  std::vector<int64_t> record_steps;
  // energy[r][layer][row]: E_j at record_steps[r]
  std::vector<std::vector<std::vector<double>>> energy;
  std::vector<double> loss;       // at each record: the loss of that step's batch (the training loss at full batch)
  std::vector<double> drift;      // max over layers and rows of |E_j − E_j(0)| at each record
  double max_drift = 0;           // over the whole run
  double initial_energy_max = 0;  // max_j E_j(0): the scale of the drift
  // With BN, ΔE_j of every step is ½η²‖∇W_j·‖² to rounding, since
  // W_j·∇W_j = z_jᵀ δz_j = 0 (δz_j ⊥ {f_j, 1}). The sum of that
  // prediction over the run, against the measured E_j(end) − E_j(0):
  // max_j |measured − predicted| / max_j |measured|. Near rounding with BN;
  // of order 1 without, where the first-order term −η W_j·∇W_j dominates.
  double second_order_gap = 0;
  bool finite = true;  // false: the run diverged (loss or weights overflowed); it stopped there
};

struct BnCheckConfig {
  ProjectionConfig projection;
  EnergyConfig energy;
};

struct BnCheckResult {
  std::vector<ProjectionTrial> trials;
  std::vector<EnergyRun> runs;  // lrs in the given order, without BN then with, for each lr
  double projection_ms = 0, energy_ms = 0;
  int threads = 1;
};

// The headline numbers (summary.json, the CLI's lines): the worst of each
// projection error over the trials, and the log-log slope of the drift at
// time t against lr between the two smallest step sizes whose runs
// finished — 1 when the drift is O(η), 0 when it tends to a non-zero limit;
// NaN with fewer than two such runs.
struct BnCheckSummary {
  double max_abs_Jf = 0, max_abs_J1 = 0, max_abs_grad_diff = 0, max_abs_jacobian_diff = 0;
  double slope_bn = 0, slope_no_bn = 0;
};
BnCheckSummary summarize_bn_check(const BnCheckResult& result);

// Called after each finished piece of work: `done` of `total` (trials and
// runs together).
using BnCheckProgress = std::function<void(int64_t done, int64_t total)>;

// Throws InputError for a config outside the documented ranges.
void check_bn_check_config(const BnCheckConfig& config);
BnCheckResult bn_check(const BnCheckConfig& config, const BnCheckProgress& progress = {});

// The projection trials and energy runs on their own (the tests call them).
std::vector<ProjectionTrial> check_projection(const ProjectionConfig& config, const BnCheckProgress& progress = {});
EnergyRun train_student(const EnergyConfig& config, double lr, bool bn);
// The student's back-propagated gradient at its initial point against
// central differences (step h) of its full-batch loss, along a random
// direction in one parameter group at a time (each W_l; γ and β with BN;
// v): the largest relative difference. For the tests: the energy law holds
// whatever the gradient above BN is, so it is checked here on its own.
double student_gradient_error(const EnergyConfig& config, bool bn, double h);

// Writes DIR/projection.csv, energy.csv, drift.csv, summary.json, drift.png
// and drift_vs_lr.png (INTERFACES.md "Experiments"); the caller holds DIR's
// DirectoryLock and a CreatedOutputs watching DIR. Returns the names written.
std::vector<std::string> write_bn_check_outputs(const std::string& dir, const BnCheckConfig& config,
                                                const BnCheckResult& result);

}  // namespace taylorscope
