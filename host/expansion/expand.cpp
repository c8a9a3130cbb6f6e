// Assembles the expansion from one backend pass (docs/math.md §2–§5): S_k from
// the jets, D_{n+1} from the class power sums, the seed terms from the first
// moments, and the validity of the truncated series along t·θ.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "taylorscope/errors.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/finite_values.hpp"
#include "taylorscope/sample_action.hpp"
#include "taylorscope/warnings.hpp"

namespace taylorscope {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

std::vector<double> contractions_from_power_sums(const PassSums& sums, const Params& th) {
  const int M = sums.M;
  const int64_t H = sums.H;
  int64_t N = 0;
  for (int64_t n : sums.class_count) N += n;
  std::vector<double> JT(sums.P, 0.0);
  for (int n = 0; n < sums.P; ++n) {
    const double* P = &sums.class_power[static_cast<size_t>(n) * M * H];
    for (int64_t b = 0; b < H; ++b) {
      double total = 0;
      for (int a = 0; a < M; ++a) total += P[a * H + b];
      const double overall = total / static_cast<double>(N);
      for (int a = 0; a < M; ++a) {
        if (sums.class_count[a] == 0)
          throw InputError("class " + std::to_string(a) + " has no samples");
        const double cond = P[a * H + b] / static_cast<double>(sums.class_count[a]);
        JT[n] += th.U[a * H + b] * (overall - cond);
      }
    }
  }
  return JT;
}

std::vector<double> power_sum_contractions(const Dataset& data, const Params& theta, int max_n,
                                           ExpansionBackend& backend) {
  // The class power sums alone: neither stage of the pass runs.
  PassPlan plan;
  plan.power_sums_only = true;
  plan.max_power = max_n;
  backend.upload(data);
  return contractions_from_power_sums(backend.run(theta, plan), theta);
}

ExpansionResult expand(const Dataset& data, const Params& theta, const Activation& act,
                       const ExpansionOptions& options, ExpansionBackend& backend) {
  const auto t_start = Clock::now();
  const int K = options.order;
  if (K < 1 || K > kMaxOrder)
    throw InputError("--order must be in 1.." + std::to_string(kMaxOrder) + ", got " +
                     std::to_string(K));
  for (double t : options.t_values)
    if (!std::isfinite(t)) throw InputError("t values must be finite numbers");
  // With one class q_m ≡ 1: the action is 0 for every θ and every S_k is
  // rounding noise, which no table should show as a coefficient.
  if (data.M < 2)
    throw InputError(data.spec + " has M = " + std::to_string(data.M) +
                     ": the expansion of the cross-entropy needs at least 2 classes (with one class the "
                     "loss is 0 for every θ)");
  // Finite inputs make every non-finite result an overflow (expansion_warnings).
  require_finite(data.Z, data.spec, "the data");
  for (const auto& [array, name] : {std::pair{&theta.U, "U"}, {&theta.W, "W"}, {&theta.b, "b"}, {&theta.c, "c"}})
    require_finite(*array, "θ", name);

  ExpansionResult r;
  r.K = K;
  r.device = backend.device_name();
  // Orders up to 2 are always needed by the S_2/S_3 closed forms.
  const int coeffs = std::max(K + 1, 3);
  const std::vector<double> derivs = activation_derivatives_at_zero(act, coeffs);
  r.sigma_derivs.assign(derivs.begin(), derivs.begin() + K + 1);

  PassPlan plan;
  plan.act = act;
  plan.order = K;
  plan.taylor = activation_taylor(act, coeffs);
  plan.max_power = std::max(K - 1, 2);
  plan.t_values = options.t_values;
  // S(θ) itself is the direct evaluation at t = 1.
  if (std::find(plan.t_values.begin(), plan.t_values.end(), 1.0) == plan.t_values.end())
    plan.t_values.push_back(1.0);
  std::sort(plan.t_values.begin(), plan.t_values.end());

  auto t0 = Clock::now();
  backend.upload(data);
  r.timing_ms.emplace_back("upload", ms_since(t0));
  t0 = Clock::now();
  const PassSums sums = backend.run(theta, plan);
  r.timing_ms.emplace_back("pass", ms_since(t0));

  t0 = Clock::now();
  const double N = static_cast<double>(data.N);
  r.S_k.resize(K + 1);
  r.partial_sums.resize(K + 1);
  for (int k = 0; k <= K; ++k) {
    r.S_k[k] = sums.jet[k] / N;
    r.partial_sums[k] = r.S_k[k] + (k ? r.partial_sums[k - 1] : 0.0);
  }
  for (size_t i = 0; i < plan.t_values.size(); ++i) {
    const double t = plan.t_values[i];
    ValidityPoint v;
    v.t = t;
    v.S_direct = sums.direct[i] / N;
    double tk = 1.0;
    for (int k = 0; k <= K; ++k, tk *= t) v.partial_sum += tk * r.S_k[k];
    v.abs_error = std::fabs(v.S_direct - v.partial_sum);
    if (t == 1.0) r.S_direct = v.S_direct;
    r.validity.push_back(v);
  }

  const std::vector<double> JT = contractions_from_power_sums(sums, theta);
  for (int n = 1; n <= K - 1; ++n) {
    DominantTerm d;
    d.n = n;
    d.JT = JT[n - 1];
    // σ_n = 0 (exactly, by symmetry: activation.hpp) makes D_{n+1} exactly 0,
    // whatever ⟨J^(n), T^(n)⟩ is; + 0.0 turns a −0 into 0.
    d.D = plan.taylor[n] == 0.0 ? 0.0 : plan.taylor[n] / data.M * d.JT;
    d.S = r.S_k[n + 1];
    d.ratio = d.S != 0.0 ? d.D / d.S + 0.0 : std::numeric_limits<double>::quiet_NaN();
    d.count = static_cast<double>(data.M) * static_cast<double>(theta.H) *
              std::pow(static_cast<double>(data.E), n);
    r.dominant.push_back(d);
  }
  r.timing_ms.emplace_back("assemble", ms_since(t0));

  t0 = Clock::now();
  r.terms = seed_terms(first_moments(sums, data.spec), theta, derivs, JT[1]);
  set_term_shares(r.terms, r.S_k);
  r.timing_ms.emplace_back("seed_terms", ms_since(t0));
  // S_1 = Σ_α (1/M − p_α) c'_α: exactly 0 on balanced classes, whatever the jets' rounding says.
  r.radius = estimate_radius(r.S_k, data.balanced ? std::vector<int>{1} : std::vector<int>{});
  r.timing_ms.emplace_back("total", ms_since(t_start));
  for (const std::string& w : expansion_warnings(r)) {
    r.warnings.push_back(options.warning_context + w);
    warn(r.warnings.back());
  }
  return r;
}

}  // namespace taylorscope
