// Warp shuffles of whole structs. A reduction tree that shuffles an
// accumulator field by field drops any field added later (review W1: the
// `zero` count of MomentAccumulator was never shuffled, so frac_zero came out
// ~32× too small on a GPU). Shuffling the struct's bytes as 32-bit words in
// one loop moves every field there is, whatever fields there are.
#pragma once

#include <cuda_runtime.h>

#include <type_traits>

namespace taylorscope::cuda {

// The value of `value` held by lane (this lane + offset); lanes whose partner
// is past the warp get their own value back (as __shfl_down_sync does).
// Every lane in `mask` must call it.
template <class T>
__device__ __forceinline__ T shfl_down_struct(const T& value, int offset, unsigned mask = 0xffffffffu) {
  static_assert(std::is_trivially_copyable<T>::value, "shuffled structs are copied as raw bytes");
  static_assert(sizeof(T) % sizeof(unsigned) == 0, "shuffled structs are whole 32-bit words");
  constexpr int kWords = static_cast<int>(sizeof(T) / sizeof(unsigned));
  unsigned words[kWords];
  memcpy(words, &value, sizeof(T));
#pragma unroll
  for (int i = 0; i < kWords; ++i) words[i] = __shfl_down_sync(mask, words[i], offset);
  T out;
  memcpy(&out, words, sizeof(T));
  return out;
}

}  // namespace taylorscope::cuda
