// Seeded initialisation. std::mt19937_64's output sequence is fixed by the
// C++ standard, but the std:: distributions are not (libstdc++, libc++ and
// MSVC turn the same bits into different numbers), so the bits→value
// transforms are written out here. Entries are drawn U, W, b, c, each in
// row-major order, so a given seed means the same θ everywhere (up to the
// last-bit differences of log/cos/sqrt between maths libraries).
#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <string>

#include "taylorscope/errors.hpp"
#include "taylorscope/memory_budget.hpp"
#include "taylorscope/params.hpp"

namespace taylorscope {
namespace {

class Draws {
 public:
  explicit Draws(uint64_t seed) : gen_(seed) {}

  // [0, 1) on the 2^-53 grid: the top 53 bits, exactly representable.
  double uniform01() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }

  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }

  // Box–Muller; both values of a pair are used, the second on the next call.
  double gaussian() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform01();  // (0, 1]: log(u1) is finite
    const double u2 = uniform01();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    spare_ = r * std::sin(angle);
    have_spare_ = true;
    return r * std::cos(angle);
  }

 private:
  std::mt19937_64 gen_;
  double spare_ = 0.0;
  bool have_spare_ = false;
};

Params shaped(int64_t M, int64_t H, int64_t E) {
  if (M <= 0 || H <= 0 || E <= 0)
    throw InputError("parameter sizes must be positive, got M = " + std::to_string(M) +
                     ", H = " + std::to_string(H) + ", E = " + std::to_string(E));
  // H comes from --hidden: a typo there must cost a line, not the machine's
  // memory (sizes in double, so no product can wrap).
  const double Md = static_cast<double>(M), Hd = static_cast<double>(H), Ed = static_cast<double>(E);
  check_memory(8.0 * (Md * Hd + Hd * Ed + Hd + Md),
               "--hidden " + std::to_string(H) + ": θ (" + std::to_string(M) + "×" + std::to_string(H) + " U, " +
                   std::to_string(H) + "×" + std::to_string(E) + " W)");
  // Only a machine without a memory limit gets here with sizes whose
  // element counts would overflow.
  if (Md * Hd + Hd * Ed > 0x1p62)
    throw InputError("parameter sizes M = " + std::to_string(M) + ", H = " + std::to_string(H) +
                     ", E = " + std::to_string(E) + " are too large");
  Params p;
  p.M = M;
  p.H = H;
  p.E = E;
  p.U.assign(static_cast<size_t>(M * H), 0.0);
  p.W.assign(static_cast<size_t>(H * E), 0.0);
  p.b.assign(static_cast<size_t>(H), 0.0);
  p.c.assign(static_cast<size_t>(M), 0.0);
  return p;
}

}  // namespace

Params init_gaussian(int64_t M, int64_t H, int64_t E, double std, uint64_t seed) {
  if (!(std >= 0.0) || !std::isfinite(std))
    throw InputError("initialisation std must be finite and ≥ 0, got " + std::to_string(std));
  Params p = shaped(M, H, E);
  Draws draws(seed);
  for (auto* v : {&p.U, &p.W, &p.b, &p.c})
    for (double& x : *v) x = std * draws.gaussian();
  return p;
}

Params init_glorot_uniform(int64_t M, int64_t H, int64_t E, uint64_t seed) {
  Params p = shaped(M, H, E);
  Draws draws(seed);
  const double lu = std::sqrt(6.0 / static_cast<double>(H + M));
  const double lw = std::sqrt(6.0 / static_cast<double>(E + H));
  for (double& x : p.U) x = draws.uniform(-lu, lu);
  for (double& x : p.W) x = draws.uniform(-lw, lw);
  return p;
}

}  // namespace taylorscope
