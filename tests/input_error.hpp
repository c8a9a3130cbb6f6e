// Runs a call that should refuse its input and returns the InputError's
// message, or a text that fails any expectation on the message when it threw
// something else or nothing.
#pragma once

#include <exception>
#include <string>

#include "taylorscope/errors.hpp"

namespace taylorscope::testing {

template <typename Fn>
std::string input_error(Fn fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION TYPE: ") + e.what();
  }
  return "NO EXCEPTION";
}

}  // namespace taylorscope::testing
