// Moments of the data by class: the J^(1) tensor of docs/math.md §3,
//   J^(1)_{αγ} = E_z[z_γ] − E_{z|α}[z_γ],
// and the overall mean Z̄ that the Z·UW·c term needs — from the class sums
// and counts that the expansion pass reads off the rows (PassSums), so no
// one goes back to Z for them (on the GPU backend Z lives on the device).
#pragma once

#include <string>
#include <vector>

#include "taylorscope/expansion_pass.hpp"

namespace taylorscope {

struct FirstMoments {
  std::vector<double> mean;  // Z̄: E
  std::vector<double> J1;    // J^(1): M×E row-major
};

// From sums.class_sum and sums.class_count (all ranks' rows: after the
// reduction). Throws InputError naming `spec` when a class has no samples
// (E_{z|α} is undefined).
FirstMoments first_moments(const PassSums& sums, const std::string& spec);

}  // namespace taylorscope
