// The training checkpoint: one file, written atomically (atomic_file.hpp),
// so a crash leaves the previous checkpoint or the new one, never half of
// one. Layout:
//   "TSCKPT1\n" | u64 header length | JSON header | arrays as little-endian
//   float64, in the header's order | u32 CRC-32 of everything before it
// A file that is short, long, or fails its CRC is refused, never read.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace taylorscope {

struct Checkpoint {
  nlohmann::json header;  // everything but the arrays
  std::vector<std::pair<std::string, std::vector<double>>> arrays;
  const std::vector<double>& array(const std::string& name) const;  // throws InputError if absent
};

void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Throws InputError naming the path and what is wrong.
Checkpoint read_checkpoint(const std::string& path);

}  // namespace taylorscope
