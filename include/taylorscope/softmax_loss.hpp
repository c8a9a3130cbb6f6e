// Softmax cross-entropy of one sample and its gradient in the logits, written
// once for the CPU loops and the CUDA kernels (training and evaluation).
#pragma once

#include <cmath>

#include "taylorscope/hd.hpp"

namespace taylorscope {

// Returns −ln softmax(logits)[label] and writes dlogits = softmax(logits) − onehot(label).
// *correct is 1 when the label has the largest logit (first maximum on ties).
TS_HD double softmax_xent_backward(const double* logits, int M, int label, double* dlogits,
                                   int* correct) {
  int arg = 0;
  for (int a = 1; a < M; ++a)
    if (logits[a] > logits[arg]) arg = a;
  const double mx = logits[arg];
  double s = 0.0;
  for (int a = 0; a < M; ++a) {
    dlogits[a] = exp(logits[a] - mx);
    s += dlogits[a];
  }
  for (int a = 0; a < M; ++a) dlogits[a] /= s;
  dlogits[label] -= 1.0;
  *correct = arg == label;
  return mx + log(s) - logits[label];
}

}  // namespace taylorscope
