// The data set every benchmark reads: the full Fashion-MNIST train split
// (N = 60000, E = 784), loaded once per process. TS_FASHION_MNIST_DIR points
// elsewhere than Debian's /usr/share/datasets/fashion-mnist (a device
// machine without the package).
#pragma once

#include <cstdlib>

#include "taylorscope/dataset.hpp"

namespace taylorscope::bench {

// The first `limit` samples of each class (0: all of them).
inline Dataset load_train_split(int64_t limit, bool pad32 = false) {
  DataOptions o;
  if (const char* dir = std::getenv("TS_FASHION_MNIST_DIR")) o.data_dir = dir;
  o.limit = limit;
  o.pad32 = pad32;
  return load_dataset("fashion-mnist:train", o);
}

inline const Dataset& train_split() {
  static const Dataset d = load_train_split(0);
  return d;
}

}  // namespace taylorscope::bench
