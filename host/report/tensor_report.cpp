// The report of `taylorscope tensors`. Keys listed in INTERFACES.md (order,
// J, T, JT, dot and the STATS fields) are a contract; the rest are additions.
#include "taylorscope/tensor_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "plot/charts.hpp"
#include "report/json_number.hpp"
#include "report/not_finite.hpp"

namespace taylorscope {
namespace {

nlohmann::json number(double v) { return json_number(v); }

// A number in `width` columns, or `mark` right-aligned there when it is not
// finite (width 0: no padding, as in running text).
std::string cell(double v, int width, const char* f, const char* mark = kOverflowMark) {
  char buf[64];
  if (std::isfinite(v)) {
    std::snprintf(buf, sizeof buf, f, v + 0.0);
    return buf;
  }
  const std::string m = mark;
  const int columns = m == "—" ? 1 : static_cast<int>(m.size());
  return std::string(std::max(width > 0 ? 1 : 0, width - columns), ' ') + m;
}

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
          {"nonfinite", s.nonfinite},
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
  // Every null above is named here, with why (tensor_warnings).
  nlohmann::json warnings = s.warnings;
  if (s.has_J && s.has_T && !std::isfinite(ctx.dot_power_sum))
    warnings.push_back(std::string("dot_power_sum: ") + kNotFinite);
  j["warnings"] = warnings;
  // INTERFACES.md "Several processes": one device as today, every rank's
  // device in rank order when several processes swept the tiles.
  j["ranks"] = s.ranks;
  if (s.ranks > 1)
    j["device"] = s.devices;
  else
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
  // Rank 0 prints: its device, and how many ranks shared the tiles.
  const std::string device = s.ranks > 1 ? s.device + " on rank 0 of " + std::to_string(s.ranks) : s.device;
  std::snprintf(line, sizeof line, "  %.4g elements (%.4g distinct in packed storage), device %s, float64\n",
                static_cast<double>(M) * std::pow(static_cast<double>(E), s.order),
                static_cast<double>(M) * packed_size(E, s.order), device.c_str());
  out << line;
  std::snprintf(line, sizeof line, "  %-6s %12s %12s %12s %12s %10s %10s %8s %8s\n", "tensor", "min", "max", "mean",
                "std", "skewness", "ex.kurt", "frac<0", "frac=0");
  out << line;
  const ElementStats* st[3] = {&s.J, &s.T, &s.JT};
  const char* names[3] = {"J", "T", "J∘T   "};  // ∘ is 3 bytes in 1 column: padded by hand to 6 columns
  const bool on[3] = {s.has_J, s.has_T, s.has_J && s.has_T};
  for (int k = 0; k < 3; ++k) {
    if (!on[k]) continue;
    const ElementStats& e = *st[k];
    // Skewness and kurtosis of equal elements are undefined ("—"); anything
    // else that is not a number overflowed (not_finite.hpp).
    auto shape = [&](double v) { return cell(v, 10, "%10.4f", e.std == 0 && e.nonfinite == 0 ? "—" : kOverflowMark); };
    out << "  " << names[k] << std::string(6 - std::min<size_t>(6, std::string(names[k]).size()), ' ')
        << cell(e.min, 13, "%13.4e") << cell(e.max, 13, "%13.4e") << cell(e.mean, 13, "%13.4e")
        << cell(e.std, 13, "%13.4e") << " " << shape(e.skewness) << " " << shape(e.excess_kurtosis)
        << cell(e.frac_negative, 9, "%9.4f") << cell(e.frac_zero, 9, "%9.4f") << "\n";
    if (e.nonfinite > 0) {
      std::snprintf(line, sizeof line, "         %.0f of its %.0f elements are not finite (overflow in float64)\n",
                    e.nonfinite, e.count);
      out << line;
    }
  }
  if (on[2])
    out << "  ⟨J,T⟩ streamed " << cell(s.dot, 0, "%.12e") << "; by the power sums (docs/math.md §4) "
        << cell(ctx.dot_power_sum, 0, "%.12e") << " (rel. diff " << cell(rel_diff(s.dot, ctx.dot_power_sum), 0, "%.1e")
        << ")\n";
  out << "  time:";
  for (const auto& [phase, ms] : s.timing_ms) {
    std::snprintf(line, sizeof line, " %s %.1f ms", phase.c_str(), ms);
    out << line;
  }
  std::snprintf(line, sizeof line, " (%.3g GEMM FLOPs)\n", s.gemm_flops);
  out << line;
}

bool write_tensor_histograms(const std::string& path, const TensorStatistics& s, const std::string& title) {
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
  if (panels.empty()) return false;
  plot::write_histogram_panels(path, title, panels);
  return true;
}

}  // namespace taylorscope
