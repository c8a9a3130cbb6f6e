// Mean-field signal propagation (MATH.md §11, seed 002; Schoenholz et al.
// 2017, "Deep Information Propagation"): the q-map and its fixed point q*,
// χ1, the c-map and its fixed point c*, the depth scales ξ_q and ξ_c, by
// Gauss–Hermite quadrature; a grid of them over (σ_w², σ_b²); and a deep
// random network that measures q_l and c_l layer by layer beside the theory.
//
// The random network's draws are TS_HD functions of (seed, stream, index)
// alone (counter_rng.hpp), so the CPU loop and the CUDA kernel draw the same
// network. The header keeps to C++17: nvcc compiles it.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "taylorscope/activation.hpp"
#include "taylorscope/counter_rng.hpp"
#include "taylorscope/hd.hpp"

namespace taylorscope {

// ---- Gauss–Hermite quadrature for the standard Gaussian measure Dz.

// n nodes x_i and weights w_i with Σ w_i f(x_i) = ∫ f(z) Dz exactly for every
// polynomial f of degree ≤ 2n − 1 (Σ w_i = 1). Nodes from the eigenvalues of
// the Jacobi matrix of the orthonormal probabilists' Hermite polynomials
// (Golub–Welsch, LAPACK dsterf), polished by Newton on the three-term
// recurrence; weights from the Christoffel sum 1 / Σ_{k<n} p_k(x_i)², which
// keeps the tiny tail weights accurate to relative rounding (the eigenvector
// formula gives them only to absolute rounding). Throws InputError unless
// 2 ≤ n ≤ kMaxQuadraturePoints.
struct GaussHermite {
  std::vector<double> nodes, weights;  // ascending nodes
};
inline constexpr int kMaxQuadraturePoints = 256;
GaussHermite gauss_hermite(int n);

// ---- the maps of MATH.md §11 at one (σ_w², σ_b²).

struct MeanFieldMaps {
  Activation act;
  double sigma_w2 = 1.0, sigma_b2 = 0.0;
  GaussHermite rule;  // per dimension; the c-map uses its tensor product

