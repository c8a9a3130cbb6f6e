// θ on disk: DIR/{U,W,b,c}.npy (INTERFACES.md "Parameters on disk"). U fixes
// M and H, W then fixes E; every other shape is checked against those, and
// the Params is returned only once all four files agree.
#include <filesystem>
#include <string>
#include <vector>

#include "taylorscope/errors.hpp"
#include "taylorscope/finite_values.hpp"
#include "taylorscope/npy.hpp"
#include "taylorscope/params.hpp"

namespace taylorscope {
namespace {

namespace fs = std::filesystem;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) s += ",";
  return s + ")";
}

NpyArray read_part(const fs::path& dir, const char* name, size_t ndim, const char* expected) {
  const std::string path = (dir / name).string();
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw InputError(path + ": missing (a parameter directory holds U.npy, W.npy, b.npy and c.npy)");
  NpyArray a = read_npy_floats(path);
  if (a.shape.size() != ndim)
    throw InputError(path + ": expected shape " + expected + ", found " + shape_text(a.shape));
  for (int64_t d : a.shape)
    if (d == 0) throw InputError(path + ": shape " + shape_text(a.shape) + " has a zero dimension");
  // NaN or Inf in θ would make every result NaN or a meaningless number.
  require_finite(a.values, path, std::string(name).substr(0, 1));
  return a;
}

void expect_shape(const fs::path& dir, const char* name, const NpyArray& a,
                  const std::vector<int64_t>& want, const std::string& why) {
  if (a.shape != want)
    throw InputError((dir / name).string() + ": expected shape " + shape_text(want) + " " + why +
                     ", found " + shape_text(a.shape));
}

}  // namespace

Params load_params(const std::string& dir) {
  const fs::path d(dir);
  NpyArray U = read_part(d, "U.npy", 2, "(M, H)");
  NpyArray W = read_part(d, "W.npy", 2, "(H, E)");
  NpyArray b = read_part(d, "b.npy", 1, "(H,)");
  NpyArray c = read_part(d, "c.npy", 1, "(M,)");
  const int64_t M = U.shape[0], H = U.shape[1], E = W.shape[1];
  const std::string from_U = "(H = " + std::to_string(H) + " from U.npy " + shape_text(U.shape) + ")";
  expect_shape(d, "W.npy", W, {H, E}, from_U);
  expect_shape(d, "b.npy", b, {H}, from_U);
  expect_shape(d, "c.npy", c, {M},
               "(M = " + std::to_string(M) + " from U.npy " + shape_text(U.shape) + ")");

  Params p;
  p.M = M;
  p.H = H;
  p.E = E;
  p.U = std::move(U.values);
  p.W = std::move(W.values);
  p.b = std::move(b.values);
  p.c = std::move(c.values);
  return p;
}

void check_params_fit(const Params& p, int64_t E, int M, const std::string& where) {
  std::string problems;
  if (p.E != E)
    problems += "W has E = " + std::to_string(p.E) + " columns but the data has E = " +
                std::to_string(E);
  if (p.M != M)
    problems += std::string(problems.empty() ? "" : "; ") + "U has M = " + std::to_string(p.M) +
                " rows but the data has M = " + std::to_string(M) + " classes";
  if (!problems.empty())
    throw InputError(where + ": parameters do not fit the data: " + problems);
}

const std::vector<std::string>& param_file_names() {
  static const std::vector<std::string> names = {"U.npy", "W.npy", "b.npy", "c.npy"};
  return names;
}

void save_params(const Params& p, const std::string& dir, NpyPrecision precision) {
  const fs::path d(dir);
  if (p.U.size() != static_cast<size_t>(p.M * p.H) || p.W.size() != static_cast<size_t>(p.H * p.E) ||
      p.b.size() != static_cast<size_t>(p.H) || p.c.size() != static_cast<size_t>(p.M))
    throw std::runtime_error(dir + ": cannot save parameters whose arrays do not match M, H, E");
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) throw std::runtime_error(dir + ": cannot create directory: " + ec.message());
  write_npy((d / "U.npy").string(), {p.M, p.H}, p.U, precision);
  write_npy((d / "W.npy").string(), {p.H, p.E}, p.W, precision);
  write_npy((d / "b.npy").string(), {p.H}, p.b, precision);
  write_npy((d / "c.npy").string(), {p.M}, p.c, precision);
}

}  // namespace taylorscope
