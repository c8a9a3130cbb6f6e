// Softmax cross-entropy of one sample and its gradient in the logits, written
// once for the CPU loops and the CUDA kernels (training and evaluation).
#pragma once

#include <cmath>

#include "taylorscope/hd.hpp"

namespace taylorscope {

// ln Σ_a exp(v_a) = max + ln(sum), with sum = Σ_a exp(v_a − max) ≥ 1, so no
// exp overflows: the one log-sum-exp of the training loss, its evaluation
// and the direct losses S(tθ) of the expansion.
struct LogSumExp {
  double max = 0, sum = 0;
  TS_HD double value() const { return max + log(sum); }
};

// Over v_a = logit(a), a < M (logit is called twice per a, so it should be
// cheap); exps[a] = exp(v_a − max) when exps is given.
template <class Logit>
TS_HD LogSumExp log_sum_exp(int M, Logit logit, double* exps = nullptr) {
  LogSumExp r;
  r.max = logit(0);
  for (int a = 1; a < M; ++a) {
    const double v = logit(a);
    r.max = v > r.max ? v : r.max;
  }
  for (int a = 0; a < M; ++a) {
    const double e = exp(logit(a) - r.max);
    if (exps) exps[a] = e;
    r.sum += e;
  }
  return r;
}

// Returns −ln softmax(logits)[label] and writes dlogits = softmax(logits) − onehot(label).
// *correct is 1 when the label has the largest logit (first maximum on ties).
TS_HD double softmax_xent_backward(const double* logits, int M, int label, double* dlogits,
                                   int* correct) {
  int arg = 0;
  for (int a = 1; a < M; ++a)
    if (logits[a] > logits[arg]) arg = a;
  const LogSumExp z = log_sum_exp(M, [&](int a) { return logits[a]; }, dlogits);
  for (int a = 0; a < M; ++a) dlogits[a] /= z.sum;
  dlogits[label] -= 1.0;
  *correct = arg == label;
  return z.value() - logits[label];
}

}  // namespace taylorscope
