// Class power sums on the GPU (docs/math.md §4): Σ_{s∈α} (W_β·z_s)^n for
// n = 1..P, accumulated chunk by chunk. See class_power_sums.cu.
#pragma once

#include <cuda_runtime.h>

namespace taylorscope::cuda {

// The chunk's rows are sorted by class; a segment is a run of at most
// kSegmentRows rows of one class: rows [begin, end) of the chunk.
constexpr int kSegmentRows = 512;
struct RowSegment {
  int begin, end;
};

struct ClassPowerArgs {
  const double* A0 = nullptr;            // R×H, row-major: Z Wᵀ without the bias
  int H = 0;                             // hidden units
  int M = 0;                             // classes
  int P = 0;                             // powers n = 1..P
  const RowSegment* segments = nullptr;  // the chunk's segments, in row order
  int nseg = 0;
  const int* class_first_seg = nullptr;  // M+1: class α owns segments [first[α], first[α+1])
  double* seg_partials = nullptr;        // nseg×P×H doubles of scratch
  double* class_power = nullptr;         // P×M×H running totals: [n−1][α][β]
};

// class_power[n−1][α][β] += Σ_{s in the chunk, label α} A0[s][β]^n, in a fixed order.
void class_power_sums(const ClassPowerArgs& args, cudaStream_t stream);

}  // namespace taylorscope::cuda
