// How every binding runs the engine: with the GIL released (other Python
// threads go on), one engine call at a time (the engine's warning queue and
// process-wide settings are not made for concurrent calls), and the
// warnings it queued handed back instead of printed to stderr. The engine
// selects the GPU it runs on; the caller's current device (PyTorch's,
// CuPy's) is selected again afterwards.
#pragma once

#include <nanobind/nanobind.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/warnings.hpp"

namespace taylorscope::python {

namespace nb = nanobind;

std::mutex& engine_mutex();

template <class Fn>
auto run_engine(std::vector<std::string>* warnings, Fn&& fn) {
  nb::gil_scoped_release released;
  std::lock_guard<std::mutex> one_at_a_time(engine_mutex());
  const KeepCurrentCudaDevice keep;
  discard_warnings();  // a previous call's, should one have been left
  try {
    auto result = fn();
    if (warnings) *warnings = pending_warnings();
    discard_warnings();
    return result;
  } catch (...) {
    discard_warnings();  // the error is the one thing the caller hears
    throw;
  }
}

}  // namespace taylorscope::python
