// σ^(k)(0) by power-series arithmetic (docs/math.md §2): each activation is built
// from x, exp, log, division and integration of truncated series, so any
// order is exact up to rounding and no table of derivatives exists anywhere.
#include <cmath>
#include <numbers>
#include <vector>

#include "taylorscope/activation.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/series.hpp"

namespace taylorscope {
namespace {

using Series = std::vector<double>;

Series identity(int n) {
  Series x(n, 0.0);
  if (n > 1) x[1] = 1.0;
  return x;
}

Series constant(double v, int n) {
  Series s(n, 0.0);
  if (n > 0) s[0] = v;
  return s;
}

Series mul(const Series& a, const Series& b) {
  Series out(a.size());
  series_mul(a.data(), b.data(), out.data(), static_cast<int>(a.size()));
  return out;
}

Series div(const Series& a, const Series& b) {
  Series out(a.size());
  series_div(a.data(), b.data(), out.data(), static_cast<int>(a.size()));
  return out;
}

Series exp_of(const Series& a) {
  Series out(a.size());
  jet_exp(a.data(), out.data(), static_cast<int>(a.size()));
  return out;
}

Series log_of(const Series& a) {
  Series out(a.size());
  jet_log(a.data(), out.data(), static_cast<int>(a.size()));
  return out;
}

Series scaled(const Series& a, double s) {
  Series out(a);
  for (double& v : out) v *= s;
  return out;
}

Series plus(const Series& a, const Series& b) {
  Series out(a);
  for (size_t k = 0; k < out.size(); ++k) out[k] += b[k];
  return out;
}

// sigmoid(λx) = 1 / (1 + exp(−λx))
Series sigmoid_series(double lambda, int n) {
  return div(constant(1.0, n), plus(constant(1.0, n), exp_of(scaled(identity(n), -lambda))));
}

}  // namespace

Activation parse_activation(const std::string& name, double omega, double iota) {
  Activation act;
  act.omega = omega;
  act.iota = iota;
  if (name == "silu") act.kind = ActivationKind::silu;
  else if (name == "relu") act.kind = ActivationKind::relu;
  else if (name == "tanh") act.kind = ActivationKind::tanh;
  else if (name == "sigmoid") act.kind = ActivationKind::sigmoid;
  else if (name == "gelu") act.kind = ActivationKind::gelu;
  else if (name == "softplus") act.kind = ActivationKind::softplus;
  else if (name == "elu") act.kind = ActivationKind::elu;
  else if (name == "relu_omega") act.kind = ActivationKind::relu_omega;
  else
    throw InputError("unknown activation '" + name +
                     "' (known: silu relu tanh sigmoid gelu softplus elu relu_omega)");
  if (act.kind == ActivationKind::relu_omega && !(omega > 0 && iota >= 0 && iota < 1))
    throw InputError("relu_omega needs omega > 0 and 0 <= iota < 1");
  return act;
}

std::string activation_name(const Activation& act) {
  switch (act.kind) {
    case ActivationKind::silu: return "silu";
    case ActivationKind::relu: return "relu";
    case ActivationKind::tanh: return "tanh";
    case ActivationKind::sigmoid: return "sigmoid";
    case ActivationKind::gelu: return "gelu";
    case ActivationKind::softplus: return "softplus";
    case ActivationKind::elu: return "elu";
    case ActivationKind::relu_omega: return "relu_omega";
  }
  return "?";
}

namespace {

Series series_arithmetic(const Activation& act, int n) {
  const Series x = identity(n);
  switch (act.kind) {
    case ActivationKind::silu: return mul(x, sigmoid_series(1.0, n));
    case ActivationKind::relu:
    case ActivationKind::elu: return x;  // the linear branch (seed 001's convention)
    case ActivationKind::tanh:
      // tanh x = 2 sigmoid(2x) − 1
      return plus(scaled(sigmoid_series(2.0, n), 2.0), constant(-1.0, n));
    case ActivationKind::sigmoid: return sigmoid_series(1.0, n);
    case ActivationKind::gelu: {
      // x Φ(x), Φ(x) = ½ + ∫₀ˣ φ,  φ(u) = exp(−u²/2)/√(2π)
      Series q(n, 0.0);
      if (n > 2) q[2] = -0.5;
      const Series phi = scaled(exp_of(q), 1.0 / std::sqrt(2.0 * std::numbers::pi));
      Series Phi(n);
      series_integrate(phi.data(), 0.5, Phi.data(), n);
      return mul(x, Phi);
    }
    case ActivationKind::softplus:
      return log_of(plus(constant(1.0, n), exp_of(x)));
    case ActivationKind::relu_omega:
      // ω ln(exp(ιx/ω) + exp(x/ω))
      return scaled(log_of(plus(exp_of(scaled(x, act.iota / act.omega)),
                                exp_of(scaled(x, 1.0 / act.omega)))),
                    act.omega);
  }
  return x;
}

}  // namespace

std::vector<double> activation_taylor(const Activation& act, int count) {
  const int n = count > 0 ? count : 0;
  if (n == 0) return {};
  Series s = series_arithmetic(act, n);
  const VanishingCoefficients zero = vanishing_coefficients(act);
  if (zero.parity >= 0)
    for (int k = zero.from; k < n; ++k)
      if (k % 2 == zero.parity) s[k] = 0.0;
  return s;
}

std::vector<double> activation_derivatives_at_zero(const Activation& act, int count) {
  std::vector<double> d = activation_taylor(act, count);
  double factorial = 1.0;
  for (size_t k = 0; k < d.size(); ++k) {
    if (k > 0) factorial *= static_cast<double>(k);
    d[k] *= factorial;
  }
  return d;
}

}  // namespace taylorscope
