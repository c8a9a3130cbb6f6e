// Which Philox stream (counter_rng.hpp) each of bn-check's draws reads, so
// that no two uses share one and a stream is read either as uniforms or as
// normals, never both. Streams are 64-bit: the projection trials start at
// 2^32, far above the energy run's few.
#pragma once

#include <cstdint>

namespace taylorscope::bn_streams {

inline constexpr uint64_t kInputs = 0;   // normals: the training set X, sample-major
inline constexpr uint64_t kTeacher = 1;  // normals: the teacher's weights, layer by layer
inline constexpr uint64_t kStudent = 2;  // normals: the student's initial weights, layer by layer
inline constexpr uint64_t kProbe = 3;    // normals: the directions of student_gradient_error (tests)

inline constexpr uint64_t kProjectionBase = uint64_t{1} << 32;
inline uint64_t projection_uniforms(int64_t trial) { return kProjectionBase + 2 * static_cast<uint64_t>(trial); }
inline uint64_t projection_normals(int64_t trial) { return kProjectionBase + 2 * static_cast<uint64_t>(trial) + 1; }

}  // namespace taylorscope::bn_streams
