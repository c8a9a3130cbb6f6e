// Stage 2 of the expansion pass for one sample (docs/math.md §2), written once for
// the CPU loop and the CUDA kernel. Input: the sample's hidden contractions
// G[ch][α] (see expansion_pass.hpp); output added into the caller's sums.
#pragma once

#include <cmath>
#include <cstdint>

#include "taylorscope/hd.hpp"
#include "taylorscope/series.hpp"
#include "taylorscope/softmax_loss.hpp"

namespace taylorscope {

// Largest order K the per-sample jets support (stack arrays of K+1 doubles).
constexpr int kMaxOrder = 64;

// f[0..K]: the logits jet of class a (see accumulate_sample_jets). The CUDA
// kernel calls it per (sample, class) thread, the CPU per sample and class.
TS_HD void sample_logits_jet(const double* g_pow, const double* c_shift, const double* taylor, int K,
                             int M, int a, double* f) {
  const int n = K + 1;
  f[0] = 0.0;
  if (n > 1) f[1] = c_shift[a];
  for (int k = 2; k < n; ++k) f[k] = taylor[k - 1] * g_pow[(k - 2) * M + a];
}

// Adds l_k − f_{label,k}, k = 0..K, into jet_out[0..K].
//   g_pow[(j-1)*M + α] = Σ_β U_αβ a_β^j for j = 1..K-1
//   c_shift[α] = c_α + σ(0) Σ_β U_αβ          (the order-1 logits)
//   taylor[k]  = σ^(k)(0)/k!
// Logits jet: f_0 = 0, f_1 = c_shift, f_{j+1} = taylor[j] g_pow[j-1] (j ≥ 1).
TS_HD void accumulate_sample_jets(const double* g_pow, const double* c_shift,
                                  const double* taylor, int K, int M, int label,
                                  double* jet_out) {
  const int n = K + 1;
  double f[kMaxOrder + 1], e[kMaxOrder + 1], s[kMaxOrder + 1], l[kMaxOrder + 1];
  for (int k = 0; k < n; ++k) s[k] = 0.0;
  for (int a = 0; a < M; ++a) {
    sample_logits_jet(g_pow, c_shift, taylor, K, M, a, f);
    jet_exp(f, e, n);
    for (int k = 0; k < n; ++k) s[k] += e[k];
    if (a == label)
      for (int k = 0; k < n; ++k) jet_out[k] -= f[k];
  }
  jet_log(s, l, n);
  for (int k = 0; k < n; ++k) jet_out[k] += l[k];
}

// −ln q_label at parameters tθ, from g_sig[α] = Σ_β U_αβ σ(t a_β):
// logits are t (g_sig + c) because U and c scale with t too.
TS_HD double sample_loss_at_t(const double* g_sig, const double* c, double t, int M,
                              int label) {
  const auto logit = [&](int a) { return t * (g_sig[a] + c[a]); };
  return log_sum_exp(M, logit).value() - logit(label);
}

// c′_α = c_α + σ(0) Σ_β U_αβ (U row-major M×H): the logits of θ at order 1,
// which shift every c of the expansion (docs/math.md §2, §3). Summed over β in
// order, so every caller gets the same bits.
inline void order1_logits(const double* U, const double* c, double sigma0, int64_t M, int64_t H,
                          double* out) {
  for (int64_t a = 0; a < M; ++a) {
    double row = 0.0;
    for (int64_t b = 0; b < H; ++b) row += U[a * H + b];
    out[a] = c[a] + sigma0 * row;
  }
}

}  // namespace taylorscope
