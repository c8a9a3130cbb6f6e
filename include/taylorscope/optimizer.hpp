// The optimizers of docs/math.md §9, each ONE rule type that owns everything
// about it: its name, the θ-sized state arrays it carries between steps
// (their checkpoint names), the settings report.json and the checkpoint
// identity record for it, and its per-element update — TS_HD, so the CPU
// loops and the CUDA kernels run the same code. The backends, the
// checkpoint, the report and the flags only ever go through
// visit_optimizer() and the Optimizer façade below, so adding an optimizer
// is a rule here, its enum value and its line in visit_optimizer.
//
// `g` is always the gradient of the training objective
// S_T + (l2/2)(|U|² + |W|²) at the current parameters (RNGD: after its
// preconditioner, which each backend applies — its blocks are dense linear
// algebra, not element-wise).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "taylorscope/hd.hpp"
#include "taylorscope/optimizer_update.hpp"

namespace taylorscope {

enum class OptimizerKind { sgd, momentum, adam, rngd };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::sgd;
  double lr = 0.01;                                 // α
  double l2 = 0.0;                                  // weight decay of U and W in L(θ)
  double momentum = 0.9;                            // β of the heavy ball
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;    // Adam
  int rngd_period = 100;                            // T: RFIM refresh every T steps
  double rngd_damping = 0.005;                      // λ in (G + λI)^{-1}
  double rngd_omega = 1.0;                          // ω of relu_ω's ν for relu neurons
};

// What one step's element updates share besides the settings: computed once
// per step from the step count t (0 for the first step) — on the host by the
// CPU, per thread from the device's step counter by a replayed CUDA graph.
struct StepScalars {
  double bias1 = 1.0, bias2 = 1.0;  // Adam: 1 − β1^(t+1), 1 − β2^(t+1)
};

// Every rule: kind, name, states (θ-sized arrays, ≤ 2) and their names,
// preconditioned (the backend transforms g before update), scalars(),
// update(), and settings(), a template so that only host code that has
// nlohmann::json instantiates it (nvcc never sees the JSON).
struct SgdRule {
  static constexpr OptimizerKind kind = OptimizerKind::sgd;
  static constexpr const char* name = "sgd";
  static constexpr int states = 0;
  static constexpr const char* state_names[2] = {"", ""};
  static constexpr bool preconditioned = false;
  TS_HD static StepScalars scalars(const OptimizerConfig&, int64_t) { return {}; }
  TS_HD static void update(const OptimizerConfig& c, const StepScalars&, double& w, double g, double&, double&) {
    sgd_update(w, g, c.lr);
  }
  template <class Json>
  static void settings(const OptimizerConfig&, Json&) {}
};

struct MomentumRule {
  static constexpr OptimizerKind kind = OptimizerKind::momentum;
  static constexpr const char* name = "momentum";
  static constexpr int states = 1;
  static constexpr const char* state_names[2] = {"velocity", ""};
  static constexpr bool preconditioned = false;
  TS_HD static StepScalars scalars(const OptimizerConfig&, int64_t) { return {}; }
  TS_HD static void update(const OptimizerConfig& c, const StepScalars&, double& w, double g, double& v, double&) {
    momentum_update(w, v, g, c.lr, c.momentum);
  }
  template <class Json>
  static void settings(const OptimizerConfig& c, Json& s) {
    s["momentum"] = c.momentum;
  }
};

struct AdamRule {
  static constexpr OptimizerKind kind = OptimizerKind::adam;
  static constexpr const char* name = "adam";
  static constexpr int states = 2;
  static constexpr const char* state_names[2] = {"adam_m", "adam_v"};
  static constexpr bool preconditioned = false;
  // Device pow is within 2 ulp of the host's std::pow (what the CPU calls here).
  TS_HD static StepScalars scalars(const OptimizerConfig& c, int64_t step) {
    const double t = static_cast<double>(step + 1);
    return {1.0 - pow(c.beta1, t), 1.0 - pow(c.beta2, t)};
  }
  TS_HD static void update(const OptimizerConfig& c, const StepScalars& t, double& w, double g, double& m,
                           double& v) {
    adam_update(w, m, v, g, c.lr, c.beta1, c.beta2, c.eps, t.bias1, t.bias2);
  }
  template <class Json>
  static void settings(const OptimizerConfig& c, Json& s) {
    s["adam"] = {{"beta1", c.beta1}, {"beta2", c.beta2}, {"eps", c.eps}};
  }
};

