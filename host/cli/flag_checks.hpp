// The checks of every numeric flag, in one place. Each reads the value from
// the text as typed (so a refusal can quote it: "got nan", "got 1e400") and
// refuses it during parsing, before any file is read, with one line a person
// would write: "--hidden must be a whole number ≥ 1, got 0". NaN and ±Inf are
// never accepted.
//
// They throw InputError from inside CLI::App::parse (CLI11 would otherwise
// prefix its own "--flag: " and print bounds such as DBL_MAX in full);
// main() turns it into the one error line and exit status 2.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

namespace taylorscope::cli {

namespace detail {
void check_whole(CLI::Option* option, long double lo, long double hi, bool hi_is_the_types_max,
                 const std::string& note);
}

// A whole number in [lo, hi], written in decimal; hi defaults to the largest
// the flag's type holds (then the message says only "≥ lo"). The text is
// rewritten to plain decimal before CLI11 converts it, which would otherwise
// read "010" as octal 8 and "-1" as 2^64 − 1 for an unsigned flag.
// A note, when given, ends the refusal in brackets (what to do instead).
template <class Int>
CLI::Option* whole(CLI::Option* option, Int lo, Int hi = std::numeric_limits<Int>::max(),
                   const std::string& note = "") {
  static_assert(std::is_integral_v<Int>);
  detail::check_whole(option, static_cast<long double>(lo), static_cast<long double>(hi),
                      hi == std::numeric_limits<Int>::max(), note);
  return option;
}

// Any finite number.
CLI::Option* finite(CLI::Option* option);
// A finite number > 0.
CLI::Option* positive(CLI::Option* option);
// A finite number ≥ lo.
CLI::Option* at_least(CLI::Option* option, double lo);
// A number in [0, 1): a decay rate such as β, or relu_ω's ι.
CLI::Option* below_one(CLI::Option* option);

}  // namespace taylorscope::cli
