#include "taylorscope/class_moments.hpp"

#include "taylorscope/errors.hpp"

namespace taylorscope {

FirstMoments first_moments(const PassSums& sums, const std::string& spec) {
  const int64_t E = sums.E;
  const int M = sums.M;
  const std::vector<double>& class_sum = sums.class_sum;
  if (class_sum.size() != static_cast<size_t>(M) * E || sums.class_count.size() != static_cast<size_t>(M))
    throw std::logic_error("first_moments: PassSums without class sums");
  int64_t N = 0;
  for (int64_t n : sums.class_count) N += n;
  FirstMoments m;
  m.mean.assign(E, 0.0);
  m.J1.assign(M * E, 0.0);
  for (int a = 0; a < M; ++a) {
    if (sums.class_count[a] == 0)
      throw InputError(spec + ": class " + std::to_string(a) +
                       " has no samples, so its conditional moments are undefined");
    for (int64_t g = 0; g < E; ++g) m.mean[g] += class_sum[a * E + g];
  }
  for (int64_t g = 0; g < E; ++g) m.mean[g] /= static_cast<double>(N);
  for (int a = 0; a < M; ++a)
    for (int64_t g = 0; g < E; ++g)
      m.J1[a * E + g] = m.mean[g] - class_sum[a * E + g] / static_cast<double>(sums.class_count[a]);
  return m;
}

}  // namespace taylorscope
