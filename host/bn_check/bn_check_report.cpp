// bn-check's files (INTERFACES.md "Experiments", docs/bn-check.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "plot/charts.hpp"
#include "report/json_number.hpp"
#include "taylorscope/atomic_file.hpp"
#include "taylorscope/bn_check.hpp"

namespace taylorscope {
namespace {

// %.17g round-trips a double; a value that is not finite is left empty
// (never "nan" in a result file).
std::string num(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v + 0.0);
  return buf;
}

std::string projection_csv(const std::vector<ProjectionTrial>& trials) {
  std::string s = "trial,batch,mean,std,max_abs_Jf,max_abs_J1,max_abs_grad_diff,max_abs_jacobian_diff\n";
  for (const ProjectionTrial& t : trials)
    s += std::to_string(t.trial) + "," + std::to_string(t.batch) + "," + num(t.mean) + "," + num(t.std) + "," +
         num(t.max_abs_Jf) + "," + num(t.max_abs_J1) + "," + num(t.max_abs_grad_diff) + "," +
         num(t.max_abs_jacobian_diff) + "\n";
  return s;
}

std::string energy_csv(const std::vector<EnergyRun>& runs) {
  std::string s = "lr,bn,layer,row,step,energy,time\n";
  for (const EnergyRun& r : runs)
    for (size_t k = 0; k < r.energy.size(); ++k)
      for (size_t l = 0; l < r.energy[k].size(); ++l)
        for (size_t j = 0; j < r.energy[k][l].size(); ++j)
          s += num(r.lr) + "," + (r.bn ? "1" : "0") + "," + std::to_string(l + 1) + "," + std::to_string(j) + "," +
               std::to_string(r.record_steps[k]) + "," + num(r.energy[k][l][j]) + "," +
               num(r.lr * static_cast<double>(r.record_steps[k])) + "\n";
  return s;
}

std::string drift_csv(const std::vector<EnergyRun>& runs) {
  std::string s =
      "lr,bn,steps,time,drift_end,max_drift,initial_energy_max,second_order_gap,initial_loss,final_loss,diverged\n";
  for (const EnergyRun& r : runs)
    s += num(r.lr) + "," + (r.bn ? "1" : "0") + "," + std::to_string(r.steps) + "," +
         num(r.lr * static_cast<double>(r.steps)) + "," + (r.finite ? num(r.drift.back()) : "") + "," +
         num(r.max_drift) + "," + num(r.initial_energy_max) + "," + num(r.second_order_gap) + "," +
         num(r.loss.empty() ? std::nan("") : r.loss.front()) + "," + (r.finite ? num(r.loss.back()) : "") + "," +
         (r.finite ? "0" : "1") + "\n";
  return s;
}

// Between the two smallest step sizes: the regime the claim is about
// (larger steps may leave it, e.g. by a catapult without BN).
double small_lr_slope(const std::vector<EnergyRun>& runs, bool bn) {
  std::vector<std::pair<double, double>> p;  // (lr, drift at t)
  for (const EnergyRun& r : runs)
    if (r.bn == bn && r.finite && r.drift.back() > 0) p.emplace_back(r.lr, r.drift.back());
  std::sort(p.begin(), p.end());
  if (p.size() < 2 || p[1].first == p[0].first) return std::nan("");
  return std::log(p[1].second / p[0].second) / std::log(p[1].first / p[0].first);
}

// NaN wins: a trial whose batch was constant has no errors to report.
double worst(const std::vector<ProjectionTrial>& trials, double ProjectionTrial::*field) {
  double m = 0;
  for (const ProjectionTrial& t : trials)
    m = std::isnan(t.*field) || std::isnan(m) ? std::nan("") : std::max(m, t.*field);
  return m;
}

nlohmann::json summary_json(const BnCheckConfig& c, const BnCheckResult& r) {
  using nlohmann::json;
  const BnCheckSummary sum = summarize_bn_check(r);
  const EnergyConfig& e = c.energy;
  json runs = json::array();
  for (const EnergyRun& run : r.runs)
    runs.push_back({{"lr", run.lr},
                    {"bn", run.bn},
                    {"steps", run.steps},
                    {"time", run.lr * static_cast<double>(run.steps)},
                    {"drift_end", run.finite ? json_number(run.drift.back()) : json()},
                    {"max_drift", json_number(run.max_drift)},
                    {"initial_energy_max", json_number(run.initial_energy_max)},
                    {"second_order_gap", json_number(run.second_order_gap)},
                    {"final_loss", run.finite ? json_number(run.loss.back()) : json()},
                    {"diverged", !run.finite}});
  return {
      {"precision", "float64"},
      {"device", "cpu"},
      {"threads", r.threads},
      {"batch_norm", "f = (x − mean)/std, std population (1/B), no ε"},
      {"projection",
       {{"trials", c.projection.trials},
        {"max_batch", c.projection.max_batch},
        {"seed", c.projection.seed},
        {"max_abs_Jf", json_number(sum.max_abs_Jf)},
        {"max_abs_J1", json_number(sum.max_abs_J1)},
        {"max_abs_grad_diff", json_number(sum.max_abs_grad_diff)},
        {"max_abs_jacobian_diff", json_number(sum.max_abs_jacobian_diff)}}},
      {"energy",
       {{"input_dim", e.input_dim},
        {"teacher_width", e.teacher_width},
        {"student_width", e.student_width},
        {"depth", e.depth},
        {"samples", e.samples},
        {"batch", e.batch > 0 ? e.batch : e.samples},
        {"lrs", e.lrs},
        {"time", e.time},
        {"records", e.records},
        {"seed", e.seed},
        {"slope_bn", json_number(sum.slope_bn)},
        {"slope_no_bn", json_number(sum.slope_no_bn)},
        {"runs", runs}}},
      {"timing_ms", {{"projection", r.projection_ms}, {"energy", r.energy_ms}}},
  };
}

std::string lr_label(double lr) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", lr);
  return buf;
}

}  // namespace

