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

// Rows [r.begin, r.end) of `data` as a data set of their own (this rank's
// share under --shard rows); class_counts are the share's.
Dataset slice_rows(const Dataset& data, ShardRange r) {
  Dataset s;
  s.spec = data.spec;
  s.sources = data.sources;
  s.preprocessing = data.preprocessing;
  s.N = r.size();
  s.E = data.E;
  s.M = data.M;
  // The slice lives only while the pass runs over `data`: its rows are
  // referred to, not copied (a rank holds no second copy of its share).
  s.Z = DataValues::borrow(data.Z.data() + r.begin * data.E, static_cast<size_t>(r.size() * data.E));
  s.labels.assign(data.labels.begin() + r.begin, data.labels.begin() + r.end);
  count_classes(s);
  return s;
}

// Rows of G exchanged at a time under --shard hidden: G is rows × C × M
// doubles, and a fixed budget (not R, not free memory) keeps the blocks —
// and so the sums' grouping — a function of the shape alone.
constexpr size_t kHiddenBlockBytes = size_t{64} << 20;

PassSums hidden_sharded_pass(const Dataset& data, const Params& theta, const PassPlan& plan,
                             ExpansionBackend& backend, Communicator& comm, double* upload_ms) {
  const int rank = comm.rank(), ranks = comm.size();
  auto t0 = Clock::now();
  backend.upload(data);  // every rank holds every row: stage 1 needs them all
  if (upload_ms) *upload_ms = ms_since(t0);
  const ShardRange hidden = shard_range(theta.H, rank, ranks);
  backend.begin_stages(theta, plan, hidden);
  const int64_t C = plan.channels(), M = data.M;
  const int64_t block =
      C > 0 ? std::max<int64_t>(1, static_cast<int64_t>(kHiddenBlockBytes / (sizeof(double) * C * M))) : data.N;
  std::vector<double> G(static_cast<size_t>(std::min(block, data.N) * C * M));
  for (int64_t r0 = 0; r0 < data.N; r0 += block) {
    const ShardRange rows{r0, std::min(data.N, r0 + block)};
    backend.hidden_stage(rows, G.data());
    // G is a sum over hidden units: the slices' shares added in rank order.
    if (C > 0) comm.allreduce_sum(G.data(), static_cast<size_t>(rows.size() * C * M));
    // Every rank now holds the block's whole G; stage 2 is split by rows.
    const ShardRange mine = shard_range(rows.size(), rank, ranks);
    backend.sample_stage({r0 + mine.begin, r0 + mine.end}, G.data() + mine.begin * C * M);
  }
  PassSums part = backend.end_stages();

  // Class power sums per hidden unit: each rank's units, concatenated along β
  // (an exact gather, no arithmetic).
  std::vector<double> class_power(static_cast<size_t>(plan.max_power) * M * theta.H, 0.0);
  const std::string bytes(reinterpret_cast<const char*>(part.class_power.data()),
                          part.class_power.size() * sizeof(double));
  const std::vector<std::string> all = comm.allgather(bytes);
  const int P = plan.max_power;
  for (int r = 0; r < ranks; ++r) {
    const ShardRange h = shard_range(theta.H, r, ranks);
    if (all[r].size() != static_cast<size_t>(P) * M * h.size() * sizeof(double))
      throw std::logic_error("hidden_sharded_pass: rank " + std::to_string(r) + " sent class power sums of another shape");
    const double* src = reinterpret_cast<const double*>(all[r].data());
    for (int64_t nm = 0; nm < P * M; ++nm)
      std::copy_n(src + nm * h.size(), h.size(), &class_power[nm * theta.H + h.begin]);
  }
  // Everything else is a sum over the rows each rank took in stage 2 (the
  // gathered class power sums, the same on every rank, stay out of it).
  part.class_power.clear();
  allreduce_pass_sums(part, comm);
  part.H = theta.H;
  part.class_power = std::move(class_power);
  return part;
}

}  // namespace

