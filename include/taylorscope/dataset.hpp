// A labelled data set in memory, and the readers behind `--data SPEC`
// (INTERFACES.md "Data sets"). Samples are rows of Z in float64.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "taylorscope/data_values.hpp"

namespace taylorscope {

// A file a data set was read from, as it was on disk: a resumed training run
// must see the same bytes (its checkpoint identity holds these).
struct DataSource {
  std::string path;    // as opened; for a caller's array, its name
  int64_t bytes = 0;   // file size
  uint32_t crc32 = 0;  // zlib CRC-32 of the file's bytes as stored (compressed, for .gz)
  bool in_memory = false;  // a caller's array (fingerprint_arrays), not a file
};

// What the loader did to the rows (DataOptions, resolved): part of a
// training run's identity and of every report.
struct Preprocessing {
  bool scaled = false;        // divided by 255
  bool standardized = false;  // per-feature (z − mean)·scale
  bool standardized_like_other = false;  // with another set's statistics (an --eval set)
  bool pad32 = false;
  int64_t limit = 0;          // first `limit` per class; 0 = all
  int classes = 0;            // --classes as given; 0 = inferred
};

struct Dataset {
  std::string spec;                  // as given on the command line
  std::vector<DataSource> sources;   // images (or embeddings) file, then labels file
  Preprocessing preprocessing;
  int64_t N = 0;                     // samples
  int64_t E = 0;                     // features per sample
  int M = 0;                         // classes; labels lie in [0, M)
  DataValues Z;                      // N×E, row-major: owned, or a caller's array borrowed
  std::vector<int32_t> labels;       // N
  std::vector<int64_t> class_counts; // M
  bool balanced = false;             // every class has the same count (docs/math.md §1)
  // With --standardize: the per-feature z ← (z − mean)·scale that was applied.
  std::vector<double> standardize_mean, standardize_scale;

  const double* row(int64_t i) const { return Z.data() + i * E; }
};

struct DataOptions {
  // The flag SPEC came from, named by every message about the spec itself
  // (an --eval set's errors must not blame --data).
  std::string flag = "--data";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";  // for fashion-mnist:*
  int scale = -1;          // pixels/255: 1 on, 0 off, -1 = default (on for IDX, off for npy)
  bool standardize = false;  // per feature: zero mean, unit variance over this set
  // With standardize: take the mean and scale of this set instead (an eval
  // set is standardized with its train set's statistics). E must match.
  const Dataset* standardize_like = nullptr;
  bool pad32 = false;        // 28×28 → 32×32 with a 2-pixel zero border (E 784 → 1024)
  int64_t limit = 0;         // keep the first `limit` samples of each class (0 = all)
  int classes = 0;           // M; 0 = infer (10 for fashion-mnist, else max label + 1)
};

// Loads SPEC = fashion-mnist:train|test, idx:IMAGES,LABELS or npy:Z.npy,LABELS.npy,
// applies the options in the order limit → scale → pad32 → standardize, and
// fills class_counts/balanced. Throws InputError with one line naming the
// file and what is wrong.
Dataset load_dataset(const std::string& spec, const DataOptions& options);

// What a caller's arrays are called in its errors (the Python package: the
// argument names), as the file names are in load_dataset's.
struct ArrayNames {
  std::string values = "X";          // the N×E values
  std::string labels = "y";          // the N labels
  std::string classes = "classes";   // what set M, when given
};

// A data set over a caller's arrays: Z (N×E, row-major float64) is borrowed,
// not copied (DataValues), and must outlive the Dataset; labels are copied.
// M is `classes` when > 0, else the largest label + 1. Refuses, with
// load_dataset's messages, what it refuses: count mismatches, no samples or
// features, one class, labels outside [0, M), an empty class and non-finite
// values. `spec` is what reports show as the data's spec.
// `device` ≥ 0: Z is in that CUDA device's memory (a CUDA tensor); the
// finite check runs there, and only the CUDA backends of that device read
// the set (DataValues::borrow_on_device). Labels are host memory. The
// engine reads Z on streams of its own, so whatever writes Z must have
// finished (the Python package synchronises the device first), and a Z
// that is not in that device's memory is refused before it is read.
Dataset dataset_from_arrays(const std::string& spec, const double* Z, int64_t N, int64_t E, const int64_t* labels,
                            int64_t label_count, int classes, const ArrayNames& names = {}, int device = -1);

// Throws InputError when the values of `data` are in a GPU's memory other
// than `device` (-1: a backend that reads host memory only). `reader` names
// that backend in the line. Every backend's upload calls it first (through
// its data_device()), so device data reaches only the CUDA backend of its
// own device; no host code reads it (DataValues throws on a host read).
void require_data_readable_by(const Dataset& data, int device, const std::string& reader);

// Records what a set over a caller's arrays holds as its sources (values,
// then labels: bytes and CRC-32, like a file's), so that a training run
// resumed from a checkpoint refuses different arrays of the same shape as it
// refuses a changed file. One pass over the values (device values are
// copied to the host in chunks to be checksummed: crc32_on_device).
void fingerprint_arrays(Dataset& data, const ArrayNames& names = {});

// Recomputes class_counts and balanced from labels and M.
void count_classes(Dataset& data);

}  // namespace taylorscope