  // q-map V(q) = σ_w² ∫ φ(√q z)² Dz + σ_b², and its slope
  // dV/dq = σ_w² / √q ∫ φ(√q z) φ′(√q z) z Dz (= σ_w² ∫ (φ′² + φ φ″)(√q z) Dz
  // after Gaussian integration by parts, the seed's "a"; written with φ and φ′
  // alone so every activation's own derivative serves).
  double q_map(double q) const;
  double q_slope(double q) const;
  // χ1 at q: σ_w² ∫ φ′(√q z)² Dz.
  double chi1(double q) const;
  // The pair map at input variance q (both members) and correlation c:
  //   cov  = σ_w² ∫∫ φ(u1) φ(u2) Dz1 Dz2 + σ_b²,
  //   χ_c  = σ_w² ∫∫ φ′(u1) φ′(u2) Dz1 Dz2   (= d cov/dc / q),
  // u1 = √q z1, u2 = √q (c z1 + √(1 − c²) z2). One pass of the tensor rule.
  struct Pair {
    double cov = 0, chi_c = 0;
  };
  Pair pair(double q, double c) const;
};

// The single-point results. A value that does not exist is NaN here and null
// in the JSON/CSV writers (never printed as NaN); `warnings` says why.
struct MeanFieldPoint {
  std::string activation;
  double sigma_w2 = 0, sigma_b2 = 0;
  double q_star = NAN;   // the limit of the q-map from q_0; NaN when q grows without bound
  double q_slope = NAN;  // V′(q*)
  double chi1 = NAN;
  double c_star = NAN;   // stable fixed point of the c-map at q*; 1 in the ordered phase
  double chi_c = NAN;    // χ_c at c* (χ1 when c* = 1)
  double xi_q = NAN;     // −1 / ln V′(q*); NaN (null) when V′(q*) ≥ 1
  double xi_c = NAN;     // −1 / ln χ_c(c*); NaN (null) when χ_c ≥ 1 (infinite depth scale)
  std::string phase;     // "ordered" (χ1 < 1), "chaotic" (χ1 > 1), "critical", "divergent", "q*=0"
  int quadrature_points = 0;
  std::vector<std::string> warnings;
};

struct MeanFieldConfig {
  Activation act;
  double sigma_w2 = 1.0, sigma_b2 = 0.05;
  int quadrature_points = 128;  // per dimension (docs/meanfield.md: why 128 is enough)
  double q0 = 1.0;             // where the q-map is started (and the simulated inputs' q)
};

// q*, χ1, c*, χ_c, ξ_q, ξ_c at one point. Throws InputError for σ_w² < 0,
// σ_b² < 0 or a bad quadrature order.
MeanFieldPoint meanfield_point(const MeanFieldConfig& config);
// The same with a rule already computed (the grid reuses one).
MeanFieldPoint meanfield_point(const MeanFieldConfig& config, const GaussHermite& rule);

// What the quadrature cannot promise for this activation (empty when the
// default order is converged to ~1e-10 or better): ReLU's kink leaves the 2-D
// pair map algebraically convergent, ELU's jump in φ″ and a small-ω
// relu_omega's near-kink do the same to every integral. Measured errors are
// in docs/meanfield.md; the CLI prints this once as a warning.
std::string quadrature_caveat(const Activation& act);

// ---- the grid and its order-to-chaos boundary χ1 = 1.

struct BoundaryPoint {
  double sigma_b2 = 0;
  double sigma_w2 = NAN;  // where χ1 = 1 along σ_w² (bisection); NaN when the grid's σ_w² range holds none
  double q_star = NAN;
};

struct MeanFieldGrid {
  std::vector<MeanFieldPoint> points;  // σ_b² outer, σ_w² inner
  std::vector<BoundaryPoint> boundary; // one per σ_b²
};

// Every (σ_w², σ_b²) of the two lists; progress(done, total) after each point.
MeanFieldGrid meanfield_grid(const MeanFieldConfig& base, const std::vector<double>& sigma_w2,
                             const std::vector<double>& sigma_b2,
                             const std::function<void(int64_t, int64_t)>& progress = {});

// ---- the random network (--simulate).

struct SimulateConfig {
  MeanFieldConfig theory;  // activation, σ_w², σ_b², quadrature, q_0
  int depth = 30;          // layers L
  int64_t width = 1000;    // N
  int64_t pairs = 32;      // P input pairs
  double c0 = 0.5;         // the correlation of each pair's two inputs
  uint64_t seed = 0;
  int device = -1;         // −1 CPU, else the CUDA device (resolve_device)
};

// Per layer l = 0..L (0: the inputs): the measured means over the inputs
// beside the theory. q_sd_expected is the standard deviation of one input's
// q̂_l at width N predicted by the linearised fluctuation recursion
// (meanfield_theory_layers; O(1/√N)); the mean over inputs deviates from the
// theory by at most that much in standard deviation, whatever the inputs'
// correlations. The observed spreads are the sample standard deviations over
// the 2P inputs (q) and the P pairs (c).
struct SimulateLayer {
  int layer = 0;
  double q_theory = NAN, q_measured = NAN, q_sd_expected = NAN, q_sd_observed = NAN;
  double c_theory = NAN, c_measured = NAN, c_sd_observed = NAN;
};

struct SimulateResult {
  MeanFieldPoint point;  // q*, c*, … at the same (σ_w², σ_b²)
  std::vector<SimulateLayer> layers;
  std::string device;    // "cpu" or "cuda:i"
  double seconds = 0;    // the propagation alone (draws, GEMMs, statistics)
};

// Throws InputError for a bad size or σ; progress(layer, L) after each layer.
SimulateResult meanfield_simulate(const SimulateConfig& config,
                                  const std::function<void(int64_t, int64_t)>& progress = {});

// The per-pair sums one layer gives: Σ z_a², Σ z_b², Σ z_a z_b over the N units.
struct PairSums {
  double aa = 0, bb = 0, ab = 0;
};

// The theory per layer from q_0 and c_0: q_l = V(q_{l−1}) and
// c_l = cov(q_{l−1}, c_{l−1}) / q_l (the pair map at the previous layer's q,
// which is MATH.md's c-map once q_l has reached q*).
std::vector<SimulateLayer> meanfield_theory_layers(const MeanFieldMaps& maps, double q0, double c0, int depth,
                                                   int64_t width);

// ---- the network's draws, shared by the CPU loop and the CUDA kernel.
// Streams: the pair inputs 0 and 1; layer l ≥ 1 its weights 2l, its biases
// 2l + 1. Draw index i·N + j is W_l[i][j], so growing --depth or --pairs
// keeps every earlier draw.

TS_HD double meanfield_weight(uint64_t seed, int layer, int64_t width, int64_t row, int64_t col,
                              double sigma_w) {
  return sigma_w / sqrt(static_cast<double>(width)) *
         philox_normal(seed, 2 * static_cast<uint64_t>(layer),
                       static_cast<uint64_t>(row) * static_cast<uint64_t>(width) + static_cast<uint64_t>(col));
}

TS_HD double meanfield_bias(uint64_t seed, int layer, int64_t row, double sigma_b) {
  return sigma_b * philox_normal(seed, 2 * static_cast<uint64_t>(layer) + 1, static_cast<uint64_t>(row));
}

// The CPU propagation (kernels/cpu) and, in a CUDA build, the GPU one
// (kernels/cuda): Z0 holds the 2P inputs (rows 2p and 2p + 1 are pair p),
// N floats64 each; sums[l·P + p] receive layer l's pair sums, l = 0..L.
void meanfield_propagate_cpu(const SimulateConfig& config, const std::vector<double>& Z0,
                             std::vector<PairSums>& sums, const std::function<void(int64_t, int64_t)>& progress);
void meanfield_propagate_cuda(const SimulateConfig& config, const std::vector<double>& Z0,
                              std::vector<PairSums>& sums, const std::function<void(int64_t, int64_t)>& progress);

}  // namespace taylorscope
