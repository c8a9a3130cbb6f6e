// The per-sample weights ν(a) of the relative Fisher information of one
// hidden neuron, G_i = mean_batch ν(w_iᵀx̃) x̃x̃ᵀ (docs/math.md §9, seed 003 §2):
//   Gaussian-output neuron   ν = σ'(a)²
//   relu (seed 003's relu_ω)  ν = [ι + (1−ι) sigm((1−ι) a / ω)]²
//   tanh                      ν = sech²(a)
//   sigmoid                   ν = sigm(a)(1 − sigm(a))
// ReLU's derivative is a step, so its neurons use the smoothed relu_ω
// weight with ι = 0 and the RNGD smoothing ω.
#pragma once

#include "taylorscope/activation.hpp"
#include "taylorscope/hd.hpp"

namespace taylorscope {

TS_HD double rfim_neuron_weight(const Activation& act, double a, double relu_omega) {
  switch (act.kind) {
    case ActivationKind::tanh: {
      const double t = tanh(a);
      return 1.0 - t * t;
    }
    case ActivationKind::sigmoid: {
      const double s = sigmoid_value(a);
      return s * (1.0 - s);
    }
    case ActivationKind::relu: {
      const double d = sigmoid_value(a / relu_omega);
      return d * d;
    }
    default: {  // σ'², relu_omega included: its σ' is the bracket above
      const double d = activation_derivative(act, a);
      return d * d;
    }
  }
}

}  // namespace taylorscope
