// PassSums bookkeeping shared by every backend: its shape and the addition
// that combines data shards.
#include <stdexcept>

#include "taylorscope/expansion_pass.hpp"

namespace taylorscope {

PassSums PassSums::zeros(const PassPlan& plan, int M, int64_t H, int64_t E) {
  PassSums s;
  s.K = plan.power_sums_only ? 0 : plan.order;
  s.M = M;
  s.P = plan.max_power;
  s.H = H;
  s.E = E;
  if (!plan.power_sums_only) {
    s.jet.assign(plan.order + 1, 0.0);
    s.direct.assign(plan.t_values.size(), 0.0);
  }
  s.class_power.assign(static_cast<size_t>(plan.max_power) * M * H, 0.0);
  s.class_sum.assign(static_cast<size_t>(M) * E, 0.0);
  s.class_count.assign(M, 0);
  return s;
}

void PassSums::add(const PassSums& o) {
  if (o.K != K || o.M != M || o.P != P || o.H != H || o.E != E || o.jet.size() != jet.size() ||
      o.direct.size() != direct.size())
    throw std::logic_error("PassSums::add: shapes differ");
  for (size_t i = 0; i < jet.size(); ++i) jet[i] += o.jet[i];
  for (size_t i = 0; i < direct.size(); ++i) direct[i] += o.direct[i];
  for (size_t i = 0; i < class_power.size(); ++i) class_power[i] += o.class_power[i];
  for (size_t i = 0; i < class_sum.size(); ++i) class_sum[i] += o.class_sum[i];
  for (size_t i = 0; i < class_count.size(); ++i) class_count[i] += o.class_count[i];
}

}  // namespace taylorscope

#include "taylorscope/errors.hpp"
#include "taylorscope/sample_action.hpp"

namespace taylorscope {

void check_pass_inputs(const Dataset& data, const Params& theta, const PassPlan& plan) {
  check_params_fit(theta, data.E, data.M, "parameters");
  if (!plan.power_sums_only && (plan.order < 0 || plan.order > kMaxOrder))
    throw InputError("order K = " + std::to_string(plan.order) + " is outside 0.." +
                     std::to_string(kMaxOrder));
  if (!plan.power_sums_only && static_cast<int>(plan.taylor.size()) < plan.order)
    throw std::logic_error("PassPlan: fewer Taylor coefficients than the order");
  if (plan.max_power < 0) throw std::logic_error("PassPlan: negative max_power");
  if (data.N == 0) throw InputError(data.spec + ": the data set is empty");
}

}  // namespace taylorscope

