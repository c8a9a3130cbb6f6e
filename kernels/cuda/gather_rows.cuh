// dst row r = src row order[r]: the CUDA expansion backend's class-sorted
// copy of a data set already in the GPU's memory (a borrowed device array),
// the device twin of upload()'s host staging loop for host data. A
// device-to-device copy at HBM bandwidth instead of a host round trip.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace taylorscope::cuda {

// src and dst: E doubles a row (row-major), dst holding `rows` rows;
// order[r] in [0, rows of src). src and dst must not overlap.
void gather_rows(const double* src, const int64_t* order, int64_t rows, int64_t E, double* dst,
                 cudaStream_t stream);

// The same with the order on the host (order.size() rows): uploads it,
// gathers, and waits for `stream`, so the rows are in dst on return. What
// the backends' uploads of a device-resident data set call.
void gather_rows(const double* src, const std::vector<int64_t>& order, int64_t E, double* dst, cudaStream_t stream);

}  // namespace taylorscope::cuda
