#include "training/checkpoint.hpp"

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "taylorscope/atomic_file.hpp"
#include "taylorscope/checksum.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/finite_values.hpp"

namespace taylorscope {
namespace {

static_assert(std::endian::native == std::endian::little, "checkpoints are little-endian");
constexpr char kMagic[8] = {'T', 'S', 'C', 'K', 'P', 'T', '1', '\n'};
constexpr size_t kRecordFields = 9;  // EpochRecord, in record_json's order

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

uint32_t crc_of(const std::string& bytes, size_t n) { return crc32_of(bytes.data(), n); }

[[noreturn]] void refuse(const std::string& path, const std::string& what) {
  throw InputError(path + ": " + what + "; refusing to resume from it");
}

std::string read_all(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) refuse(path, "is a directory, not a checkpoint file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open checkpoint");
  try {
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  } catch (const std::exception&) {  // libstdc++ reports a failed read(2) by throwing
    throw std::runtime_error(path + ": reading the checkpoint failed");
  }
}

nlohmann::json record_json(const EpochRecord& r) {
  return {r.epoch,    r.train_loss, r.train_acc, r.eval_loss,   r.eval_acc,
          r.grad_dot, r.lr,         r.seconds,   r.step_seconds};
}

// JSON integers only (a 1.5 or a "1" is not one), as int64.
bool as_integer(const nlohmann::json& j, int64_t* out) {
  if (j.is_number_unsigned()) {
    const uint64_t u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (!j.is_number_integer()) return false;
  *out = j.get<int64_t>();
  return true;
}

// Record i of the header: [epoch, 8 finite numbers], epoch == i. NaN and
// Inf were written as JSON null by older builds; they are refused here.
EpochRecord record_from_json(const nlohmann::json& j, size_t i, const std::string& path) {
  const std::string which = "record " + std::to_string(i);
  if (!j.is_array() || j.size() != kRecordFields)
    refuse(path, which + " is not an array of " + std::to_string(kRecordFields) + " numbers");
  int64_t epoch = 0;
  if (!as_integer(j[0], &epoch)) refuse(path, which + ": the epoch is not an integer");
  if (epoch != static_cast<int64_t>(i))
    refuse(path, which + " has epoch " + std::to_string(epoch) + "; epochs must run 0, 1, 2, … without gaps");
  if (epoch > INT_MAX - 1) refuse(path, which + ": epoch " + std::to_string(epoch) + " is too large");
  double v[kRecordFields];
  for (size_t k = 1; k < kRecordFields; ++k) {
    if (!j[k].is_number())
      refuse(path, which + " holds " + (j[k].is_null() ? "null (a NaN or Inf was saved)" : "a value that is not a number"));
    v[k] = j[k].get<double>();
    if (!std::isfinite(v[k])) refuse(path, which + " holds a non-finite number");
  }
  EpochRecord r;
  r.epoch = static_cast<int>(epoch);
  r.train_loss = v[1];
  r.train_acc = v[2];
  r.eval_loss = v[3];
  r.eval_acc = v[4];
  r.grad_dot = v[5];
  r.lr = v[6];
  r.seconds = v[7];
  r.step_seconds = v[8];
  return r;
}

const nlohmann::json& field(const nlohmann::json& header, const char* key, const std::string& path) {
  const auto it = header.find(key);
  if (it == header.end()) refuse(path, std::string("the header has no '") + key + "'");
  return *it;
}

}  // namespace

const std::vector<double>& Checkpoint::array(const std::string& name) const {
  for (const auto& [key, values] : arrays)
    if (key == name) return values;
  throw InputError("checkpoint has no array '" + name + "'");
}

void write_checkpoint(const std::string& path, const Checkpoint& ck) {
  nlohmann::json header = ck.header;
  header["arrays"] = nlohmann::json::array();
  for (const auto& [name, values] : ck.arrays)
    header["arrays"].push_back({{"name", name}, {"size", values.size()}});
  const std::string text = header.dump();
  std::string out(kMagic, sizeof kMagic);
  put<uint64_t>(out, text.size());
  out += text;
  for (const auto& [name, values] : ck.arrays)
    out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
  put<uint32_t>(out, crc_of(out, out.size()));
  write_file_atomically(path, out);
}

std::string read_checkpoint_bytes(const std::string& path) { return read_all(path); }

Checkpoint read_checkpoint(const std::string& path) { return parse_checkpoint(read_all(path), path); }

Checkpoint parse_checkpoint(const std::string& bytes, const std::string& path) {
  auto fail = [&](const std::string& what) { refuse(path, what); };
  if (bytes.size() < sizeof kMagic + 8 + 4 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    fail("not a taylorscope checkpoint (bad magic or too short)");
  uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
  if (crc_of(bytes, bytes.size() - 4) != stored) fail("checksum mismatch: the file is truncated or corrupt");
  uint64_t length = 0;
  std::memcpy(&length, bytes.data() + sizeof kMagic, 8);
  size_t pos = sizeof kMagic + 8;
  if (length > bytes.size() - pos - 4) fail("header length past the end of the file");
  Checkpoint ck;
  // The parser's own messages name its internals, not the file: ours do.
  ck.header = nlohmann::json::parse(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                                    bytes.begin() + static_cast<std::ptrdiff_t>(pos + length), nullptr,
                                    /*allow_exceptions=*/false);
  if (ck.header.is_discarded() || !ck.header.is_object()) fail("the header is not a JSON object");
  pos += length;
  const auto list = ck.header.find("arrays");
  if (list == ck.header.end() || !list->is_array()) fail("the header has no list of arrays");
  for (const auto& a : *list) {
    if (!a.is_object() || !a.contains("name") || !a["name"].is_string() || !a.contains("size") ||
        !a["size"].is_number_unsigned())
      fail("an entry of the header's array list lacks a name or a size");
    // Names are shown in later refusals, which are one line: the engine's
    // own are short printable ASCII, and nothing else is a name of ours.
    const std::string& name = a["name"].get_ref<const std::string&>();
    if (name.empty() || name.size() > 64 ||
        !std::all_of(name.begin(), name.end(), [](char ch) { return ch >= 0x20 && ch < 0x7F; }))
      fail("an array name is empty, longer than 64 characters or not printable ASCII");
    const uint64_t n = a["size"].get<uint64_t>();
    if (n > (bytes.size() - 4 - pos) / sizeof(double)) fail("array data past the end of the file");
    std::vector<double> values(n);
    if (n > 0) std::memcpy(values.data(), bytes.data() + pos, n * sizeof(double));  // data() may be null
    pos += n * sizeof(double);
    ck.arrays.emplace_back(name, std::move(values));
  }
  if (pos != bytes.size() - 4) fail("trailing bytes after the arrays");
  return ck;
}

void write_checkpoint_state(const std::string& path, const CheckpointState& s) {
  Checkpoint ck;
  ck.header = {{"version", kCheckpointVersion},
               {"identity", s.identity},
               {"step", s.step},
               {"chosen_epoch", s.chosen_epoch},
               {"stopped_early", s.stopped_early},
               {"records", nlohmann::json::array()}};
  for (const EpochRecord& rec : s.records) ck.header["records"].push_back(record_json(rec));
  ck.arrays.emplace_back("theta", s.theta);
  ck.arrays.emplace_back("best_theta", s.best_theta);
  for (const auto& a : s.optimizer_arrays) ck.arrays.push_back(a);
  write_checkpoint(path, ck);
}

CheckpointState read_checkpoint_state(const std::string& path, const CheckpointShape& shape) {
  return parse_checkpoint_state(read_all(path), path, shape);
}

CheckpointState parse_checkpoint_state(const std::string& bytes, const std::string& path, const CheckpointShape& shape) {
  Checkpoint ck = parse_checkpoint(bytes, path);
  const nlohmann::json& h = ck.header;
  CheckpointState s;

  int64_t version = 0;
  if (!as_integer(field(h, "version", path), &version) || version != kCheckpointVersion)
    refuse(path, "checkpoint version " + field(h, "version", path).dump() + " is not this build's (" +
                     std::to_string(kCheckpointVersion) + ")");
  s.identity = field(h, "identity", path);
  if (!s.identity.is_object()) refuse(path, "the header's 'identity' is not an object");
  if (!as_integer(field(h, "step", path), &s.step) || s.step < 0)
    refuse(path, "'step' must be an integer ≥ 0, found " + field(h, "step", path).dump());

  const nlohmann::json& records = field(h, "records", path);
  if (!records.is_array() || records.empty()) refuse(path, "'records' must be a non-empty array of epochs");
  for (size_t i = 0; i < records.size(); ++i) s.records.push_back(record_from_json(records[i], i, path));

  int64_t chosen = 0;
  if (!as_integer(field(h, "chosen_epoch", path), &chosen) || chosen < 0 || chosen > s.records.back().epoch)
    refuse(path, "'chosen_epoch' " + field(h, "chosen_epoch", path).dump() + " is not one of the recorded epochs 0.." +
                     std::to_string(s.records.back().epoch));
  s.chosen_epoch = static_cast<int>(chosen);
  if (!field(h, "stopped_early", path).is_boolean()) refuse(path, "'stopped_early' is not true or false");
  s.stopped_early = field(h, "stopped_early", path).get<bool>();

  std::set<std::string> names;
  for (auto& [name, values] : ck.arrays) {
    if (!names.insert(name).second) refuse(path, "array '" + name + "' appears twice");
    require_finite(values, path, "array '" + name + "'");
    if (name == "theta")
      s.theta = std::move(values);
    else if (name == "best_theta")
      s.best_theta = std::move(values);
    else
      s.optimizer_arrays.emplace_back(name, std::move(values));
  }
  for (const char* name : {"theta", "best_theta"})
    if (!names.count(name)) refuse(path, std::string("the checkpoint has no '") + name + "'");
  check_checkpoint_shape(s, shape, path);
  return s;
}

void check_checkpoint_shape(const CheckpointState& s, const CheckpointShape& shape, const std::string& path) {
  for (const char* name : {"theta", "best_theta"}) {
    const size_t n = std::string(name) == "theta" ? s.theta.size() : s.best_theta.size();
    if (shape.param_count >= 0 && n != static_cast<size_t>(shape.param_count))
      refuse(path, std::string("'") + name + "' holds " + std::to_string(n) + " values; the model has " +
                       std::to_string(shape.param_count) + " parameters");
  }
  for (const auto& [name, size] : shape.optimizer_arrays) {
    const std::vector<double>* found = nullptr;
    for (const auto& a : s.optimizer_arrays)
      if (a.first == name) found = &a.second;
    if (!found) refuse(path, "the optimizer's array '" + name + "' is missing");
    if (found->size() != size)
      refuse(path, "the optimizer's array '" + name + "' holds " + std::to_string(found->size()) + " values, not " +
                       std::to_string(size));
  }
}

}  // namespace taylorscope
