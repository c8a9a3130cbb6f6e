// A parameter set θ = (U, W, b, c) of the MLP f(z) = U σ(Wz + b) + c
// (docs/math.md §1), its `.npy` directory format (INTERFACES.md) and seeded
// initialisation. Everything is float64 in memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "taylorscope/npy.hpp"

namespace taylorscope {

struct Params {
  int64_t M = 0, H = 0, E = 0;
  std::vector<double> U;  // M×H row-major
  std::vector<double> W;  // H×E row-major
  std::vector<double> b;  // H
  std::vector<double> c;  // M
};

// Reads DIR/{U,W,b,c}.npy (f4 or f8) and checks that their shapes fit each
// other and that every value is finite. When DIR/params.json (the manifest
// save_params writes) is present, each file must be the one it lists (size
// and CRC-32) and the manifest must be complete: a set whose writing was cut
// short is refused, never loaded mixed. Throws InputError naming the file;
// nothing half-loaded escapes.
Params load_params(const std::string& dir);

// θ from a caller's arrays (the Python package): each a row-major float64
// buffer and its shape. Copied (θ is small beside the data); refused with
// load_params' messages, each array named `prefix` + U, W, b or c.
struct ParamArray {
  const double* data = nullptr;
  std::vector<int64_t> shape;
};
struct ParamArrays {
  ParamArray U, W, b, c;
};
Params params_from_arrays(const ParamArrays& arrays, const std::string& prefix = "theta.");

// Checks θ against a data set's E and M; throws InputError on mismatch.
void check_params_fit(const Params& p, int64_t E, int M, const std::string& where);

// Writes DIR/{U,W,b,c}.npy, each atomically, between two writes of the
// manifest DIR/params.json (first "incomplete", last with each file's shape,
// dtype, size and CRC-32), so the set as a whole is replaced atomically for
// load_params. Creates DIR if needed.
void save_params(const Params& p, const std::string& dir, NpyPrecision precision);

// The names of the files save_params writes into its directory (the four
// arrays and the manifest).
const std::vector<std::string>& param_file_names();

// Every entry of U, W, b, c i.i.d. N(0, std²), from a seeded generator.
Params init_gaussian(int64_t M, int64_t H, int64_t E, double std, uint64_t seed);

// Glorot-uniform U and W (limit sqrt(6/(fan_in+fan_out))), zero b and c.
Params init_glorot_uniform(int64_t M, int64_t H, int64_t E, uint64_t seed);

}  // namespace taylorscope
