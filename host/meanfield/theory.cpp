// The maps of MATH.md §11 by Gauss–Hermite quadrature, their fixed points
// and depth scales, and the grid with its χ1 = 1 boundary (meanfield.hpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "taylorscope/errors.hpp"
#include "taylorscope/meanfield.hpp"

namespace taylorscope {

double MeanFieldMaps::q_map(double q) const {
  const double s = std::sqrt(q);
  double sum = 0.0;
  for (size_t i = 0; i < rule.nodes.size(); ++i) {
    const double f = activation_value(act, s * rule.nodes[i]);
    sum += rule.weights[i] * f * f;
  }
  return sigma_w2 * sum + sigma_b2;
}

double MeanFieldMaps::q_slope(double q) const {
  const double s = std::sqrt(q);
  double sum = 0.0;
  for (size_t i = 0; i < rule.nodes.size(); ++i) {
    const double u = s * rule.nodes[i];
    sum += rule.weights[i] * activation_value(act, u) * activation_derivative(act, u) * rule.nodes[i];
  }
  return sigma_w2 * sum / s;
}

double MeanFieldMaps::chi1(double q) const {
  const double s = std::sqrt(q);
  double sum = 0.0;
  for (size_t i = 0; i < rule.nodes.size(); ++i) {
    const double d = activation_derivative(act, s * rule.nodes[i]);
    sum += rule.weights[i] * d * d;
  }
  return sigma_w2 * sum;
}

MeanFieldMaps::Pair MeanFieldMaps::pair(double q, double c) const {
  c = std::clamp(c, -1.0, 1.0);
  const double s = std::sqrt(q), sc = std::sqrt(std::max(0.0, 1.0 - c * c));
  const size_t n = rule.nodes.size();
  double cov = 0.0, chi = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double u1 = s * rule.nodes[i];
    double inner_v = 0.0, inner_d = 0.0;
    for (size_t j = 0; j < n; ++j) {
      const double u2 = s * (c * rule.nodes[i] + sc * rule.nodes[j]);
      inner_v += rule.weights[j] * activation_value(act, u2);
      inner_d += rule.weights[j] * activation_derivative(act, u2);
    }
    cov += rule.weights[i] * activation_value(act, u1) * inner_v;
    chi += rule.weights[i] * activation_derivative(act, u1) * inner_d;
  }
  return {sigma_w2 * cov + sigma_b2, sigma_w2 * chi};
}

