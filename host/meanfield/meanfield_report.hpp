// The outputs of `taylorscope meanfield`: the single-point JSON report, the
// grid's phase.csv and boundary.csv, the simulation's simulate.csv, and their
// PNGs (INTERFACES.md "Experiments"). A value that does not exist (NaN in the
// library's structs) is JSON null and an empty CSV field, never "nan".
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "taylorscope/meanfield.hpp"

namespace taylorscope {

// { activation, sigma_w2, sigma_b2, q_star, chi1, c_star, xi_q, xi_c,
//   quadrature_points } and, added: q_slope, chi_c, phase, warnings.
nlohmann::json meanfield_point_json(const MeanFieldPoint& p);

// phase.csv: one row per grid point, the report's keys (warnings left out:
// they go to stderr) in the same order.
std::string meanfield_phase_csv(const MeanFieldGrid& grid);
// boundary.csv: sigma_b2, sigma_w2 where χ1 = 1, and q* there.
std::string meanfield_boundary_csv(const MeanFieldGrid& grid);
// simulate.csv: layer, q_theory, q_measured, q_sd_expected, q_sd_observed,
// c_theory, c_measured, c_sd_observed.
std::string meanfield_simulate_csv(const SimulateResult& r);

// The phase diagram: the χ1 = 1 boundary (σ_b² against σ_w²) as a line with
// markers. Returns false (drawing nothing) when the grid holds no crossing.
bool write_phase_plot(const std::string& path, const MeanFieldGrid& grid);
// χ1 against σ_w², one line per σ_b² (at most eight, evenly chosen), with the
// line χ1 = 1.
void write_chi1_plot(const std::string& path, const MeanFieldGrid& grid);
// q_l and c_l against l, measured beside the theory, in two panels side by side.
void write_simulate_plot(const std::string& path, const SimulateResult& r);

}  // namespace taylorscope
