// curves.csv of `taylorscope train` (INTERFACES.md): one row per epoch.
#pragma once

#include <string>
#include <vector>

#include "taylorscope/training.hpp"

namespace taylorscope {

// Written atomically: a reader never sees half a table.
void write_curves_csv(const std::string& path, const std::vector<EpochRecord>& records);

}  // namespace taylorscope
