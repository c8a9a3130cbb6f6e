// Options of the CUDA expansion backend beyond make_cuda_backend(device)
// (expansion_pass.hpp). Declared in every build; without CUDA the factory
// throws InputError like make_cuda_backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "taylorscope/expansion_pass.hpp"

namespace taylorscope {

struct CudaBackendOptions {
  int device = 0;
  // Device memory for one chunk of rows (A0, G and the class-power partials);
  // run() also stays below 3/4 of the device's free memory.
  size_t chunk_bytes = size_t{1} << 30;
  // Upper bound on the rows of a chunk; 0 = only the memory budget decides.
  // Tests set it small to exercise the chunk boundaries.
  int64_t max_chunk_rows = 0;
};

std::unique_ptr<ExpansionBackend> make_cuda_backend(const CudaBackendOptions& options);

}  // namespace taylorscope
