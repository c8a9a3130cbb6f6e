// `--data SPEC` → Dataset. Parsing the spec, pairing images with labels and
// checking labels all happen here, so every reader error reaches the user as
// one line that names the file at fault.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "taylorscope/checked_size.hpp"
#include "taylorscope/checksum.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/finite_values.hpp"
#include "taylorscope/idx.hpp"
#include "taylorscope/npy.hpp"

namespace taylorscope {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAcceptedForms =
    "expected fashion-mnist:train, fashion-mnist:test, idx:IMAGES,LABELS or npy:Z.npy,LABELS.npy";

struct Raw {
  std::vector<double> Z;
  int64_t N = 0, E = 0;
  std::vector<int64_t> labels;
  std::string images_path, labels_path;
  bool pixels = false;  // IDX images: /255 is the natural default
};

std::pair<std::string, std::string> split_pair(const std::string& flag, const std::string& spec,
                                               const std::string& rest) {
  const auto comma = rest.find(',');
  if (comma == std::string::npos || comma == 0 || comma + 1 == rest.size())
    throw InputError(flag + " " + spec + ": " + kAcceptedForms);
  return {rest.substr(0, comma), rest.substr(comma + 1)};
}

Raw load_idx_pair(const std::string& images_path, const std::string& labels_path) {
  Raw raw;
  raw.images_path = images_path;
  raw.labels_path = labels_path;
  raw.pixels = true;
  IdxArray images = read_idx(images_path);
  raw.N = images.dims[0];
  // read_idx bounds the non-zero extents, so this cannot overflow for what it
  // returns; checked anyway, as the one place a row size is formed.
  uint64_t E = 1;
  for (size_t k = 1; k < images.dims.size(); ++k) {
    const auto next = checked_mul(E, static_cast<uint64_t>(images.dims[k]), INT64_MAX);
    if (!next) throw InputError(images_path + ": one image has too many pixels to count");
    E = *next;
  }
  raw.E = static_cast<int64_t>(E);
  raw.Z = std::move(images.values);
  require_finite(raw.Z, images_path, "images");

  IdxArray labels = read_idx(labels_path);
  if (labels.dims.size() != 1)
    throw InputError(labels_path + ": labels must be 1-D, found " +
                     std::to_string(labels.dims.size()) + " dimensions (images and labels swapped?)");
  if (labels.type_code == 0x0D || labels.type_code == 0x0E)
    throw InputError(labels_path + ": labels must be integers, found floating-point IDX data");
  raw.labels.reserve(labels.values.size());
  for (double v : labels.values) raw.labels.push_back(static_cast<int64_t>(v));
  return raw;
}

Raw load_npy_pair(const std::string& z_path, const std::string& labels_path) {
  Raw raw;
  raw.images_path = z_path;
  raw.labels_path = labels_path;
  NpyArray z = read_npy_floats(z_path);
  if (z.shape.size() != 2)
    throw InputError(z_path + ": embeddings must be 2-D (N×E), found " +
                     std::to_string(z.shape.size()) + "-D");
  raw.N = z.shape[0];
  raw.E = z.shape[1];
  raw.Z = std::move(z.values);
  require_finite(raw.Z, z_path, "embeddings");
  std::vector<int64_t> shape;
  raw.labels = read_npy_integers(labels_path, &shape);
  if (shape.size() != 1)
    throw InputError(labels_path + ": labels must be 1-D, found " + std::to_string(shape.size()) +
                     "-D");
  return raw;
}

// The file as stored (compressed, for .gz), read once more after parsing: a
// resumed run compares these, so a file that changed between runs is noticed
// even when its shape did not.
DataSource describe_source(const std::string& path) {
  const FileChecksum sum = checksum_file(path);
  DataSource source;
  source.path = path;
  source.bytes = sum.bytes;
  source.crc32 = sum.crc32;
  return source;
}

// The Debian package names its files like the original distribution; a
// directory the user unpacked may hold them uncompressed.
std::string fashion_file(const std::string& dir, const std::string& name) {
  const fs::path gz = fs::path(dir) / (name + ".gz");
  const fs::path plain = fs::path(dir) / name;
  std::error_code ec;
  if (fs::exists(gz, ec)) return gz.string();
  if (fs::exists(plain, ec)) return plain.string();
  throw InputError(gz.string() + ": missing; Debian's dataset-fashion-mnist provides it "
                   "(apt install dataset-fashion-mnist), or give --data-dir DIR holding it");
}

// Keeps the first `limit` rows of each class, in file order, compacting Z and
// labels in place so the full set is never copied.
void keep_first_per_class(Raw& raw, int M, int64_t limit) {
  std::vector<int64_t> seen(static_cast<size_t>(M), 0);
  int64_t out = 0;
  for (int64_t i = 0; i < raw.N; ++i) {
    const int64_t y = raw.labels[static_cast<size_t>(i)];
    if (seen[static_cast<size_t>(y)]++ >= limit) continue;
    if (out != i) {
      std::copy_n(raw.Z.begin() + i * raw.E, raw.E, raw.Z.begin() + out * raw.E);
      raw.labels[static_cast<size_t>(out)] = y;
    }
    ++out;
  }
  raw.N = out;
  raw.Z.resize(static_cast<size_t>(out * raw.E));
  raw.labels.resize(static_cast<size_t>(out));
}

void pad_to_32(Raw& raw) {
  std::vector<double> padded(static_cast<size_t>(raw.N) * 1024, 0.0);
  for (int64_t i = 0; i < raw.N; ++i) {
    const double* src = raw.Z.data() + i * 784;
    double* dst = padded.data() + i * 1024;
    for (int r = 0; r < 28; ++r)
      std::copy_n(src + r * 28, 28, dst + (r + 2) * 32 + 2);
  }
  raw.Z = std::move(padded);
  raw.E = 1024;
}

// Population statistics (divide by N), two passes for accuracy. A constant
// feature (e.g. a padding pixel) has no scale to divide by; it stays centred
// at zero rather than becoming NaN.
// Per feature z ← (z − mean)·inv with this set's statistics, or `like`'s.
void standardize_features(Raw& raw, const Dataset* like, std::vector<double>& mean_out,
                          std::vector<double>& inv_out) {
  const size_t E = static_cast<size_t>(raw.E);
  if (like) {
    if (like->standardize_mean.size() != E)
      throw InputError(raw.images_path + ": cannot standardize with " + like->spec +
                       "'s statistics (" + std::to_string(like->standardize_mean.size()) +
                       " features, this set has " + std::to_string(E) + ")");
    mean_out = like->standardize_mean;
    inv_out = like->standardize_scale;
  } else {
    std::vector<double> mean(E, 0.0), var(E, 0.0);
    for (int64_t i = 0; i < raw.N; ++i)
      for (size_t j = 0; j < E; ++j) mean[j] += raw.Z[static_cast<size_t>(i) * E + j];
    for (double& m : mean) m /= static_cast<double>(raw.N);
    for (int64_t i = 0; i < raw.N; ++i)
      for (size_t j = 0; j < E; ++j) {
        const double d = raw.Z[static_cast<size_t>(i) * E + j] - mean[j];
        var[j] += d * d;
      }
    // Values near 1e308 overflow the sum or the squares; an infinite sd would
    // then map the feature to 0 and an infinite mean to ∓Inf, so nothing
    // after this could be a number.
    int64_t overflowed = 0;
    for (size_t j = 0; j < E; ++j) overflowed += std::isfinite(mean[j]) && std::isfinite(var[j]) ? 0 : 1;
    if (overflowed > 0)
      throw InputError(raw.images_path + ": --standardize: the mean or variance of " +
                       std::to_string(overflowed) + " of " + std::to_string(E) +
                       " features overflows float64 (the values are too large to standardize)");
    std::vector<double> inv(E);
    for (size_t j = 0; j < E; ++j) {
      const double sd = std::sqrt(var[j] / static_cast<double>(raw.N));
      inv[j] = sd > 0 ? 1.0 / sd : 0.0;
    }
    mean_out = std::move(mean);
    inv_out = std::move(inv);
  }
  for (int64_t i = 0; i < raw.N; ++i)
    for (size_t j = 0; j < E; ++j) {
      double& z = raw.Z[static_cast<size_t>(i) * E + j];
      z = (z - mean_out[j]) * inv_out[j];
    }
  // With its own statistics a set standardizes to |z| ≤ √N, but values far
  // from another set's mean can overflow once scaled by its statistics.
  const int64_t bad = count_nonfinite(raw.Z.data(), raw.Z.size());
  if (bad > 0)
    throw InputError(raw.images_path + ": --standardize produced " + std::to_string(bad) +
                     " non-finite values (NaN or Inf) of " + std::to_string(raw.Z.size()) +
                     (like ? " with " + like->spec + "'s statistics" : std::string()) +
                     " (the values are too large for the standard deviation they are divided by)");
}

// Far more classes than samples is a label file of something else (or
// garbage); refusing it also keeps M within int and M-sized arrays small.
constexpr int64_t kMaxClasses = 1'000'000;

// The sample and label counts, M (`classes` when given, else `default_M`,
// else the largest label + 1) and every label within [0, M): the checks a
// file pair and a caller's arrays (dataset_from_arrays) share, so both are
// refused with the same line. `values` and `labels` name the two inputs (a
// file, or the Python argument), `classes_flag` the option that set M.
int64_t checked_class_count(const std::string& values, int64_t N, int64_t E, const std::string& labels,
                            const int64_t* y, int64_t label_count, int classes, int default_M,
                            const std::string& classes_flag) {
  if (label_count != N)
    throw InputError("image/label count mismatch: " + values + " has " + std::to_string(N) + " samples, " +
                     labels + " has " + std::to_string(label_count) + " labels");
  if (N == 0) throw InputError(values + ": no samples");
  if (E == 0) throw InputError(values + ": samples have no features (E = 0)");
  if (classes > kMaxClasses)
    throw InputError(classes_flag + " " + std::to_string(classes) + " is implausibly large");
  int64_t M = classes > 0 ? classes : default_M;
  if (M == 0) {
    const int64_t top = *std::max_element(y, y + label_count);
    if (top >= kMaxClasses)
      throw InputError(labels + ": largest label is " + std::to_string(top) + ", an implausible number of classes");
    M = std::max<int64_t>(top, 0) + 1;
  }
  // softmax over one class is 1 whatever θ is: the loss is identically 0 and
  // every term of the expansion is rounding noise, so nothing that would be
  // computed from such a set is a number worth printing.
  if (M == 1)
    throw InputError((classes == 1 ? classes_flag + " 1" : labels + ": every label is 0, so M = 1") +
                     ": one class makes the cross-entropy loss identically 0; at least 2 classes are needed");
  for (int64_t i = 0; i < label_count; ++i)
    if (y[i] < 0 || y[i] >= M)
      throw InputError(labels + ": label at index " + std::to_string(i) + " is " + std::to_string(y[i]) +
                       ", outside [0, " + std::to_string(M) + ")");
  return M;
}

// The class-conditional means E_{z|α} of docs/math.md §3 are undefined for an
// empty class, so such a set cannot be analysed.
void require_every_class(const Dataset& data, const std::string& labels) {
  for (int k = 0; k < data.M; ++k)
    if (data.class_counts[static_cast<size_t>(k)] == 0)
      throw InputError(labels + ": class " + std::to_string(k) + " has no samples (M = " + std::to_string(data.M) +
                       "); class-conditional means are undefined");
}

}  // namespace

