// taylorscope._taylorscope: the engine's library calls for the Python
// package. The public API is the pure-Python layer in taylorscope/; this
// module takes arrays already made float64, C-contiguous and host-resident
// there, and returns JSON reports and NumPy arrays.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <mutex>
#include <string>

#include "engine_call.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/training.hpp"

namespace taylorscope::python {

void bind_expand(nb::module_& m);
void bind_tensors(nb::module_& m);
void bind_train(nb::module_& m);
void bind_datasets(nb::module_& m);

std::mutex& engine_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace taylorscope::python

NB_MODULE(_taylorscope, m) {
  namespace nb = nanobind;
  using namespace taylorscope;
  // The engine's refusals are the caller's bad input: ValueError with the
  // CLI's one line. A run that blew up is the package's TrainingDiverged.
  // The module holds the exception type (an attribute), so nothing here does.
  nb::exception<TrainingDiverged>(m, "TrainingDiverged", PyExc_ArithmeticError);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  python::bind_expand(m);
  python::bind_tensors(m);
  python::bind_train(m);
  python::bind_datasets(m);
  m.def("cuda_available", [] {
    std::string why;
    const bool ok = cuda_backend_available(&why);
    return nb::make_tuple(ok, why);
  }, "(True, '') when this build has CUDA and a GPU is visible, else (False, why).");
  m.def("resolve_device", [](const std::string& device) { return device_label(resolve_device(device)); },
        "The device a --device value names here (\"cpu\" or \"cuda:i\").");
}
