// The training checkpoint: one file, written atomically (atomic_file.hpp),
// so a crash leaves the previous checkpoint or the new one, never half of
// one. Layout:
//   "TSCKPT1\n" | u64 header length | JSON header | arrays as little-endian
//   float64, in the header's order | u32 CRC-32 of everything before it
// A file that is short, long, or fails its CRC is refused, never read.
//
// The checkpoint loader — what a fuzzer should drive — is
// read_checkpoint_state(path, shape): the container checks of
// read_checkpoint, then every header field and array validated, with no
// TrainBackend needed. Anything wrong is an InputError naming the file.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "taylorscope/training.hpp"

namespace taylorscope {

// The container: a JSON header and named float64 arrays.
struct Checkpoint {
  nlohmann::json header;  // everything but the arrays
  std::vector<std::pair<std::string, std::vector<double>>> arrays;
  const std::vector<double>& array(const std::string& name) const;  // throws InputError if absent
};

void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Throws InputError naming the path and what is wrong (a directory, bad
// magic, CRC, lengths); says nothing yet about what the header holds.
Checkpoint read_checkpoint(const std::string& path);
// The same on a checkpoint's bytes (read by one rank and broadcast to the
// others); `path` names them in the messages.
std::string read_checkpoint_bytes(const std::string& path);
Checkpoint parse_checkpoint(const std::string& bytes, const std::string& path);

// What a trainer's checkpoint holds (header version kCheckpointVersion).
struct CheckpointState {
  nlohmann::json identity;           // the settings that must match to resume (an object)
  int64_t step = 0;                  // optimizer steps taken, ≥ 0
  std::vector<EpochRecord> records;  // epochs 0, 1, …, n in order; every number finite
  int chosen_epoch = 0;              // one of the records' epochs: best/'s θ
  bool stopped_early = false;        // the early-stopping rule fired
  std::vector<double> theta, best_theta;
  // The optimizer's arrays (train_backend.hpp's OptimizerState), in file order.
  std::vector<std::pair<std::string, std::vector<double>>> optimizer_arrays;
};
// 2: the identity is training_settings' shape (issue 10); a version-1
// checkpoint is refused as another build's instead of by a confusing key.
constexpr int kCheckpointVersion = 2;

// What the model at hand expects; a negative count or an empty list checks nothing.
struct CheckpointShape {
  int64_t param_count = -1;  // sizes of theta and best_theta
  // Arrays the optimizer needs, each present with exactly this size.
  std::vector<std::pair<std::string, size_t>> optimizer_arrays;
};

void write_checkpoint_state(const std::string& path, const CheckpointState& state);

// Reads and validates: version; identity an object; step an integer ≥ 0;
// records a non-empty array of 9-number arrays whose epochs are 0, 1, …
// (at most INT_MAX − 1, so the next epoch is an int) and whose numbers are
// finite; chosen_epoch among them; stopped_early a boolean; theta and
// best_theta (of param_count values) and every array finite and unique by
// name; the expected optimizer arrays present with their sizes. Throws
// InputError "PATH: what; refusing to resume from it".
CheckpointState read_checkpoint_state(const std::string& path, const CheckpointShape& shape);
CheckpointState parse_checkpoint_state(const std::string& bytes, const std::string& path, const CheckpointShape& shape);

// The sizes part of that validation alone (a trainer first says which
// setting changed, then whether the arrays fit).
void check_checkpoint_shape(const CheckpointState& state, const CheckpointShape& shape, const std::string& path);

}  // namespace taylorscope