void count_classes(Dataset& data) {
  data.class_counts.assign(static_cast<size_t>(std::max(data.M, 0)), 0);
  for (size_t i = 0; i < data.labels.size(); ++i) {
    const int32_t y = data.labels[i];
    if (y < 0 || y >= data.M)
      throw InputError(data.spec + ": label at index " + std::to_string(i) + " is " +
                       std::to_string(y) + ", outside [0, " + std::to_string(data.M) + ")");
    ++data.class_counts[static_cast<size_t>(y)];
  }
  data.balanced = !data.class_counts.empty() &&
                  std::all_of(data.class_counts.begin(), data.class_counts.end(),
                              [&](int64_t n) { return n == data.class_counts[0]; });
}

Dataset load_dataset(const std::string& spec, const DataOptions& options) {
  if (options.limit < 0) throw InputError("--limit must be ≥ 0, got " + std::to_string(options.limit));
  if (options.classes < 0)
    throw InputError("the class count must be ≥ 0, got " + std::to_string(options.classes));

  const std::string& flag = options.flag;
  const auto colon = spec.find(':');
  if (colon == std::string::npos) throw InputError(flag + " " + spec + ": " + kAcceptedForms);
  const std::string scheme = spec.substr(0, colon);
  const std::string rest = spec.substr(colon + 1);

  Raw raw;
  int default_M = 0;
  if (scheme == "fashion-mnist") {
    std::string prefix;
    if (rest == "train") prefix = "train";
    else if (rest == "test") prefix = "t10k";
    else
      throw InputError(flag + " " + spec + ": unknown Fashion-MNIST split '" + rest +
                       "' (expected fashion-mnist:train or fashion-mnist:test)");
    const std::string images = fashion_file(options.data_dir, prefix + "-images-idx3-ubyte");
    const std::string labels = fashion_file(options.data_dir, prefix + "-labels-idx1-ubyte");
    raw = load_idx_pair(images, labels);
    default_M = 10;
  } else if (scheme == "idx") {
    auto [images, labels] = split_pair(flag, spec, rest);
    raw = load_idx_pair(images, labels);
  } else if (scheme == "npy") {
    auto [z, labels] = split_pair(flag, spec, rest);
    raw = load_npy_pair(z, labels);
  } else {
    throw InputError(flag + " " + spec + ": unknown scheme '" + scheme + "'; " + kAcceptedForms);
  }

  const int64_t M = checked_class_count(raw.images_path, raw.N, raw.E, raw.labels_path, raw.labels.data(),
                                        static_cast<int64_t>(raw.labels.size()), options.classes, default_M,
                                        "--classes");

  if (options.limit > 0) keep_first_per_class(raw, static_cast<int>(M), options.limit);
  const bool scale = options.scale < 0 ? raw.pixels : options.scale != 0;
  if (scale)
    for (double& z : raw.Z) z /= 255.0;
  if (options.pad32) {
    if (raw.E != 784)
      throw InputError(raw.images_path + ": --pad32 needs 28×28 images (E = 784), found E = " +
                       std::to_string(raw.E));
    pad_to_32(raw);
  }
  Dataset data;
  if (options.standardize)
    standardize_features(raw, options.standardize_like, data.standardize_mean, data.standardize_scale);

  data.spec = spec;
  data.sources = {describe_source(raw.images_path), describe_source(raw.labels_path)};
  data.preprocessing.scaled = scale;
  data.preprocessing.standardized = options.standardize;
  data.preprocessing.standardized_like_other = options.standardize && options.standardize_like;
  data.preprocessing.pad32 = options.pad32;
  data.preprocessing.limit = options.limit;
  data.preprocessing.classes = options.classes;
  data.N = raw.N;
  data.E = raw.E;
  data.M = static_cast<int>(M);
  data.Z = std::move(raw.Z);
  data.labels.assign(raw.labels.begin(), raw.labels.end());
  count_classes(data);
  require_every_class(data, raw.labels_path);
  return data;
}

