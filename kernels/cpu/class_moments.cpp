#include "taylorscope/class_moments.hpp"

#include "taylorscope/errors.hpp"

namespace taylorscope {

FirstMoments first_moments(const Dataset& data) {
  const int64_t E = data.E;
  const int M = data.M;
  std::vector<double> class_sum(M * E, 0.0);
  std::vector<int64_t> count(M, 0);
  for (int64_t s = 0; s < data.N; ++s) {
    const int a = data.labels[s];
    ++count[a];
    const double* z = data.row(s);
    double* out = &class_sum[a * E];
    for (int64_t g = 0; g < E; ++g) out[g] += z[g];
  }
  FirstMoments m;
  m.mean.assign(E, 0.0);
  m.J1.assign(M * E, 0.0);
  for (int a = 0; a < M; ++a) {
    if (count[a] == 0)
      throw InputError(data.spec + ": class " + std::to_string(a) +
                       " has no samples, so its conditional moments are undefined");
    for (int64_t g = 0; g < E; ++g) m.mean[g] += class_sum[a * E + g];
  }
  for (int64_t g = 0; g < E; ++g) m.mean[g] /= static_cast<double>(data.N);
  for (int a = 0; a < M; ++a)
    for (int64_t g = 0; g < E; ++g)
      m.J1[a * E + g] = m.mean[g] - class_sum[a * E + g] / static_cast<double>(count[a]);
  return m;
}

}  // namespace taylorscope
