// The data set every benchmark reads: the full Fashion-MNIST train split
// (N = 60000, E = 784), loaded once per process. TS_FASHION_MNIST_DIR points
// elsewhere than Debian's /usr/share/datasets/fashion-mnist (a device
// machine without the package).
#pragma once

#include <cstdlib>

#include "taylorscope/dataset.hpp"

namespace taylorscope::bench {

inline const Dataset& train_split() {
  static const Dataset d = [] {
    DataOptions o;
    if (const char* dir = std::getenv("TS_FASHION_MNIST_DIR")) o.data_dir = dir;
    return load_dataset("fashion-mnist:train", o);
  }();
  return d;
}

}  // namespace taylorscope::bench
