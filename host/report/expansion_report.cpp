// The JSON report of `expand`. Keys listed in INTERFACES.md are a contract
// (never renamed); everything else here is an addition.
#include <cmath>

#include "taylorscope/expansion_report.hpp"

#include "report/json_number.hpp"

namespace taylorscope {
namespace {

nlohmann::json number(double v) { return json_number(v); }

}  // namespace

nlohmann::json expansion_report(const ExpansionResult& r, const ReportContext& ctx) {
  using nlohmann::json;
  json j;
  j["data"] = {{"spec", ctx.data.spec},
               {"N", ctx.data.N},
               {"E", ctx.data.E},
               {"M", ctx.data.M},
               {"balanced", ctx.data.balanced},
               {"class_counts", ctx.data.class_counts}};
  j["model"] = {{"H", ctx.theta.H},
                {"activation", activation_name(ctx.act)},
                {"sigma_derivs", r.sigma_derivs},
                {"params", ctx.params_source}};
  if (ctx.act.kind == ActivationKind::relu_omega) {
    j["model"]["omega"] = ctx.act.omega;
    j["model"]["iota"] = ctx.act.iota;
  }
  j["order"] = r.K;
  j["S_direct"] = number(r.S_direct);
  json sk = json::array(), ps = json::array();
  for (double v : r.S_k) sk.push_back(number(v));
  for (double v : r.partial_sums) ps.push_back(number(v));
  j["S_k"] = sk;
  j["partial_sums"] = ps;

  // terms and subterm_counts are INTERFACES.md's (S_3's counts; S_2's are an
  // addition); term_shares is an addition: both shares of SeedTerm.
  const SeedTerms& t = r.terms;
  json terms = json::object(), counts = json::object(), shares = json::object();
  for (const SeedTerm& term : t.all) {
    const std::string k = "S" + std::to_string(term.order);
    terms[k][term.name] = number(term.value);
    counts[k][term.name] = number(term.count);
    shares[k][term.name] = {{"abs_share", number(term.abs_share)}, {"of_exact", number(term.of_exact)}};
  }
  j["terms"] = terms;
  j["subterm_counts"] = counts;
  j["term_shares"] = shares;
  // The closed forms assume balanced classes (docs/math.md §1); this says how well
  // they reproduce the exact jets on this data.
  if (r.K >= 3) {
    j["terms_check"] = {{"S2_terms", number(t.S2())},
                        {"S2_jet", number(r.S_k[2])},
                        {"S2_rel_diff", number(rel_diff(t.S2(), r.S_k[2]))},
                        {"S3_terms", number(t.S3())},
                        {"S3_jet", number(r.S_k[3])},
                        {"S3_rel_diff", number(rel_diff(t.S3(), r.S_k[3]))}};
  }
  json dom = json::array();
  for (const DominantTerm& d : r.dominant)
    dom.push_back({{"n", d.n},
                   {"D", number(d.D)},
                   {"S", number(d.S)},
                   {"ratio", number(d.ratio)},
                   {"JT", number(d.JT)},
                   {"count", d.count}});
  j["dominant"] = dom;
  j["radius"] = {{"estimate", number(r.radius.estimate)},
                 {"orders_used", r.radius.orders_used},
                 {"per_order", r.radius.per_order},
                 {"method", "root test: min over orders_used of |S_k|^(-1/k)"}};
  if (!r.radius.available()) j["radius"]["reason"] = r.radius.absent_reason;
  json val = json::array();
  for (const ValidityPoint& v : r.validity)
    val.push_back({{"t", v.t},
                   {"S_direct", number(v.S_direct)},
                   {"partial_sum", number(v.partial_sum)},
                   {"abs_error", number(v.abs_error)}});
  j["validity"] = val;
  // Every null above is named here, with why (expansion_warnings).
  j["warnings"] = r.warnings;
  // INTERFACES.md "Several processes": one device name for one process, the
  // ranks' in rank order for several; how the pass was split.
  j["ranks"] = r.ranks;
  if (r.ranks > 1)
    j["device"] = r.devices;
  else
    j["device"] = r.device;
  j["shard"] = r.shard;
  j["precision"] = "float64 (data, GEMMs, jets and accumulation)";
  json timing = json::object();
  for (const auto& [phase, ms] : r.timing_ms) timing[phase] = ms;
  j["timing_ms"] = timing;
  return j;
}

}  // namespace taylorscope
