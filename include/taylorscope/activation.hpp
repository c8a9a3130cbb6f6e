// The hidden-layer activations σ of docs/math.md §1: value and derivative as
// host-and-device functions (used by the direct evaluation of S and, later,
// by training), and σ^(k)(0) to any order from series arithmetic (docs/math.md §2).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "taylorscope/exp_nonpositive.hpp"
#include "taylorscope/hd.hpp"

namespace taylorscope {

enum class ActivationKind { silu, relu, tanh, sigmoid, gelu, softplus, elu, relu_omega };

// relu_omega (seed 003): ω ln(exp(ι x/ω) + exp(x/ω)); omega and iota are used by it alone.
struct Activation {
  ActivationKind kind = ActivationKind::silu;
  double omega = 1.0;
  double iota = 0.0;
};

// Parses "silu", "relu", …, "relu_omega"; throws InputError naming the known ones.
Activation parse_activation(const std::string& name, double omega = 1.0, double iota = 0.0);
std::string activation_name(const Activation& act);

TS_HD double sigmoid_value(double x) {
  // Split by sign so exp never overflows: e = e^{−|x|} ≤ 1, and
  // σ(x) = 1/(1+e) for x ≥ 0, e/(1+e) below. One exp and one division,
  // without branches, so the CPU pass's loops over hidden units vectorise
  // and GPU lanes holding either sign do not diverge into both.
  const double e = exp_nonpositive(-fabs(x));
  const double numerator = x >= 0 ? 1.0 : e;
  return numerator / (1.0 + e);
}

TS_HD double softplus_value(double x) {
  // ln(1 + e^x) = max(x,0) + ln(1 + e^{-|x|})
  return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x)));
}

TS_HD double activation_value(const Activation& act, double x) {
  switch (act.kind) {
    case ActivationKind::silu: return x * sigmoid_value(x);
    case ActivationKind::relu: return x > 0 ? x : 0.0;
    case ActivationKind::tanh: return tanh(x);
    case ActivationKind::sigmoid: return sigmoid_value(x);
    case ActivationKind::gelu: return 0.5 * x * erfc(-x * 0.70710678118654752440);
    case ActivationKind::softplus: return softplus_value(x);
    case ActivationKind::elu: return x > 0 ? x : expm1(x);
    case ActivationKind::relu_omega: {
      // ω ln(e^{ιx/ω} + e^{x/ω}) = ιx + ω softplus((1-ι) x / ω)
      const double w = act.omega;
      return act.iota * x + w * softplus_value((1.0 - act.iota) * x / w);
    }
  }
  return 0.0;
}

TS_HD double activation_derivative(const Activation& act, double x) {
  switch (act.kind) {
    case ActivationKind::silu: {
      const double s = sigmoid_value(x);
      return s * (1.0 + x * (1.0 - s));
    }
    case ActivationKind::relu: return x > 0 ? 1.0 : 0.0;
    case ActivationKind::tanh: {
      const double t = tanh(x);
      return 1.0 - t * t;
    }
    case ActivationKind::sigmoid: {
      const double s = sigmoid_value(x);
      return s * (1.0 - s);
    }
    case ActivationKind::gelu:
      return 0.5 * erfc(-x * 0.70710678118654752440) +
             x * 0.39894228040143267794 * exp(-0.5 * x * x);
    case ActivationKind::softplus: return sigmoid_value(x);
    case ActivationKind::elu: return x > 0 ? 1.0 : exp(x);
    case ActivationKind::relu_omega:
      return act.iota + (1.0 - act.iota) * sigmoid_value((1.0 - act.iota) * x / act.omega);
  }
  return 0.0;
}

// Which Taylor coefficients of σ at 0 vanish by symmetry: those of order
// k ≥ from with k % 2 == parity (parity −1: none). Series arithmetic leaves
// rounding noise there (k!·1e-16 relative: −7e42 for sigmoid's σ^(64)(0));
// activation_taylor replaces it by exact zeros, and a test checks each
// declaration against activation_value, σ(x) beside σ(−x).
struct VanishingCoefficients {
  int parity = -1;
  int from = 0;
};

inline VanishingCoefficients vanishing_coefficients(const Activation& act) {
  switch (act.kind) {
    case ActivationKind::tanh: return {0, 0};     // odd
    case ActivationKind::sigmoid: return {0, 2};  // sigmoid − ½ is odd
    case ActivationKind::silu: return {1, 3};     // x·(sigmoid − ½) = silu − x/2 is even
    case ActivationKind::gelu: return {1, 3};     // x·(Φ − ½) = gelu − x/2 is even
    case ActivationKind::softplus: return {1, 3}; // ln(2 cosh(x/2)) = softplus − x/2 is even
    // ιx + ω softplus((1−ι)x/ω): a constant and a line plus an even function.
    case ActivationKind::relu_omega: return {1, 3};
    // The linear branch x is expanded without arithmetic: its zeros are exact already.
    case ActivationKind::relu:
    case ActivationKind::elu: return {};
  }
  return {};
}

// Taylor coefficients of σ at 0: result[k] = σ^(k)(0) / k!, k = 0..count-1,
// by power-series arithmetic (never a table). ReLU and ELU are not analytic at
// 0; like seed 001 we expand their linear branch x.
std::vector<double> activation_taylor(const Activation& act, int count);

// σ^(k)(0) itself, k = 0..count-1 (what the report calls sigma_derivs).
std::vector<double> activation_derivatives_at_zero(const Activation& act, int count);

}  // namespace taylorscope