namespace {

// q past this (times the problem's own scale) counts as unbounded: a φ that
// grows linearly leaves the quadrature's V(q) a relative 1e-16 off, so
// V(q) − q is rounding once q·1e-16 nears σ_b², and a root found beyond
// 1e12 could be that rounding's. Below kQTiny q counts as 0 (it only
// shrinks there, by at most V′ per layer, and q = 1e-280 is 10^-140 in z).
constexpr double kQHuge = 1e12;
constexpr double kQTiny = 1e-280;

enum class QStatus { finite, zero, divergent };
struct QFixed {
  QStatus status = QStatus::finite;
  double q = NAN;
};

// The limit of q_l = V(q_{l−1}) from q0. V is increasing (φ² grows with |u|
// for every activation here, or V′ ≥ 0 by the Gaussian identity), so the
// sequence is monotone and its limit is the nearest root of V(q) − q in the
// direction it moves: bracket it by doubling (or halving) from q0, then
// safeguarded Newton (a bisection step whenever Newton leaves the bracket).
QFixed solve_q_star(const MeanFieldMaps& maps, double q0) {
  const double scale = std::max({1.0, q0, maps.sigma_b2});
  const double g0 = maps.q_map(q0) - q0;
  // V(q0) = q0 to rounding: every q may be fixed (ReLU at σ_w² = 2, σ_b² = 0);
  // the sequence stays where it starts.
  if (std::fabs(g0) <= 1e-14 * q0) return {QStatus::finite, q0};
  double lo = q0, hi = q0;  // g(lo) > 0 > g(hi) once bracketed
  if (g0 > 0) {
    for (;;) {
      hi *= 2;
      if (hi > kQHuge * scale) return {QStatus::divergent, NAN};
      if (maps.q_map(hi) - hi <= 0) break;
      lo = hi;
    }
  } else {
    for (;;) {
      lo *= 0.5;
      if (lo < kQTiny) return {QStatus::zero, 0.0};
      // A rounding-level tie is not a root: at σ_w² φ′(0)² = 1 without bias
      // V(q) − q ≈ −c q² reaches rounding near q ~ 1e-16 and q_l → 0 only
      // like 1/l; the halving then goes on to q* = 0.
      if (maps.q_map(lo) - lo > 1e-14 * lo) break;
      hi = lo;
    }
  }
  double x = 0.5 * (lo + hi);
  for (int it = 0; it < 200 && hi - lo > 4 * std::numeric_limits<double>::epsilon() * hi; ++it) {
    const double g = maps.q_map(x) - x;
    if (g == 0) return {QStatus::finite, x};
    (g > 0 ? lo : hi) = x;
    const double dg = maps.q_slope(x) - 1.0;
    double next = dg != 0 ? x - g / dg : NAN;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (next == x) break;
    x = next;
  }
  return {QStatus::finite, x};
}

std::string num(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

double depth_scale(double slope) {
  if (!(slope < 1.0)) return NAN;  // infinite or growing: no decay length
  if (slope <= 0.0) return 0.0;    // the deviation vanishes after one layer
  return -1.0 / std::log(slope);
}

// |χ1 − 1| at which a point is called critical: the quadrature's χ1 is exact
// to ~1e-15 for the smooth activations (docs/meanfield.md), and 1e-12 leaves
// that room without calling any grid point of a useful resolution critical.
constexpr double kCriticalBand = 1e-12;

}  // namespace

std::string quadrature_caveat(const Activation& act) {
  switch (act.kind) {
    case ActivationKind::relu:
      return "relu: q*, chi1 and xi_q are exact (the symmetric even rule splits the kink evenly), but the 2-D "
             "pair map (c*, chi_c, --simulate's c theory) converges only algebraically across the kink: "
             "~1e-3 absolute at 128 points per dimension (docs/meanfield.md)";
    case ActivationKind::elu:
      return "elu: its second derivative jumps at 0, so Gauss–Hermite converges algebraically: ~3e-3 relative "
             "in chi1 at 128 points per dimension (docs/meanfield.md)";
    case ActivationKind::relu_omega:
      if (act.omega < 0.5)
        return "relu_omega with omega " + num(act.omega) + " < 0.5 is nearly kinked: Gauss–Hermite converges "
               "slowly (chi1 ~2e-6 relative at omega 0.25, ~3e-3 at 0.1, 128 points; docs/meanfield.md)";
      return "";
    default: return "";
  }
}

MeanFieldPoint meanfield_point(const MeanFieldConfig& config) {
  return meanfield_point(config, gauss_hermite(config.quadrature_points));
}

MeanFieldPoint meanfield_point(const MeanFieldConfig& config, const GaussHermite& rule) {
  if (!(config.sigma_w2 >= 0) || !std::isfinite(config.sigma_w2))
    throw InputError("sigma_w2 must be a finite number ≥ 0, got " + num(config.sigma_w2));
  if (!(config.sigma_b2 >= 0) || !std::isfinite(config.sigma_b2))
    throw InputError("sigma_b2 must be a finite number ≥ 0, got " + num(config.sigma_b2));
  if (!(config.q0 > 0) || !std::isfinite(config.q0))
    throw InputError("q0 must be a finite number > 0, got " + num(config.q0));
  MeanFieldMaps maps{config.act, config.sigma_w2, config.sigma_b2, rule};
  MeanFieldPoint p;
  p.activation = activation_name(config.act);
  p.sigma_w2 = config.sigma_w2;
  p.sigma_b2 = config.sigma_b2;
  p.quadrature_points = static_cast<int>(rule.nodes.size());
  const std::string where = "at sigma_w2 = " + num(config.sigma_w2) + ", sigma_b2 = " + num(config.sigma_b2);

  const QFixed fixed = solve_q_star(maps, config.q0);
  if (fixed.status == QStatus::divergent) {
    p.phase = "divergent";
    p.warnings.push_back(where + ": q grows without bound from q0 = " + num(config.q0) +
                         " (no fixed point below " + num(kQHuge * std::max({1.0, config.q0, config.sigma_b2})) +
                         "): q_star, chi1, c_star, xi_q, xi_c are null");
    return p;
  }
  p.q_star = fixed.q;
  // At q* = 0 the slopes are their limits q → 0+, taken at q = kQTiny.
  const double q_eval = fixed.status == QStatus::zero ? kQTiny : fixed.q;
  p.q_slope = maps.q_slope(q_eval);
  p.chi1 = maps.chi1(q_eval);
  p.xi_q = depth_scale(p.q_slope);
  if (std::isnan(p.xi_q))
    p.warnings.push_back(where + ": the q-map's slope at q* is " + num(p.q_slope) + " ≥ 1: xi_q is infinite (null)");
  p.phase = p.chi1 < 1 - kCriticalBand ? "ordered" : p.chi1 > 1 + kCriticalBand ? "chaotic" : "critical";
  if (fixed.status == QStatus::zero) {
    p.warnings.push_back(where + ": q* = 0 (q decays to 0 from q0 = " + num(config.q0) +
                         "): the c-map divides by q*, so c_star and xi_c are null; chi1 is its limit q → 0");
    return p;
  }

  if (p.phase != "chaotic") {
    // c = 1 is the fixed point, and the only one in [0, 1]: the pair map is
    // convex in c on [0, 1] (its Hermite coefficients are squares), so with
    // slope χ1 ≤ 1 at c = 1 it stays above the diagonal below 1.
    p.c_star = 1.0;
    p.chi_c = p.chi1;
    p.xi_c = depth_scale(p.chi1);
    if (std::isnan(p.xi_c)) p.warnings.push_back(where + ": chi1 = 1 (critical): xi_c is infinite (null)");
    return p;
  }
  // Chaotic: c = 1 repels, and the convex h(c) = C(c) − c has h(0) ≥ 0 and
  // h < 0 just below 1, so exactly one root c* in [0, 1): the stable one.
  const double q = p.q_star;
  auto h = [&](double c) { return maps.pair(q, c).cov / q - c; };
  const double h0 = h(0.0);
  double c_star = 0.0;
  // h(0) = σ_w² (∫ φ Dz)² / q* + σ_b² / q* ≥ 0, zero for an odd φ without
  // bias; within a few ulps of 0 the root is 0 to rounding.
  if (h0 > 4 * std::numeric_limits<double>::epsilon()) {
    double lo = 0.0, hi = 0.5;
    bool bracketed = false;
    for (int k = 0; k < 40; ++k, hi = 0.5 * (hi + 1.0))
      if (h(hi) < 0) {
        bracketed = true;
        break;
      } else {
        lo = hi;
      }
    if (!bracketed) {
      // C(c) − c is not below rounding anywhere within 2^-40 of 1: χ1 is
      // so close to 1 that c* cannot be told from 1.
      p.warnings.push_back(where + ": c* is within 1e-12 of 1 (chi1 = " + num(p.chi1) + "): c_star reported as 1");
      c_star = 1.0;
    } else {
      double x = 0.5 * (lo + hi);
      for (int it = 0; it < 100 && hi - lo > 1e-15; ++it) {
        const MeanFieldMaps::Pair pr = maps.pair(q, x);
        const double g = pr.cov / q - x;
        if (g == 0) break;
        (g > 0 ? lo : hi) = x;
        double next = x - g / (pr.chi_c - 1.0);
        if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
        if (next == x) break;
        x = next;
      }
      c_star = x;
    }
  }
  p.c_star = c_star;
  p.chi_c = maps.pair(q, c_star).chi_c;
  p.xi_c = depth_scale(p.chi_c);
  if (std::isnan(p.xi_c))
    p.warnings.push_back(where + ": chi_c at c* is " + num(p.chi_c) + " ≥ 1: xi_c is infinite (null)");
  return p;
}

namespace {

// χ1 at (σ_w², σ_b²) through q*; NaN when q* is unbounded.
double chi1_at(const MeanFieldConfig& base, const GaussHermite& rule, double sigma_w2, double sigma_b2) {
  MeanFieldMaps maps{base.act, sigma_w2, sigma_b2, rule};
  const QFixed f = solve_q_star(maps, base.q0);
  if (f.status == QStatus::divergent) return NAN;
  return maps.chi1(f.status == QStatus::zero ? kQTiny : f.q);
}

}  // namespace

MeanFieldGrid meanfield_grid(const MeanFieldConfig& base, const std::vector<double>& sigma_w2,
                             const std::vector<double>& sigma_b2,
                             const std::function<void(int64_t, int64_t)>& progress) {
  const GaussHermite rule = gauss_hermite(base.quadrature_points);
  MeanFieldGrid grid;
  const int64_t total = static_cast<int64_t>(sigma_w2.size() * sigma_b2.size());
  for (double b2 : sigma_b2) {
    const size_t row = grid.points.size();
    for (double w2 : sigma_w2) {
      MeanFieldConfig c = base;
      c.sigma_w2 = w2;
      c.sigma_b2 = b2;
      grid.points.push_back(meanfield_point(c, rule));
      if (progress) progress(static_cast<int64_t>(grid.points.size()), total);
    }
    // The boundary along σ_w²: the first neighbours of the row whose χ1 − 1
    // differ in sign, then bisection in σ_w² (χ1 is continuous in σ_w²
    // through q*) down to a relative 1e-12 of the bracket.
    BoundaryPoint bp;
    bp.sigma_b2 = b2;
    for (size_t i = 0; i + 1 < sigma_w2.size(); ++i) {
      const double f0 = grid.points[row + i].chi1 - 1.0, f1 = grid.points[row + i + 1].chi1 - 1.0;
      if (!std::isfinite(f0) || !std::isfinite(f1) || (f0 > 0) == (f1 > 0)) continue;
      if (f0 == 0) {
        bp.sigma_w2 = sigma_w2[i];
      } else {
        double lo = sigma_w2[i], hi = sigma_w2[i + 1];
        const bool rising = f0 < 0;
        for (int it = 0; it < 200 && std::fabs(hi - lo) > 1e-12 * std::max(std::fabs(lo), std::fabs(hi)); ++it) {
          const double mid = 0.5 * (lo + hi);
          const double f = chi1_at(base, rule, mid, b2) - 1.0;
          if (!std::isfinite(f)) break;
          ((f < 0) == rising ? lo : hi) = mid;
        }
        bp.sigma_w2 = 0.5 * (lo + hi);
      }
      MeanFieldMaps maps{base.act, bp.sigma_w2, b2, rule};
      bp.q_star = solve_q_star(maps, base.q0).q;  // 0 where q decays, NaN where it grows without bound
      break;
    }
    grid.boundary.push_back(bp);
  }
  return grid;
}

std::vector<SimulateLayer> meanfield_theory_layers(const MeanFieldMaps& maps, double q0, double c0, int depth,
                                                   int64_t width) {
  std::vector<SimulateLayer> layers(depth + 1);
  double q = q0, c = c0, var_s = 0.0;
  const double n = static_cast<double>(width);
  layers[0] = {0, q0, NAN, 0.0, NAN, c0, NAN, NAN};
  for (int l = 1; l <= depth; ++l) {
    const double q_next = maps.q_map(q);
    const double c_next = maps.pair(q, c).cov / q_next;
    // One input's conditional variance s_l² = σ_w² (1/N) Σ φ(z_{l−1})² + σ_b²:
    // its mean is V(s_{l−1}²) and, given layer l−1, its variance is
    // σ_w⁴ Var φ(√s z)² / N; linearising V carries the earlier layers' part.
    // The measured q̂_l = s_l² χ²_N / N adds 2 q_l² / N.
    const double s = std::sqrt(q);
    double m2 = 0.0, m4 = 0.0;
    for (size_t i = 0; i < maps.rule.nodes.size(); ++i) {
      const double f = activation_value(maps.act, s * maps.rule.nodes[i]);
      m2 += maps.rule.weights[i] * f * f;
      m4 += maps.rule.weights[i] * f * f * f * f;
    }
    const double slope = maps.q_slope(q);
    var_s = slope * slope * var_s + maps.sigma_w2 * maps.sigma_w2 * std::max(0.0, m4 - m2 * m2) / n;
    q = q_next;
    c = c_next;
    layers[l].layer = l;
    layers[l].q_theory = q;
    layers[l].q_sd_expected = std::sqrt(var_s + 2 * q * q / n);
    layers[l].c_theory = c;
  }
  return layers;
}

}  // namespace taylorscope
