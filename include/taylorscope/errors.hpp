// Errors are values at the boundaries: bad user input (files, flags, shapes)
// raises InputError, which the CLI prints as one line and maps to exit 2.
// Anything else that goes wrong is a plain std::exception and exits 1.
#pragma once

#include <stdexcept>
#include <string>

namespace taylorscope {

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace taylorscope
