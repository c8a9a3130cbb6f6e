// Moments of the data by class: the J^(1) tensor of docs/math.md §3,
//   J^(1)_{αγ} = E_z[z_γ] − E_{z|α}[z_γ],
// and the overall mean Z̄ that the Z·UW·c term needs.
#pragma once

#include <vector>

#include "taylorscope/dataset.hpp"

namespace taylorscope {

struct FirstMoments {
  std::vector<double> mean;  // Z̄: E
  std::vector<double> J1;    // J^(1): M×E row-major
};

// Throws InputError when a class has no samples (E_{z|α} is undefined).
FirstMoments first_moments(const Dataset& data);

}  // namespace taylorscope
