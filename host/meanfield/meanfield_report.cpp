#include "meanfield/meanfield_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "plot/charts.hpp"
#include "plot/png_image.hpp"
#include "report/json_number.hpp"
#include "taylorscope/atomic_file.hpp"

namespace taylorscope {
namespace {

// %.17g (float64 round-trips through the text); empty when not finite.
std::string field(double v) {
  if (!std::isfinite(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

nlohmann::json meanfield_point_json(const MeanFieldPoint& p) {
  nlohmann::json j;
  j["activation"] = p.activation;
  j["sigma_w2"] = json_number(p.sigma_w2);
  j["sigma_b2"] = json_number(p.sigma_b2);
  j["q_star"] = json_number(p.q_star);
  j["chi1"] = json_number(p.chi1);
  j["c_star"] = json_number(p.c_star);
  j["xi_q"] = json_number(p.xi_q);
  j["xi_c"] = json_number(p.xi_c);
  j["quadrature_points"] = p.quadrature_points;
  j["q_slope"] = json_number(p.q_slope);
  j["chi_c"] = json_number(p.chi_c);
  j["phase"] = p.phase;
  j["warnings"] = p.warnings;
  return j;
}

std::string meanfield_phase_csv(const MeanFieldGrid& grid) {
  std::string out =
      "activation,sigma_w2,sigma_b2,q_star,chi1,c_star,xi_q,xi_c,quadrature_points,q_slope,chi_c,phase\n";
  for (const MeanFieldPoint& p : grid.points)
    out += p.activation + "," + field(p.sigma_w2) + "," + field(p.sigma_b2) + "," + field(p.q_star) + "," +
           field(p.chi1) + "," + field(p.c_star) + "," + field(p.xi_q) + "," + field(p.xi_c) + "," +
           std::to_string(p.quadrature_points) + "," + field(p.q_slope) + "," + field(p.chi_c) + "," + p.phase +
           "\n";
  return out;
}

std::string meanfield_boundary_csv(const MeanFieldGrid& grid) {
  std::string out = "sigma_b2,sigma_w2,q_star\n";
  for (const BoundaryPoint& b : grid.boundary)
    out += field(b.sigma_b2) + "," + field(b.sigma_w2) + "," + field(b.q_star) + "\n";
  return out;
}

std::string meanfield_simulate_csv(const SimulateResult& r) {
  std::string out = "layer,q_theory,q_measured,q_sd_expected,q_sd_observed,c_theory,c_measured,c_sd_observed\n";
  for (const SimulateLayer& l : r.layers)
    out += std::to_string(l.layer) + "," + field(l.q_theory) + "," + field(l.q_measured) + "," +
           field(l.q_sd_expected) + "," + field(l.q_sd_observed) + "," + field(l.c_theory) + "," +
           field(l.c_measured) + "," + field(l.c_sd_observed) + "\n";
  return out;
}

bool write_phase_plot(const std::string& path, const MeanFieldGrid& grid) {
  plot::Series s{"chi1 = 1", {}, {}};
  for (const BoundaryPoint& b : grid.boundary)
    if (std::isfinite(b.sigma_w2)) {
      s.x.push_back(b.sigma_w2);
      s.y.push_back(b.sigma_b2);
    }
  if (s.x.empty()) return false;
  const std::string act = grid.points.empty() ? "" : grid.points.front().activation;
  plot::LineChart chart{act + ": order (left) to chaos (right), chi1 = 1", "sigma_w^2", "sigma_b^2", false, false,
                        {s}};
  plot::write_line_chart(path, chart);
  return true;
}

void write_chi1_plot(const std::string& path, const MeanFieldGrid& grid) {
  std::vector<double> b2;
  for (const MeanFieldPoint& p : grid.points)
    if (b2.empty() || b2.back() != p.sigma_b2) b2.push_back(p.sigma_b2);
  const size_t rows = b2.size(), cols = rows ? grid.points.size() / rows : 0;
  // The legend holds about eight lines; more σ_b² rows are thinned evenly.
  const size_t shown = std::min<size_t>(rows, 8);
  plot::LineChart chart{(grid.points.empty() ? "" : grid.points.front().activation) + ": chi1 against sigma_w^2",
                        "sigma_w^2", "chi1", false, false, {}};
  for (size_t k = 0; k < shown; ++k) {
    const size_t row = shown == 1 ? 0 : k * (rows - 1) / (shown - 1);
    char name[64];
    std::snprintf(name, sizeof name, "sigma_b^2 = %.4g", b2[row]);
    plot::Series s{name, {}, {}};
    for (size_t i = 0; i < cols; ++i) {
      s.x.push_back(grid.points[row * cols + i].sigma_w2);
      s.y.push_back(grid.points[row * cols + i].chi1);
    }
    chart.series.push_back(s);
  }
  if (cols > 0) chart.series.push_back({"chi1 = 1", {grid.points.front().sigma_w2, grid.points[cols - 1].sigma_w2}, {1, 1}});
  plot::write_line_chart(path, chart);
}

void write_simulate_plot(const std::string& path, const SimulateResult& r) {
  plot::Series qt{"q theory", {}, {}}, qm{"q measured", {}, {}}, ct{"c theory", {}, {}}, cm{"c measured", {}, {}};
  // The band one input's q̂ stays in with ~95% probability at this width.
  plot::Series hi{"theory + 2 sd", {}, {}}, lo{"theory - 2 sd", {}, {}};
  for (const SimulateLayer& l : r.layers) {
    hi.x.push_back(l.layer);
    hi.y.push_back(l.q_theory + 2 * l.q_sd_expected);
    lo.x.push_back(l.layer);
    lo.y.push_back(l.q_theory - 2 * l.q_sd_expected);
    qt.x.push_back(l.layer);
    qt.y.push_back(l.q_theory);
    qm.x.push_back(l.layer);
    qm.y.push_back(l.q_measured);
    ct.x.push_back(l.layer);
    ct.y.push_back(l.c_theory);
    cm.x.push_back(l.layer);
    cm.y.push_back(l.c_measured);
  }
  const std::string where = r.point.activation + ", sigma_w^2 = " + field(r.point.sigma_w2).substr(0, 6) +
                            ", sigma_b^2 = " + field(r.point.sigma_b2).substr(0, 6);
  const plot::Image left =
      plot::render_line_chart({"q_l: " + where, "layer l", "q_l", false, false, {qt, qm, hi, lo}});
  const plot::Image right =
      plot::render_line_chart({"c_l: " + where, "layer l", "c_l", false, false, {ct, cm}});
  plot::Image both(left.width + right.width, std::max(left.height, right.height));
  for (int y = 0; y < left.height; ++y)
    for (int x = 0; x < left.width; ++x) both.set_pixel(x, y, left.pixel(x, y));
  for (int y = 0; y < right.height; ++y)
    for (int x = 0; x < right.width; ++x) both.set_pixel(left.width + x, y, right.pixel(x, y));
  plot::write_png(path, both);
}

}  // namespace taylorscope
