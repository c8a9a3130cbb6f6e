// θ on disk: DIR/{U,W,b,c}.npy (INTERFACES.md "Parameters on disk"). U fixes
// M and H, W then fixes E; every other shape is checked against those, and
// the Params is returned only once all four files agree.
//
// Each file is written atomically, but four renames are not one: a kill
// between them would leave U of one θ beside W of another. So the set has a
// manifest, DIR/params.json, and save_params writes it twice — first marked
// incomplete, then (after the four files) complete, with each file's shape,
// dtype, size and CRC-32. A kill at any point leaves the old set, a set the
// manifest refuses, or the new set; never a mixed set that loads. A directory
// without a manifest (numpy.save, another tool) loads as before.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "taylorscope/atomic_file.hpp"
#include "taylorscope/checksum.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/finite_values.hpp"
#include "taylorscope/npy.hpp"
#include "taylorscope/params.hpp"

namespace taylorscope {
namespace {

namespace fs = std::filesystem;

constexpr const char* kManifest = "params.json";
constexpr const char* kFormat = "taylorscope parameter set";
constexpr int kManifestVersion = 1;
const char* const kParts[] = {"U.npy", "W.npy", "b.npy", "c.npy"};

std::string rewrite_hint() {
  return std::string("write the set again, or delete ") + kManifest + " to load the .npy files as they are";
}

// The manifest's per-file entries, or null when DIR has no manifest.
nlohmann::json manifest_files(const fs::path& dir) {
  const fs::path path = dir / kManifest;
  std::error_code ec;
  if (!fs::exists(path, ec)) return nullptr;
  const std::string where = path.string();
  if (fs::is_directory(path, ec)) throw InputError(where + ": is a directory, not a parameter manifest");
  std::ifstream in(where, std::ios::binary);
  if (!in) throw InputError(where + ": cannot read the parameter manifest");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const nlohmann::json m = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  // Compared as JSON: value("format", "") would throw on a non-string.
  if (m.is_discarded() || !m.is_object() || !m.contains("format") || m["format"] != kFormat)
    throw InputError(where + ": not a taylorscope parameter manifest");
  if (!m.contains("version") || !m["version"].is_number_integer() || m["version"].get<int64_t>() != kManifestVersion)
    throw InputError(where + ": manifest version " + (m.contains("version") ? m["version"].dump() : "(none)") +
                     " is not this build's (" + std::to_string(kManifestVersion) + ")");
  if (!m.contains("complete") || !m["complete"].is_boolean() || !m["complete"].get<bool>())
    throw InputError(dir.string() + ": the parameter set is incomplete: " + kManifest +
                     " marks a write that never finished, so the files may be of two different sets; " +
                     rewrite_hint());
  if (!m.contains("files") || !m["files"].is_object()) throw InputError(where + ": the manifest lists no files");
  return m["files"];
}

// A file the manifest lists must be the one it describes, byte for byte.
void check_against_manifest(const fs::path& dir, const char* name, const nlohmann::json& files) {
  const std::string where = (dir / kManifest).string();
  if (!files.contains(name) || !files[name].is_object())
    throw InputError(where + ": the manifest has no entry for " + name);
  const nlohmann::json& entry = files[name];
  if (!entry.contains("bytes") || !entry["bytes"].is_number_unsigned() || !entry.contains("crc32") ||
      !entry["crc32"].is_number_unsigned())
    throw InputError(where + ": the entry for " + std::string(name) + " lacks its size or CRC-32");
  const FileChecksum sum = checksum_file((dir / name).string());
  const uint64_t bytes = entry["bytes"].get<uint64_t>(), crc = entry["crc32"].get<uint64_t>();
  if (static_cast<uint64_t>(sum.bytes) != bytes || sum.crc32 != crc)
    throw InputError(dir.string() + ": " + name + " does not match the manifest " + kManifest + " (" +
                     (static_cast<uint64_t>(sum.bytes) != bytes
                          ? std::to_string(sum.bytes) + " bytes, the manifest says " + std::to_string(bytes)
                          : std::string("its CRC-32 differs")) +
                     "): a write was interrupted or the file was replaced, so the set may be mixed; " +
                     rewrite_hint());
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) s += ",";
  return s + ")";
}

NpyArray read_part(const fs::path& dir, const char* name, size_t ndim, const char* expected,
                   const nlohmann::json& manifest) {
  const std::string path = (dir / name).string();
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw InputError(path + ": missing (a parameter directory holds U.npy, W.npy, b.npy and c.npy)");
  if (!manifest.is_null() && !fs::is_directory(path, ec)) check_against_manifest(dir, name, manifest);
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
  const nlohmann::json manifest = manifest_files(d);
  NpyArray U = read_part(d, "U.npy", 2, "(M, H)", manifest);
  NpyArray W = read_part(d, "W.npy", 2, "(H, E)", manifest);
  NpyArray b = read_part(d, "b.npy", 1, "(H,)", manifest);
  NpyArray c = read_part(d, "c.npy", 1, "(M,)", manifest);
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

Params params_from_arrays(const ParamArrays& a, const std::string& prefix) {
  // load_params' checks, in its order and words, each array named as the
  // caller knows it (prefix + "U", …) instead of by file.
  auto check = [&](const ParamArray& x, const char* name, size_t ndim, const char* expected) {
    const std::string where = prefix + name;
    if (x.shape.size() != ndim)
      throw InputError(where + ": expected shape " + expected + ", found " + shape_text(x.shape));
    size_t n = 1;
    for (int64_t d : x.shape) {
      if (d == 0) throw InputError(where + ": shape " + shape_text(x.shape) + " has a zero dimension");
      n *= static_cast<size_t>(d);
    }
    require_finite(x.data, n, where, name);
    return std::vector<double>(x.data, x.data + n);
  };
  Params p;
  p.U = check(a.U, "U", 2, "(M, H)");
  p.W = check(a.W, "W", 2, "(H, E)");
  p.b = check(a.b, "b", 1, "(H,)");
  p.c = check(a.c, "c", 1, "(M,)");
  p.M = a.U.shape[0];
  p.H = a.U.shape[1];
  p.E = a.W.shape[1];
  const std::string from_U = "(H = " + std::to_string(p.H) + " from " + prefix + "U " + shape_text(a.U.shape) + ")";
  auto expect = [&](const ParamArray& x, const char* name, const std::vector<int64_t>& want, const std::string& why) {
    if (x.shape != want)
      throw InputError(prefix + name + ": expected shape " + shape_text(want) + " " + why + ", found " +
                       shape_text(x.shape));
  };
  expect(a.W, "W", {p.H, p.E}, from_U);
  expect(a.b, "b", {p.H}, from_U);
  expect(a.c, "c", {p.M}, "(M = " + std::to_string(p.M) + " from " + prefix + "U " + shape_text(a.U.shape) + ")");
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
  static const std::vector<std::string> names = {"U.npy", "W.npy", "b.npy", "c.npy", kManifest};
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
  const std::string manifest = (d / kManifest).string();
  nlohmann::json m = {{"format", kFormat}, {"version", kManifestVersion}, {"complete", false}};
  write_file_atomically(manifest, m.dump(2) + "\n");  // from here until the end, the set loads as nothing
  const std::vector<int64_t> shapes[] = {{p.M, p.H}, {p.H, p.E}, {p.H}, {p.M}};
  const std::vector<double>* values[] = {&p.U, &p.W, &p.b, &p.c};
  m["files"] = nlohmann::json::object();
  for (int k = 0; k < 4; ++k) {
    const std::string path = (d / kParts[k]).string();
    write_npy(path, shapes[k], *values[k], precision);
    const FileChecksum sum = checksum_file(path);  // what reached the file, read back
    m["files"][kParts[k]] = {{"shape", shapes[k]},
                             {"dtype", precision == NpyPrecision::f64 ? "<f8" : "<f4"},
                             {"bytes", sum.bytes},
                             {"crc32", sum.crc32}};
  }
  m["complete"] = true;
  write_file_atomically(manifest, m.dump(2) + "\n");
}

}  // namespace taylorscope
