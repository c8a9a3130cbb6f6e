// The report of `taylorscope tensors`. Keys listed in INTERFACES.md (order,
// J, T, JT, dot and the STATS fields) are a contract; the rest are additions.
#include "taylorscope/tensor_report.hpp"

#include <cmath>
#include <cstdio>

#include "plot/charts.hpp"
#include "report/json_number.hpp"

namespace taylorscope {
namespace {

nlohmann::json number(double v) { return json_number(v); }

}  // namespace

nlohmann::json element_stats_json(const ElementStats& s) {
  nlohmann::json edges = nlohmann::json::array();
  for (double e : s.histogram.edges) edges.push_back(number(e));
  return {{"count", s.count},
          {"min", number(s.min)},
          {"max", number(s.max)},
          {"mean", number(s.mean)},
          {"std", number(s.std)},
          {"skewness", number(s.skewness)},
          {"excess_kurtosis", number(s.excess_kurtosis)},
          {"frac_negative", number(s.frac_negative)},
          {"frac_zero", number(s.frac_zero)},
          {"histogram", {{"edges", edges}, {"counts", s.histogram.counts}}}};
}

nlohmann::json tensor_report(const TensorStatistics& s, const TensorReportContext& ctx) {
  using nlohmann::json;
  const int64_t E = ctx.data ? ctx.data->E : ctx.theta->E;
  const int64_t M = ctx.data ? ctx.data->M : ctx.theta->M;
  json j;
  j["order"] = s.order;
  if (s.has_J) j["J"] = element_stats_json(s.J);
  if (s.has_T) j["T"] = element_stats_json(s.T);
  if (s.has_J && s.has_T) {
    j["JT"] = element_stats_json(s.JT);
    j["dot"] = number(s.dot);
    j["dot_power_sum"] = number(ctx.dot_power_sum);
  }
  if (ctx.data)
    j["data"] = {{"spec", ctx.data->spec}, {"N", ctx.data->N}, {"E", ctx.data->E},
                 {"M", ctx.data->M},       {"balanced", ctx.data->balanced}};
  if (ctx.theta) j["model"] = {{"M", ctx.theta->M}, {"H", ctx.theta->H}, {"E", ctx.theta->E},
                               {"params", ctx.params_source}};
  j["elements"] = {{"full", static_cast<double>(M) * std::pow(static_cast<double>(E), s.order)},
                   {"packed", static_cast<double>(M) * packed_size(E, s.order)}};
  j["device"] = s.device;
  j["precision"] = "float64";
  j["gemm_flops"] = s.gemm_flops;
  json t = json::object();
  for (const auto& [phase, ms] : s.timing_ms) t[phase] = ms;
  j["timing_ms"] = t;
  return j;
}

void print_tensor_table(std::ostream& out, const TensorStatistics& s, const TensorReportContext& ctx) {
  const int64_t E = ctx.data ? ctx.data->E : ctx.theta->E;
  const int64_t M = ctx.data ? ctx.data->M : ctx.theta->M;
  char line[256];
  std::snprintf(line, sizeof line, "taylorscope tensors: order n = %d, M = %lld, E = %lld", s.order,
                static_cast<long long>(M), static_cast<long long>(E));
  out << line << "\n";
  if (ctx.data) out << "  J^(n) from " << ctx.data->spec << " (N = " << ctx.data->N << ")\n";
  if (ctx.theta) out << "  T^(n) from θ: " << ctx.params_source << " (H = " << ctx.theta->H << ")\n";
  std::snprintf(line, sizeof line, "  %.4g elements (%.4g distinct in packed storage), device %s, float64\n",
                static_cast<double>(M) * std::pow(static_cast<double>(E), s.order),
                static_cast<double>(M) * packed_size(E, s.order), s.device.c_str());
  out << line;
  std::snprintf(line, sizeof line, "  %-6s %12s %12s %12s %12s %10s %10s %8s %8s\n", "tensor", "min", "max", "mean",
                "std", "skewness", "ex.kurt", "frac<0", "frac=0");
  out << line;
  const ElementStats* st[3] = {&s.J, &s.T, &s.JT};
  const char* names[3] = {"J", "T", "J∘T   "};  // ∘ is 3 bytes in 1 column: padded by hand to 6 columns
  const bool on[3] = {s.has_J, s.has_T, s.has_J && s.has_T};
  for (int k = 0; k < 3; ++k) {
    if (!on[k]) continue;
    std::snprintf(line, sizeof line, "  %-6s %12.4e %12.4e %12.4e %12.4e %10.4f %10.4f %8.4f %8.4f\n", names[k],
                  st[k]->min, st[k]->max, st[k]->mean, st[k]->std, st[k]->skewness, st[k]->excess_kurtosis,
                  st[k]->frac_negative, st[k]->frac_zero);
    out << line;
  }
  if (on[2]) {
    std::snprintf(line, sizeof line, "  ⟨J,T⟩ streamed %.12e; by the power sums (MATH.md §4) %.12e (rel. diff %.1e)\n",
                  s.dot, ctx.dot_power_sum, rel_diff(s.dot, ctx.dot_power_sum));
    out << line;
  }
  out << "  time:";
  for (const auto& [phase, ms] : s.timing_ms) {
    std::snprintf(line, sizeof line, " %s %.1f ms", phase.c_str(), ms);
    out << line;
  }
  std::snprintf(line, sizeof line, " (%.3g GEMM FLOPs)\n", s.gemm_flops);
  out << line;
}

void write_tensor_histograms(const std::string& path, const TensorStatistics& s, const std::string& title) {
  std::vector<plot::HistogramPanel> panels;
  const ElementStats* st[3] = {&s.J, &s.T, &s.JT};
  const std::string n = std::to_string(s.order);
  const std::string names[3] = {"J^(" + n + ")", "T^(" + n + ")", "J^(" + n + ") o T^(" + n + ")"};
  const bool on[3] = {s.has_J, s.has_T, s.has_J && s.has_T};
  for (int k = 0; k < 3; ++k) {
    if (!on[k] || st[k]->histogram.counts.empty()) continue;
    plot::HistogramPanel p;
    p.name = names[k];
    p.edges = st[k]->histogram.edges;
    p.counts.assign(st[k]->histogram.counts.begin(), st[k]->histogram.counts.end());
    p.mean = st[k]->mean;
    p.std = st[k]->std;
    p.gaussian_overlay = true;
    panels.push_back(std::move(p));
  }
  plot::write_histogram_panels(path, title, panels);
}

}  // namespace taylorscope
