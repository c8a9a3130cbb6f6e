#include "training/checkpoint.hpp"

#include <zlib.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include "taylorscope/atomic_file.hpp"
#include "taylorscope/errors.hpp"

namespace taylorscope {
namespace {

static_assert(std::endian::native == std::endian::little, "checkpoints are little-endian");
constexpr char kMagic[8] = {'T', 'S', 'C', 'K', 'P', 'T', '1', '\n'};

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

uint32_t crc_of(const std::string& bytes, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < n) {  // zlib takes uInt lengths
    const uInt part = static_cast<uInt>(std::min<size_t>(n - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), part);
    done += part;
  }
  return static_cast<uint32_t>(crc);
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

Checkpoint read_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open checkpoint");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto fail = [&](const std::string& what) -> void {
    throw InputError(path + ": " + what + "; refusing to resume from it");
  };
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
  try {
    ck.header = nlohmann::json::parse(bytes.substr(pos, length));
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("unreadable header: ") + e.what());
  }
  pos += length;
  try {
    for (const auto& a : ck.header.at("arrays")) {
      const size_t n = a.at("size").get<size_t>();
      if (n > (bytes.size() - 4 - pos) / sizeof(double)) fail("array data past the end of the file");
      std::vector<double> values(n);
      std::memcpy(values.data(), bytes.data() + pos, n * sizeof(double));
      pos += n * sizeof(double);
      ck.arrays.emplace_back(a.at("name").get<std::string>(), std::move(values));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("malformed header: ") + e.what());
  }
  if (pos != bytes.size() - 4) fail("trailing bytes after the arrays");
  return ck;
}

}  // namespace taylorscope
