// The CPU tensor tiles as values (for --dump and for tests): CPU-only
// helpers of the `tensors` command, not part of the public API in include/
// (the statistics are: moment_tensors.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "taylorscope/moment_tensors.hpp"

namespace taylorscope {

// The CPU tiles themselves, for --dump and for anything that wants the values:
// `visit` sees each tile's M class blocks, J and T each (M × rows × cols),
// row-major, rows = cols = E − L (rows = 1 for n = 1); a pointer is null when
// its source is absent. Only the upper triangle j ≥ i of a block is meaningful.
struct TileView {
  int n = 0;
  TilePrefix prefix;
  int64_t rows = 0, cols = 0;
  const double* J = nullptr;
  const double* T = nullptr;
};
void for_each_cpu_tile(const TensorSources& sources, int order, const std::function<void(const TileView&)>& visit,
                       const SweepProgress& progress = {});

// The full M × E × … × E tensor (C order) unpacked from the CPU tiles.
// `stream` is kStreamJ, kStreamT or kStreamJT.
std::vector<double> dense_tensor(const TensorSources& sources, int order, int stream);

}  // namespace taylorscope