void allreduce_pass_sums(PassSums& s, Communicator& comm) {
  std::vector<double> buf;
  buf.reserve(s.jet.size() + s.direct.size() + s.class_power.size() + s.class_sum.size() + s.class_count.size());
  buf.insert(buf.end(), s.jet.begin(), s.jet.end());
  buf.insert(buf.end(), s.direct.begin(), s.direct.end());
  buf.insert(buf.end(), s.class_power.begin(), s.class_power.end());
  buf.insert(buf.end(), s.class_sum.begin(), s.class_sum.end());
  // Counts travel as doubles: exact below 2^53 samples.
  for (int64_t n : s.class_count) buf.push_back(static_cast<double>(n));
  comm.allreduce_sum(buf.data(), buf.size());
  auto it = buf.begin();
  for (std::vector<double>* v : {&s.jet, &s.direct, &s.class_power, &s.class_sum}) {
    std::copy_n(it, v->size(), v->begin());
    it += static_cast<std::ptrdiff_t>(v->size());
  }
  for (int64_t& n : s.class_count) n = static_cast<int64_t>(*it++);
}

void check_shard(const std::string& shard) {
  if (shard != "rows" && shard != "hidden") throw InputError("--shard must be rows or hidden, got '" + shard + "'");
}

PassSums sharded_pass(const Dataset& data, const Params& theta, const PassPlan& plan, const std::string& shard,
                      ExpansionBackend& backend, Communicator& comm, double* upload_ms) {
  check_shard(shard);
  // On the whole data first: a rank whose share is empty must refuse what
  // the others refuse.
  check_pass_inputs(data, theta, plan);
  // Each rank reads its rows on the host (slice_rows) or uploads them all.
  if (data.Z.on_device())
    throw InputError(data.spec + ": values in a GPU's memory are expanded by one process; under mpirun each "
                     "rank reads its data from the host");
  if (shard == "hidden") return hidden_sharded_pass(data, theta, plan, backend, comm, upload_ms);
  const ShardRange rows = shard_range(data.N, comm.rank(), comm.size());
  PassSums sums = PassSums::zeros(plan, data.M, theta.H, data.E);
  auto t0 = Clock::now();
  if (rows.size() > 0) {
    // The slice lives until run() returns; then the backend lets go of it
    // (release), so a later run() without upload() is refused, not UB.
    const Dataset mine = slice_rows(data, rows);
    backend.upload(mine);
    if (upload_ms) *upload_ms = ms_since(t0);
    try {
      sums = backend.run(theta, plan);
    } catch (...) {
      backend.release();
      throw;
    }
    backend.release();
  } else if (upload_ms) {
    *upload_ms = 0.0;
  }
  allreduce_pass_sums(sums, comm);
  return sums;
}

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
                                           ExpansionBackend& backend, Communicator& comm) {
  // The class power sums alone: neither stage of the pass runs.
  PassPlan plan;
  plan.power_sums_only = true;
  plan.max_power = max_n;
  if (comm.size() > 1) return contractions_from_power_sums(sharded_pass(data, theta, plan, "rows", backend, comm), theta);
  backend.upload(data);
  return contractions_from_power_sums(backend.run(theta, plan), theta);
}

ExpansionResult expand(const Dataset& data, const Params& theta, const Activation& act,
                       const ExpansionOptions& options, ExpansionBackend& backend, Communicator& comm) {
  const auto t_start = Clock::now();
  const double comm_ms_start = comm.collective_ms();
  check_shard(options.shard);
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
  r.ranks = comm.size();
  r.shard = options.shard;
  r.devices = comm.size() > 1 ? comm.allgather(r.device) : std::vector<std::string>{r.device};
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
  PassSums sums;
  if (comm.size() == 1) {
    backend.upload(data);
    r.timing_ms.emplace_back("upload", ms_since(t0));
    t0 = Clock::now();
    sums = backend.run(theta, plan);
    r.timing_ms.emplace_back("pass", ms_since(t0));
  } else {
    double upload_ms = 0;
    sums = sharded_pass(data, theta, plan, options.shard, backend, comm, &upload_ms);
    r.timing_ms.emplace_back("upload", upload_ms);
    r.timing_ms.emplace_back("pass", ms_since(t0) - upload_ms);
  }

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
  if (comm.size() > 1) r.timing_ms.emplace_back("allreduce", comm.collective_ms() - comm_ms_start);
  r.timing_ms.emplace_back("total", ms_since(t_start));
  for (const std::string& w : expansion_warnings(r)) {
    r.warnings.push_back(options.warning_context + w);
    warn(r.warnings.back());
  }
  return r;
}

}  // namespace taylorscope
