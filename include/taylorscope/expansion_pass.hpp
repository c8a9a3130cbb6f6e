// One pass over the samples: everything the expansion needs that touches the
// N×E data or the N×H pre-activations (docs/math.md §2, §4). Both backends, CPU and
// CUDA, compute the same PassSums; every field is a sum over samples, so data
// shards (devices, machines) combine by addition — an all-reduce.
//
// The pass has two stages, and a split over hidden units fits between them:
//   1. hidden contraction, per sample s and channel ch:
//        G[s][ch][α] = Σ_β U_αβ g_ch(a_sβ),   a = W z_s + b
//      with channels g_j(a) = a^j (j = 1..K−1) and g(a) = σ(t a) per t.
//      G is additive over β, so hidden-unit shards all-reduce G.
//   2. per sample, the logits jet f(t) (docs/math.md §2) and its exp/log jets give
//      l_k − f_{m,k}; the logits at each t give −ln q_m(tθ). Summed over s.
// The class power sums Σ_{s∈α} (W_β·z_s)^n feed ⟨J^(n),T^(n)⟩ (docs/math.md §4),
// and the class sums Σ_{s∈α} z_s the first moments of the seed terms (§3):
// both are read off the rows while they are resident, so nothing after the
// pass goes back to Z (with --device cuda, Z is on the GPU).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "taylorscope/activation.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/params.hpp"

namespace taylorscope {

struct PassPlan {
  Activation act;
  int order = 0;                 // K: the pass yields jets for S_0..S_K
  std::vector<double> taylor;    // σ^(k)(0)/k!, k = 0..K-1 at least
  int max_power = 0;             // P: class power sums for n = 1..P
  std::vector<double> t_values;  // direct S(tθ) at each t
  // Only the class power sums, class sums and counts: no stage 1 or 2 (jet
  // and direct come back empty; order, taylor and t_values are unread). What
  // ⟨J^(n),T^(n)⟩ alone needs (power_sum_contractions).
  bool power_sums_only = false;

  int power_channels() const { return !power_sums_only && order > 1 ? order - 1 : 0; }
  int channels() const {
    return power_sums_only ? 0 : power_channels() + static_cast<int>(t_values.size());
  }
};

struct PassSums {
  int K = 0, M = 0, P = 0;
  int64_t H = 0, E = 0;
  std::vector<double> jet;           // K+1: Σ_s (l_k − f_{m,k})(z_s); empty when power_sums_only
  std::vector<double> direct;        // |t|: Σ_s −ln q_m(z_s; tθ); empty when power_sums_only
  std::vector<double> class_power;   // P×M×H: [n-1][α][β] = Σ_{s∈α} (W_β·z_s)^n  (no bias)
  std::vector<double> class_sum;     // M×E: [α][γ] = Σ_{s∈α} z_sγ
  std::vector<int64_t> class_count;  // M

  static PassSums zeros(const PassPlan& plan, int M, int64_t H, int64_t E);
  void add(const PassSums& other);   // the all-reduce across data shards
};

class ExpansionBackend {
 public:
  virtual ~ExpansionBackend() = default;
  virtual std::string device_name() const = 0;
  // The CUDA device whose memory upload() can read a data set's values from
  // where they are (DataValues::on_device), or -1: host memory only.
  virtual int data_device() const { return -1; }
  // Makes the data resident (the CPU backend keeps a reference: `data` must
  // outlive the backend's use of it, until the next upload). Separate from run() so that benchmarks
  // and repeated expansions pay for the transfer once.
  virtual void upload(const Dataset& data) = 0;
  // Forgets what upload() made resident when its caller is about to destroy
  // it (a rank's slice of the rows: expand.cpp's sharded_pass). The CPU
  // backend, which only refers to the data, then refuses run() until the
  // next upload() instead of reading freed memory; a backend that copied the
  // data may keep its copy.
  virtual void release() {}
  virtual PassSums run(const Params& theta, const PassPlan& plan) = 0;

  // The same pass in its two stages, for hidden-unit shards (`expand --shard
  // hidden`, docs/architecture.md): every rank uploads all rows, takes a
  // slice of the hidden units for stage 1, and the G of its slice is summed
  // across ranks before stage 2. Rows are numbered in the backend's own
  // order of the uploaded rows (the CUDA backend sorts them by class), the
  // same on every rank that uploaded the same data with the same backend.
  //   begin_stages: θ and the plan; stage 1 reads hidden units [hidden.begin,
  //     hidden.end) of θ only, stage 2 the whole θ (c′ sums U over every unit).
  //   hidden_stage: for rows [rows.begin, rows.end), writes
  //     G[s][ch][α] = Σ_{β in the slice} U_αβ g_ch(a_sβ) to G (rows.size()×C×M,
  //     host, row-major; C = plan.channels()) and adds the rows' class power
  //     sums for the slice's units.
  //   sample_stage: from the complete G of rows [rows.begin, rows.end) (every
  //     unit's share added; rows.size()×C×M), adds their jets, direct losses,
  //     class sums and counts.
  //   end_stages: what was added — a PassSums whose H is the slice's width:
  //     class_power over the rows given to hidden_stage, every other field over
  //     the rows given to sample_stage.
  virtual void begin_stages(const Params& theta, const PassPlan& plan, ShardRange hidden) = 0;
  virtual void hidden_stage(ShardRange rows, double* G) = 0;
  virtual void sample_stage(ShardRange rows, const double* G) = 0;
  virtual PassSums end_stages() = 0;
};

// Both backends call this first: θ must fit the data, 0 ≤ K ≤ kMaxOrder,
// taylor must hold K coefficients, P ≥ 0. Throws InputError.
void check_pass_inputs(const Dataset& data, const Params& theta, const PassPlan& plan);

// Both backends' upload() calls this first: throws InputError when the data
// set's values are in a GPU's memory that `backend` does not read (the CPU
// backend, or the CUDA backend of another device). dataset.hpp.
inline void require_data_readable_by(const Dataset& data, const ExpansionBackend& backend) {
  require_data_readable_by(data, backend.data_device(), backend.device_name());
}

std::unique_ptr<ExpansionBackend> make_cpu_backend();

// True when this build has CUDA and a device is visible; otherwise false and
// *why says which of the two is missing.
bool cuda_backend_available(std::string* why);
// Throws InputError when CUDA is unavailable or `device` does not exist.
std::unique_ptr<ExpansionBackend> make_cuda_backend(int device);

// --device values: resolve_device, make_backends and make_backend are in
// backends.hpp.

}  // namespace taylorscope