// RNGD: SGD on (G + λI)^{-1} g. Besides the (empty) element state, its
// checkpoint carries the mini-batch its blocks were last estimated on:
// refresh_arrays, "rngd_rows" (B), "rngd_nu" (B×H, ν(a) per sample and
// neuron), "rngd_h" (B×H, σ(a)), "rngd_eta" (B×M, softmax); restoring them
// makes a resumed run take the same steps as an uninterrupted one.
struct RngdRule {
  static constexpr OptimizerKind kind = OptimizerKind::rngd;
  static constexpr const char* name = "rngd";
  static constexpr int states = 0;
  static constexpr const char* state_names[2] = {"", ""};
  static constexpr bool preconditioned = true;
  static constexpr const char* refresh_arrays[4] = {"rngd_rows", "rngd_nu", "rngd_h", "rngd_eta"};
  // The blocks are re-estimated every rngd_period steps (and whenever there are none).
  static bool refresh_due(const OptimizerConfig& c, int64_t step, bool ready) {
    return step % c.rngd_period == 0 || !ready;
  }
  TS_HD static StepScalars scalars(const OptimizerConfig&, int64_t) { return {}; }
  TS_HD static void update(const OptimizerConfig& c, const StepScalars&, double& w, double g, double&, double&) {
    sgd_update(w, g, c.lr);
  }
  // The two per-element pieces of the hidden blocks' step (docs/rngd.md),
  // for hidden neuron i and refresh sample s, the CPU's loops and the CUDA
  // kernels alike. The right-hand side q_is of the block's small system,
  // from t = (dAᵀ X_b X_refᵀ)_is and P = W X_refᵀ; t becomes t + l2·P_is
  // (P's update reads it).
  TS_HD static double hidden_rhs(double& t, double p, double l2, double grad_b) {
    if (l2 > 0) t += l2 * p;
    return t + grad_b;
  }
  // The preconditioned ∂b_i, (∂b_i − Σ_s r_is)/λ with r_i = M_i q_i, summed
  // over s ascending.
  TS_HD static double bias_direction(const double* r, int64_t B, double grad_b, double lambda) {
    double total = 0;
    for (int64_t s = 0; s < B; ++s) total += r[s];
    return (grad_b - total) / lambda;
  }
  template <class Json>
  static void settings(const OptimizerConfig& c, Json& s) {
    s["rngd"] = {{"period", c.rngd_period}, {"damping", c.rngd_damping}, {"omega", c.rngd_omega}};
  }
};

// f(Rule{}) for the rule of `kind`: the one switch over the optimizers.
template <class F>
decltype(auto) visit_optimizer(OptimizerKind kind, F&& f) {
  switch (kind) {
    case OptimizerKind::momentum: return f(MomentumRule{});
    case OptimizerKind::adam: return f(AdamRule{});
    case OptimizerKind::rngd: return f(RngdRule{});
    case OptimizerKind::sgd: break;
  }
  return f(SgdRule{});
}
// Every kind, for parse_optimizer and the flags' help.
constexpr OptimizerKind kOptimizerKinds[] = {OptimizerKind::sgd, OptimizerKind::momentum, OptimizerKind::adam,
                                             OptimizerKind::rngd};

// The whole element-wise update of one step over n parameters. The L2
// term is added here, to the first `decay` elements (U and W in θ's flat
// layout), as g + l2·w with the same rounding as a separate pass over g
// (the CUDA kernel adds it in its own loop likewise): one pass over θ, g
// and the state instead of two. The CPU backend's loop; restrict-qualified
// and the settings in locals, or every store through w might change them and
// the loop stays scalar (Adam's 100 steps at H = 256: 225 → 150 ms).
template <class Rule, bool kDecay>
void update_range(const OptimizerConfig& config, const StepScalars& t, double* __restrict w,
                  const double* __restrict g, double* __restrict s0, double* __restrict s1, int64_t begin,
                  int64_t end) {
  const OptimizerConfig c = config;
  const double l2 = c.l2;
  double unused0 = 0, unused1 = 0;
  for (int64_t k = begin; k < end; ++k) {
    double& a = Rule::states > 0 ? s0[k] : unused0;
    double& b = Rule::states > 1 ? s1[k] : unused1;
    Rule::update(c, t, w[k], kDecay ? g[k] + l2 * w[k] : g[k], a, b);
  }
}

template <class Rule>
void update_elements(const OptimizerConfig& config, int64_t step, double* w, const double* g, double* s0,
                     double* s1, int64_t n, int64_t decay) {
  const StepScalars t = Rule::scalars(config, step);
  if (config.l2 > 0)
    update_range<Rule, true>(config, t, w, g, s0, s1, 0, decay);
  else
    update_range<Rule, false>(config, t, w, g, s0, s1, 0, decay);
  update_range<Rule, false>(config, t, w, g, s0, s1, decay, n);
}

// The host's view of the chosen optimizer: what the backends, the
// checkpoint and the reports ask of it.
class Optimizer {
 public:
  explicit Optimizer(const OptimizerConfig& config) : config_(config) {}
  const OptimizerConfig& config() const { return config_; }
  OptimizerKind kind() const { return config_.kind; }
  std::string name() const {
    return visit_optimizer(config_.kind, [](auto rule) { return std::string(decltype(rule)::name); });
  }
  int state_count() const {
    return visit_optimizer(config_.kind, [](auto rule) { return decltype(rule)::states; });
  }
  // The checkpoint names of the θ-sized state arrays, in order.
  std::vector<std::string> state_names() const {
    return visit_optimizer(config_.kind, [](auto rule) {
      using R = decltype(rule);
      return std::vector<std::string>(R::state_names, R::state_names + R::states);
    });
  }
  bool preconditioned() const {
    return visit_optimizer(config_.kind, [](auto rule) { return decltype(rule)::preconditioned; });
  }
  // θ ← update(θ, g + l2·θ on the first `decay` elements) with each state
  // array of state_count() (θ's size n).
  void update(int64_t step, double* theta, const double* grad, std::vector<std::vector<double>>& state,
              int64_t n, int64_t decay) const {
    visit_optimizer(config_.kind, [&](auto rule) {
      using R = decltype(rule);
      update_elements<R>(config_, step, theta, grad, R::states > 0 ? state[0].data() : nullptr,
                         R::states > 1 ? state[1].data() : nullptr, n, decay);
    });
  }

 private:
  OptimizerConfig config_;
};

// "sgd", "momentum", "adam", "rngd"; throws InputError naming the known ones.
OptimizerKind parse_optimizer(const std::string& name);
std::string optimizer_name(OptimizerKind kind);

// Throws InputError for lr ≤ 0, l2 < 0, β outside [0, 1), T < 1, λ ≤ 0, ω ≤ 0, eps ≤ 0.
void check_optimizer_config(const OptimizerConfig& config);

}  // namespace taylorscope
