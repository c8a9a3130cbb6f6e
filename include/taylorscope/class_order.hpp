// The rows of a data set in stable class order, as the CUDA expansion pass,
// both tensor backends and anything else that wants each class contiguous
// sort them: a counting sort, so within a class the rows keep the file's
// order and every backend sees the same sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "taylorscope/errors.hpp"

namespace taylorscope {

struct ClassOrder {
  std::vector<int64_t> rows;         // sorted row r is original row rows[r]
  std::vector<int64_t> class_begin;  // M+1: class α owns sorted rows [class_begin[α], class_begin[α+1])
};

// Throws InputError naming `spec` for a label outside 0..M−1.
inline ClassOrder class_order(const std::vector<int32_t>& labels, int M, const std::string& spec) {
  ClassOrder o;
  o.class_begin.assign(static_cast<size_t>(M) + 1, 0);
  for (size_t s = 0; s < labels.size(); ++s) {
    const int32_t label = labels[s];
    if (label < 0 || label >= M)
      throw InputError(spec + ": label " + std::to_string(label) + " of sample " + std::to_string(s) +
                       " is outside 0.." + std::to_string(M - 1));
    ++o.class_begin[static_cast<size_t>(label) + 1];
  }
  for (int a = 0; a < M; ++a) o.class_begin[a + 1] += o.class_begin[a];
  std::vector<int64_t> next(o.class_begin.begin(), o.class_begin.end() - 1);
  o.rows.resize(labels.size());
  for (size_t s = 0; s < labels.size(); ++s) o.rows[next[labels[s]]++] = static_cast<int64_t>(s);
  return o;
}

}  // namespace taylorscope
