// Marks a function callable from both host and device code. The per-element
// mathematics (series arithmetic, activations) is written once with this
// marker so the CPU reference path and the CUDA kernels run the same code.
#pragma once

#if defined(__CUDACC__)
#define TS_HD __host__ __device__ inline
#else
#define TS_HD inline
#endif

// Unroll a loop of constant trip count in device code, so that small arrays
// it indexes stay in registers; nothing on the host (GCC warns of an
// unknown pragma).
#if defined(__CUDACC__)
#define TS_UNROLL _Pragma("unroll")
#else
#define TS_UNROLL
#endif
