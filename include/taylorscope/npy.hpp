// NumPy .npy files, format 1.0 (and 2.0/3.0 on read), C order, little-endian.
// This is the parameter format of INTERFACES.md and the embeddings format of
// `--data npy:…`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taylorscope {

struct NpyArray {
  std::vector<int64_t> shape;
  std::string descr;          // as found in the header, e.g. "<f4"
  std::vector<double> values; // converted to float64, C order
  int64_t size() const;
};

// Reads a floating-point array (<f4 or <f8; also <f2 is refused with a clear
// message). Throws InputError: "PATH: what is wrong".
NpyArray read_npy_floats(const std::string& path);

// Reads an integer array (i1/u1/i2/u2/i4/u4/i8/u8, little-endian or
// byte-sized) into int64. Throws InputError on anything else.
std::vector<int64_t> read_npy_integers(const std::string& path, std::vector<int64_t>* shape);

enum class NpyPrecision { f32, f64 };

// Writes atomically: to PATH.tmp.<pid>, then rename(2), so a reader never sees
// a half-written file. Throws std::runtime_error on I/O failure.
void write_npy(const std::string& path, const std::vector<int64_t>& shape,
               const std::vector<double>& values, NpyPrecision precision);

}  // namespace taylorscope
