// --dump: the full M × E^n tensor unpacked from the CPU tiles, each packed
// element written to every permutation of its indices. This goes through the
// same tiles as the statistics, so a dumped tensor checks them from NumPy.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "taylorscope/memory_budget.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "tensors/cpu_tiles.hpp"

namespace taylorscope {

std::vector<double> dense_tensor(const TensorSources& sources, int n, int stream) {
  const int64_t E = sources.data ? sources.data->E : sources.theta->E;
  const int64_t M = sources.data ? sources.data->M : sources.theta->M;
  if ((stream != kStreamT && !sources.data) || (stream != kStreamJ && !sources.theta))
    throw std::invalid_argument("dense_tensor: the stream needs a source that is absent");
  // Sized in double first: E^n of a wide embedding would wrap in int64.
  check_memory(8.0 * static_cast<double>(M) * std::pow(static_cast<double>(E), n),
               "--dump: the dense " + std::string(stream_name(stream)) + " (M·E^" + std::to_string(n) + " float64)");
  int64_t per_class = 1;
  for (int k = 0; k < n; ++k) per_class *= E;
  std::vector<double> out(M * per_class, 0.0);

  std::vector<int64_t> idx;
  idx.reserve(kMaxTensorOrder);
  for_each_cpu_tile(sources, n, [&](const TileView& v) {
    const int64_t block = v.rows * v.cols, L = v.prefix.L;
    for (int64_t a = 0; a < M; ++a)
      for (int64_t i = 0; i < v.rows; ++i)
        for (int64_t j = (n == 1 ? 0 : i); j < v.cols; ++j) {
          const int64_t e = a * block + i * v.cols + j;
          const double x = stream == kStreamJ ? v.J[e] : stream == kStreamT ? v.T[e] : v.J[e] * v.T[e];
          idx.assign(v.prefix.g, v.prefix.g + std::max(0, n - 2));
          if (n >= 2) idx.push_back(L + i);
          idx.push_back(L + j);
          std::sort(idx.begin(), idx.end());
          do {
            int64_t flat = 0;
            for (int64_t g : idx) flat = flat * E + g;
            out[a * per_class + flat] = x;
          } while (std::next_permutation(idx.begin(), idx.end()));
        }
  });
  return out;
}

}  // namespace taylorscope
