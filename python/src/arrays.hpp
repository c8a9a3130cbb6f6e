// The arrays the module takes from Python and gives back. The Python layer
// (taylorscope/_arrays.py) has already made every input float64 (int64 for
// labels) and C-contiguous, on the CPU — or, for X (and train's Xe), on the
// GPU the call runs on — converting only what was not; so these types refuse
// conversion (noconvert at each argument): a copy made here would be one
// the caller was told does not happen.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "taylorscope/dataset.hpp"
#include "taylorscope/params.hpp"

namespace taylorscope::python {

namespace nb = nanobind;

using AnyArray = nb::ndarray<const double, nb::c_contig, nb::device::cpu>;  // θ's parts: shapes checked by the library
using Labels = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
// X (and train's Xe): in host memory, or in a GPU's (a CUDA tensor read in
// place by the CUDA backend of its device; docs/python.md).
using Matrix = nb::ndarray<const double, nb::ndim<2>, nb::c_contig>;

// A Dataset over X's buffer (not copied) and y's labels; `classes` = 0
// infers M. `spec` is what the report shows as the data's spec. X in a
// GPU's memory makes a device-resident set (DataValues::borrow_on_device);
// any other DLPack device is a TypeError. The caller's writes to a device X
// must be complete: the Python layer synchronises the device first.
Dataset dataset_of(const Matrix& X, const Labels& y, int classes, const std::string& spec);

// θ from its four arrays (copied; load_params' checks).
Params params_of(const AnyArray& U, const AnyArray& W, const AnyArray& b, const AnyArray& c);

// A NumPy array that owns `values` (moved, not copied).
template <class T>
nb::ndarray<nb::numpy, T> numpy_of(std::vector<T>&& values, std::initializer_list<size_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(owned->data(), shape, owner);
}

// θ as a dict {"U", "W", "b", "c"} of NumPy arrays.
nb::dict numpy_params(Params&& p);

}  // namespace taylorscope::python