BnCheckSummary summarize_bn_check(const BnCheckResult& r) {
  BnCheckSummary s;
  s.max_abs_Jf = worst(r.trials, &ProjectionTrial::max_abs_Jf);
  s.max_abs_J1 = worst(r.trials, &ProjectionTrial::max_abs_J1);
  s.max_abs_grad_diff = worst(r.trials, &ProjectionTrial::max_abs_grad_diff);
  s.max_abs_jacobian_diff = worst(r.trials, &ProjectionTrial::max_abs_jacobian_diff);
  s.slope_bn = small_lr_slope(r.runs, true);
  s.slope_no_bn = small_lr_slope(r.runs, false);
  return s;
}

std::vector<std::string> write_bn_check_outputs(const std::string& dir, const BnCheckConfig& config,
                                                const BnCheckResult& result) {
  namespace fs = std::filesystem;
  auto path = [&](const char* name) { return (fs::path(dir) / name).string(); };
  std::vector<std::string> written;
  auto write = [&](const char* name, const std::string& bytes) {
    write_file_atomically(path(name), bytes);
    written.push_back(name);
  };
  write("projection.csv", projection_csv(result.trials));
  write("energy.csv", energy_csv(result.runs));
  write("drift.csv", drift_csv(result.runs));
  write("summary.json", summary_json(config, result).dump(2) + "\n");

  // Drift against training time, one line per (lr, BN): log y, so the BN
  // lines (orders of magnitude below) and the ones without share a chart.
  // Step 0 has drift 0 and is not drawn on the log axis.
  plot::LineChart over_time;
  over_time.title = "row-energy drift, student width " + std::to_string(config.energy.student_width) +
                    ", teacher width " + std::to_string(config.energy.teacher_width);
  over_time.x_label = "training time t = lr * step";
  over_time.y_label = "max_j |E_j - E_j(0)|";
  over_time.log_y = true;
  for (int bn = 0; bn < 2; ++bn)
    for (const EnergyRun& r : result.runs) {
      if (r.bn != (bn == 1)) continue;
      plot::Series s{(r.bn ? "BN, lr " : "no BN, lr ") + lr_label(r.lr), {}, {}};
      for (size_t k = 0; k < r.drift.size(); ++k) {
        s.x.push_back(r.lr * static_cast<double>(r.record_steps[k]));
        s.y.push_back(r.drift[k]);
      }
      over_time.series.push_back(std::move(s));
    }
  plot::write_line_chart(path("drift.png"), over_time);
  written.push_back("drift.png");

  plot::LineChart by_lr;
  by_lr.title = "drift at t = " + lr_label(config.energy.time) + " against lr (BN: slope 1 = O(lr))";
  by_lr.x_label = "lr";
  by_lr.y_label = "max_j |E_j(t) - E_j(0)|";
  by_lr.log_x = by_lr.log_y = true;
  for (int bn = 0; bn < 2; ++bn) {
    plot::Series s{bn ? "with BN" : "without BN", {}, {}};
    for (const EnergyRun& r : result.runs)
      if (r.bn == (bn == 1) && r.finite) {
        s.x.push_back(r.lr);
        s.y.push_back(r.drift.back());
      }
    std::vector<size_t> order(s.x.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s.x[a] < s.x[b]; });
    plot::Series sorted{s.name, {}, {}};  // a line through the points in lr order, whatever --lrs's order
    for (size_t i : order) sorted.x.push_back(s.x[i]), sorted.y.push_back(s.y[i]);
    by_lr.series.push_back(std::move(sorted));
  }
  plot::write_line_chart(path("drift_vs_lr.png"), by_lr);
  written.push_back("drift_vs_lr.png");
  return written;
}

}  // namespace taylorscope
