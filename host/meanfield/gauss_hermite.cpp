// Gauss–Hermite nodes and weights for the standard Gaussian measure
// (meanfield.hpp). Golub–Welsch gives every node at once from a symmetric
// tridiagonal eigenproblem (LAPACK dsterf, eigenvalues only); two Newton
// steps on the orthonormal recurrence then bring each to the float64 root of
// p_n, and the Christoffel sum gives its weight to relative rounding.
#include <cmath>
#include <string>
#include <vector>

#include "taylorscope/errors.hpp"
#include "taylorscope/meanfield.hpp"

extern "C" void dsterf_(const int* n, double* d, double* e, int* info);

namespace taylorscope {
namespace {

// p_0..p_{n}(x) of the polynomials orthonormal under Dz:
// p_{k+1} = (x p_k − √k p_{k−1}) / √(k+1). Returns p_n and p_{n−1}, and the
// Christoffel sum Σ_{k<n} p_k².
struct HermiteValues {
  double pn = 0, pn1 = 0, sum_sq = 0;
};
HermiteValues hermite_values(int n, double x) {
  double prev = 0.0, cur = 1.0, sum = 0.0;
  for (int k = 0; k < n; ++k) {
    sum += cur * cur;
    const double next = (x * cur - std::sqrt(static_cast<double>(k)) * prev) / std::sqrt(static_cast<double>(k + 1));
    prev = cur;
    cur = next;
  }
  return {cur, prev, sum};
}

}  // namespace

GaussHermite gauss_hermite(int n) {
  if (n < 2 || n > kMaxQuadraturePoints)
    throw InputError("quadrature points must be 2.." + std::to_string(kMaxQuadraturePoints) + ", got " +
                     std::to_string(n));
  // The Jacobi matrix of He_k: zero diagonal, off-diagonal √k, k = 1..n−1.
  std::vector<double> d(n, 0.0), e(n - 1);
  for (int k = 1; k < n; ++k) e[k - 1] = std::sqrt(static_cast<double>(k));
  int info = 0;
  dsterf_(&n, d.data(), e.data(), &info);
  if (info != 0) throw std::runtime_error("Gauss–Hermite nodes: LAPACK dsterf info " + std::to_string(info));
  GaussHermite rule;
  rule.nodes.resize(n);
  rule.weights.resize(n);
  for (int i = 0; i < n; ++i) {
    double x = d[i];
    // p_n′ = √n p_{n−1}; the eigenvalues are already within a few ulps, so
    // two steps reach the rounding floor (a third changes nothing).
    for (int step = 0; step < 2; ++step) {
      const HermiteValues h = hermite_values(n, x);
      if (h.pn1 != 0.0) x -= h.pn / (std::sqrt(static_cast<double>(n)) * h.pn1);
    }
    rule.nodes[i] = x;
  }
  // The rule is symmetric: impose it exactly, so odd moments vanish to
  // rounding and ReLU's half-line integrals split evenly (docs/meanfield.md).
  for (int i = 0; i < n / 2; ++i) {
    const double x = 0.5 * (rule.nodes[n - 1 - i] - rule.nodes[i]);
    rule.nodes[i] = -x;
    rule.nodes[n - 1 - i] = x;
  }
  if (n % 2 == 1) rule.nodes[n / 2] = 0.0;
  for (int i = 0; i < n; ++i) rule.weights[i] = 1.0 / hermite_values(n, rule.nodes[i]).sum_sq;
  return rule;
}

}  // namespace taylorscope
