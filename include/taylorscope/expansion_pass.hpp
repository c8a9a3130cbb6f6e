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
// The class power sums Σ_{s∈α} (W_β·z_s)^n feed ⟨J^(n),T^(n)⟩ (docs/math.md §4).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "taylorscope/activation.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/params.hpp"

namespace taylorscope {

struct PassPlan {
  Activation act;
  int order = 0;                 // K: the pass yields jets for S_0..S_K
  std::vector<double> taylor;    // σ^(k)(0)/k!, k = 0..K-1 at least
  int max_power = 0;             // P: class power sums for n = 1..P
  std::vector<double> t_values;  // direct S(tθ) at each t

  int power_channels() const { return order > 1 ? order - 1 : 0; }
  int channels() const { return power_channels() + static_cast<int>(t_values.size()); }
};

struct PassSums {
  int K = 0, M = 0, P = 0;
  int64_t H = 0;
  std::vector<double> jet;           // K+1: Σ_s (l_k − f_{m,k})(z_s)
  std::vector<double> direct;        // |t|: Σ_s −ln q_m(z_s; tθ)
  std::vector<double> class_power;   // P×M×H: [n-1][α][β] = Σ_{s∈α} (W_β·z_s)^n  (no bias)
  std::vector<int64_t> class_count;  // M

  static PassSums zeros(const PassPlan& plan, int M, int64_t H);
  void add(const PassSums& other);   // the all-reduce across data shards
};

class ExpansionBackend {
 public:
  virtual ~ExpansionBackend() = default;
  virtual std::string device_name() const = 0;
  // Makes the data resident (the CPU backend keeps a reference: `data` must
  // outlive the backend's use of it). Separate from run() so that benchmarks
  // and repeated expansions pay for the transfer once.
  virtual void upload(const Dataset& data) = 0;
  virtual PassSums run(const Params& theta, const PassPlan& plan) = 0;
};

// Both backends call this first: θ must fit the data, 0 ≤ K ≤ kMaxOrder,
// taylor must hold K coefficients, P ≥ 0. Throws InputError.
void check_pass_inputs(const Dataset& data, const Params& theta, const PassPlan& plan);

std::unique_ptr<ExpansionBackend> make_cpu_backend();

// True when this build has CUDA and a device is visible; otherwise false and
// *why says which of the two is missing.
bool cuda_backend_available(std::string* why);
// Throws InputError when CUDA is unavailable or `device` does not exist.
std::unique_ptr<ExpansionBackend> make_cuda_backend(int device);

// --device values: resolve_device, make_backends and make_backend are in
// backends.hpp.

}  // namespace taylorscope