void require_data_readable_by(const Dataset& data, int device, const std::string& reader) {
  const int at = data.Z.device();
  if (at < 0 || at == device) return;
  throw InputError(data.spec + ": the values are in the memory of cuda:" + std::to_string(at) + ", which the " +
                   reader + " backend does not read; run on cuda:" + std::to_string(at) +
                   " or copy them to the host");
}

void fingerprint_arrays(Dataset& data, const ArrayNames& names) {
  auto source = [](const std::string& name, size_t bytes, uint32_t crc) {
    DataSource s;
    s.path = name;
    s.in_memory = true;
    s.bytes = static_cast<int64_t>(bytes);
    s.crc32 = crc;
    return s;
  };
  const DataValues& Z = data.Z;  // read only: the values may be borrowed
  const size_t z_bytes = Z.size() * sizeof(double), y_bytes = data.labels.size() * sizeof(int32_t);
  const uint32_t z_crc = Z.on_device() ? crc32_on_device(Z.device_data(), z_bytes, Z.device())
                                       : crc32_of(reinterpret_cast<const char*>(Z.data()), z_bytes);
  data.sources = {source(names.values, z_bytes, z_crc),
                  source(names.labels, y_bytes, crc32_of(reinterpret_cast<const char*>(data.labels.data()), y_bytes))};
}

Dataset dataset_from_arrays(const std::string& spec, const double* Z, int64_t N, int64_t E, const int64_t* labels,
                            int64_t label_count, int classes, const ArrayNames& names, int device) {
  if (classes < 0) throw InputError(names.classes + " must be ≥ 0, got " + std::to_string(classes));
  const int64_t M = checked_class_count(names.values, N, E, names.labels, labels, label_count, classes, 0,
                                        names.classes);
  const auto n = checked_mul(static_cast<uint64_t>(N), static_cast<uint64_t>(E), INT64_MAX);
  if (!n) throw InputError(names.values + ": " + std::to_string(N) + "×" + std::to_string(E) + " values are too many to count");
  const DataValues values = device < 0 ? DataValues::borrow(Z, static_cast<size_t>(*n))
                                       : DataValues::borrow_on_device(Z, static_cast<size_t>(*n), device);
  require_finite(values, names.values, "values");
  Dataset data;
  data.spec = spec;
  data.N = N;
  data.E = E;
  data.M = static_cast<int>(M);
  data.Z = values;
  data.labels.assign(labels, labels + label_count);
  count_classes(data);
  require_every_class(data, names.labels);
  return data;
}

}  // namespace taylorscope
