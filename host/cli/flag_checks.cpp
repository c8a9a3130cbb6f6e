#include "flag_checks.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "taylorscope/errors.hpp"

namespace taylorscope::cli {
namespace {

static_assert(std::numeric_limits<long double>::digits >= 64,
              "whole-number flags compare 64-bit values exactly as long double");

// "0.5", "1e-08", "100000": bounds as a person writes them.
std::string number_text(long double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10Lg", v);
  return buf;
}

// Decimal digits with an optional sign; the value is exact below 2^64 and
// only grows past it, so comparisons with 64-bit bounds stay right.
bool parse_whole(const std::string& text, long double* value, bool* negative) {
  size_t i = 0;
  *negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) *negative = text[i++] == '-';
  if (i == text.size()) return false;
  long double v = 0;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    v = v * 10 + (text[i] - '0');
  }
  *value = *negative ? -v : v;
  return true;
}

// The whole text is one finite number (strtod: decimal, exponent or hex).
bool parse_finite(const std::string& text, double* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);  // 1e400 overflows to ±HUGE_VAL: not finite
  if (end != text.c_str() + text.size()) return false;
  *value = v;
  return std::isfinite(v);
}

void add_number_check(CLI::Option* option, const std::string& requirement,
                      const std::function<bool(double)>& in_range) {
  const std::string flag = option->get_name();
  option->check(CLI::Validator(
      [flag, requirement, in_range](std::string& text) -> std::string {
        double v = 0;
        if (!parse_finite(text, &v) || !in_range(v))
          throw InputError(flag + " must be " + requirement + ", got " + (text.empty() ? "nothing" : text));
        return {};
      },
      ""));
}

}  // namespace

namespace detail {

void check_whole(CLI::Option* option, long double lo, long double hi, bool hi_is_the_types_max,
                 const std::string& note) {
  const std::string flag = option->get_name();
  const std::string requirement = hi_is_the_types_max ? "a whole number ≥ " + number_text(lo)
                                             : "a whole number from " + number_text(lo) + " to " + number_text(hi);
  // transform, not check: CLI11 hands a check a copy of the text.
  option->transform(CLI::Validator(
      [flag, requirement, lo, hi, hi_is_the_types_max, note](std::string& text) -> std::string {
        long double v = 0;
        bool negative = false;
        const bool whole = parse_whole(text, &v, &negative);
        if (!whole || v < lo || v > hi)
          throw InputError(flag + " must be " + requirement + ", got " + (text.empty() ? "nothing" : text) +
                           (whole && v > hi && hi_is_the_types_max ? " (too large)" : "") +
                           (note.empty() ? "" : " (" + note + ")"));
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%.0Lf", negative && v != 0 ? "-" : "", std::fabs(v));
        text = buf;  // plain decimal for CLI11's base-0 conversion
        return {};
      },
      ""));
}

}  // namespace detail

CLI::Option* finite(CLI::Option* option) {
  add_number_check(option, "a finite number", [](double) { return true; });
  return option;
}

CLI::Option* positive(CLI::Option* option) {
  add_number_check(option, "a finite number > 0", [](double v) { return v > 0; });
  return option;
}

CLI::Option* at_least(CLI::Option* option, double lo) {
  add_number_check(option, "a finite number ≥ " + number_text(lo), [lo](double v) { return v >= lo; });
  return option;
}

CLI::Option* below_one(CLI::Option* option) {
  add_number_check(option, "a number in [0, 1)", [](double v) { return v >= 0 && v < 1; });
  return option;
}

}  // namespace taylorscope::cli
