// NumPy .npy reader and writer. The header is a Python dict literal; we parse
// it with a small tokenizer instead of pattern matching because files written
// by numpy, PyTorch, JAX and hand-rolled exporters differ in key order,
// spacing and trailing commas. Numbers are decoded byte by byte, so the
// on-disk order (always little-endian here) is independent of the host.
#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "taylorscope/atomic_file.hpp"
#include "taylorscope/checked_size.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/npy.hpp"

namespace taylorscope {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// numpy itself refuses headers beyond 10 kB by default; 1 MiB leaves room for
// odd exporters while still catching a length field that is garbage.
constexpr uint32_t kMaxHeader = 1u << 20;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError(path + ": " + what);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// Header text shown in a message: a refusal is one line, so control bytes
// and non-ASCII bytes are shown as \xNN, and anything long is cut.
std::string shown(const std::string& text) {
  constexpr size_t kMax = 80;
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) out += static_cast<char>(c);
    else out += std::string("\\x") + hex[c >> 4] + hex[c & 0xF];
  }
  if (text.size() > kMax) out += "…";
  return out;
}

// --- header dict ------------------------------------------------------------

struct HeaderValue {
  enum Kind { kString, kBool, kTuple, kOther } kind = kOther;
  std::string text;  // the string, or the raw source for kOther
  bool flag = false;
  std::vector<int64_t> tuple;
};

class DictParser {
 public:
  DictParser(const std::string& src, const std::string& path) : s_(src), path_(path) {}

  std::vector<std::pair<std::string, HeaderValue>> parse() {
    std::vector<std::pair<std::string, HeaderValue>> items;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') { ++i_; break; }
      if (peek() != '\'' && peek() != '"') bad("expected a quoted key");
      std::string key = parse_string();
      skip_space();
      expect(':');
      skip_space();
      items.emplace_back(std::move(key), parse_value());
      skip_space();
      if (peek() == ',') { ++i_; continue; }
      if (peek() == '}') { ++i_; break; }
      bad("expected ',' or '}'");
    }
    skip_space();
    if (i_ != s_.size()) bad("unexpected text after '}'");
    return items;
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  [[noreturn]] void bad(const std::string& what) const {
    fail(path_, "malformed npy header (" + what + " at offset " + std::to_string(i_) + ")");
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string parse_string() {
    const char quote = s_[i_++];
    std::string out;
    while (i_ < s_.size() && s_[i_] != quote) {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
      out += s_[i_++];
    }
    if (i_ >= s_.size()) bad("unterminated string");
    ++i_;
    return out;
  }
  int64_t parse_int() {
    if (!std::isdigit(static_cast<unsigned char>(peek()))) bad("expected a non-negative integer");
    int64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      const int d = s_[i_++] - '0';
      if (v > (INT64_MAX - d) / 10) bad("dimension too large");
      v = v * 10 + d;
    }
    if (peek() == 'L' || peek() == 'l') ++i_;  // Python 2 longs in old files
    return v;
  }
  HeaderValue parse_value() {
    HeaderValue v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = HeaderValue::kString;
      v.text = parse_string();
    } else if (s_.compare(i_, 4, "True") == 0) {
      v.kind = HeaderValue::kBool;
      v.flag = true;
      i_ += 4;
    } else if (s_.compare(i_, 5, "False") == 0) {
      v.kind = HeaderValue::kBool;
      i_ += 5;
    } else if (c == '(') {
      v.kind = HeaderValue::kTuple;
      ++i_;
      for (;;) {
        skip_space();
        if (peek() == ')') { ++i_; break; }
        v.tuple.push_back(parse_int());
        skip_space();
        if (peek() == ',') { ++i_; continue; }
        if (peek() == ')') { ++i_; break; }
        bad("expected ',' or ')' in a tuple");
      }
    } else if (c == '[' || c == '{') {
      // Structured dtypes ('descr': [...]) and anything nested: keep the raw
      // text so the refusal can show it.
      const size_t start = i_;
      int depth = 0;
      do {
        const char ch = peek();
        if (ch == '\0') bad("unbalanced brackets");
        if (ch == '\'' || ch == '"') { parse_string(); continue; }
        if (ch == '[' || ch == '{' || ch == '(') ++depth;
        if (ch == ']' || ch == '}' || ch == ')') --depth;
        ++i_;
      } while (depth > 0);
      v.text = s_.substr(start, i_ - start);
    } else {
      const size_t start = i_;
      while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}') ++i_;
      v.text = s_.substr(start, i_ - start);
      while (!v.text.empty() && v.text.back() == ' ') v.text.pop_back();
    }
    return v;
  }

  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;
};

// --- dtype ------------------------------------------------------------------

struct Dtype {
  char kind = 0;  // 'f', 'i', 'u', or 0 when not a plain numeric dtype
  int size = 0;
  bool big_endian = false;
};

Dtype parse_descr(const std::string& d) {
  Dtype t;
  if (d.size() < 3) return t;
  const char order = d[0];
  if (order != '<' && order != '>' && order != '=' && order != '|') return t;
  const std::string digits = d.substr(2);
  if (digits.empty() || digits.size() > 2 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return t;
  t.kind = d[1];
  t.size = std::stoi(digits);
  // Byte order only matters for multi-byte types; '=' means the writer's
  // native order, which we can only take to be ours.
  const bool native_big = std::endian::native == std::endian::big;
  t.big_endian = t.size > 1 && (order == '>' || (order == '=' && native_big));
  if (t.size > 1 && order == '|') t.kind = 0;  // '|' is "not applicable": only bytes
  return t;
}

uint64_t load_le(const unsigned char* p, int size) {
  uint64_t v = 0;
  for (int k = size - 1; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

// --- the file ---------------------------------------------------------------

struct NpyFile {
  std::ifstream in;
  std::vector<int64_t> shape;
  std::string descr;
  Dtype dtype;
  uint64_t count = 1;
  uint64_t data_bytes = 0;
  uint64_t reserve = 0;  // how many values the file has shown it holds
};

// Opens PATH, validates everything up to and including the data size, and
// leaves the stream at the first data byte. `accepts` decides the dtype.
template <typename Accepts>
NpyFile open_npy(const std::string& path, Accepts accepts, const char* wanted) {
  NpyFile f;
  std::error_code dir_ec;
  if (std::filesystem::is_directory(path, dir_ec)) fail(path, "cannot open: is a directory");
  f.in.open(path, std::ios::binary);
  if (!f.in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) fail(path, "cannot open: no such file");
    fail(path, "cannot open: " + std::string(std::strerror(errno)));
  }
  unsigned char pre[kMagicLen + 2] = {};
  f.in.read(reinterpret_cast<char*>(pre), sizeof pre);
  const size_t got = static_cast<size_t>(f.in.gcount());
  if (got < kMagicLen || std::memcmp(pre, kMagic, kMagicLen) != 0)
    fail(path, "not an npy file (bad magic; an npy file starts with \\x93NUMPY)");
  if (got < sizeof pre) fail(path, "truncated header (no version bytes)");
  const int major = pre[6], minor = pre[7];
  if (!((major == 1 || major == 2 || major == 3) && minor == 0))
    fail(path, "unsupported npy format version " + std::to_string(major) + "." +
                   std::to_string(minor) + " (1.0, 2.0 and 3.0 are read)");
  const int len_bytes = major == 1 ? 2 : 4;
  unsigned char len_buf[4] = {};
  f.in.read(reinterpret_cast<char*>(len_buf), len_bytes);
  if (f.in.gcount() != len_bytes) fail(path, "truncated header (no header length)");
  const uint64_t header_len = load_le(len_buf, len_bytes);
  if (header_len > kMaxHeader)
    fail(path, "npy header length " + std::to_string(header_len) + " is implausible");
  std::string header(static_cast<size_t>(header_len), '\0');
  f.in.read(header.data(), static_cast<std::streamsize>(header_len));
  if (static_cast<uint64_t>(f.in.gcount()) != header_len)
    fail(path, "truncated header: expected " + std::to_string(header_len) + " bytes, got " +
                   std::to_string(f.in.gcount()));
  const uint64_t data_offset = kMagicLen + 2 + static_cast<uint64_t>(len_bytes) + header_len;

  std::optional<HeaderValue> descr, fortran, shape;
  for (auto& [key, value] : DictParser(header, path).parse()) {
    if (key == "descr") descr = value;
    else if (key == "fortran_order") fortran = value;
    else if (key == "shape") shape = value;
  }
  if (!descr || !fortran || !shape)
    fail(path, std::string("malformed npy header (missing '") +
                   (!descr ? "descr" : !fortran ? "fortran_order" : "shape") + "')");
  if (fortran->kind != HeaderValue::kBool || shape->kind != HeaderValue::kTuple)
    fail(path, "malformed npy header ('fortran_order' must be True/False, 'shape' a tuple)");
  if (fortran->flag) fail(path, "array is in Fortran order; save with numpy.ascontiguousarray");
  f.descr = descr->text;
  if (descr->kind != HeaderValue::kString)
    fail(path, "unsupported dtype " + shown(descr->text) +
                   (descr->text.rfind('[', 0) == 0 ? " (structured)" : " (not a dtype string)") +
                   "; expected " + wanted);
  f.dtype = parse_descr(f.descr);
  if (f.dtype.kind != 0 && f.dtype.big_endian && accepts(Dtype{f.dtype.kind, f.dtype.size, false}))
    fail(path, "big-endian dtype '" + shown(f.descr) + "'; save little-endian, e.g. arr.astype('<" +
                   shown(f.descr.substr(1)) + "')");
  if (f.dtype.kind == 0 || f.dtype.big_endian || !accepts(f.dtype))
    fail(path, "unsupported dtype '" + shown(f.descr) + "'; expected " + wanted);

  // Beyond 2^40 bytes a shape is corruption, not data. Zero extents are left
  // out of the product (see checked_size.hpp): (0, 2^62, 2^62) holds nothing,
  // but the size of one of its rows does not fit in int64.
  f.shape = shape->tuple;
  const auto extent = nonzero_extent_product(
      f.shape, (uint64_t(1) << 40) / static_cast<uint64_t>(f.dtype.size));
  if (!extent) fail(path, "absurd shape " + shape_text(f.shape) + " in the npy header (more than 2^40 bytes)");
  f.count = std::find(f.shape.begin(), f.shape.end(), 0) != f.shape.end() ? 0 : *extent;
  f.data_bytes = f.count * static_cast<uint64_t>(f.dtype.size);

  // Compare sizes before reading: a short file is truncated, a long one means
  // the header does not describe the payload, and either way nothing loads.
  std::error_code ec;
  const auto file_bytes = std::filesystem::file_size(path, ec);
  if (!ec) {
    const uint64_t have = file_bytes >= data_offset ? file_bytes - data_offset : 0;
    if (have < f.data_bytes)
      fail(path, "truncated data: expected " + std::to_string(f.data_bytes) + " bytes for shape " +
                     shape_text(f.shape) + " '" + f.descr + "', got " + std::to_string(have));
    if (have > f.data_bytes)
      fail(path, "file is longer than its header says: expected " + std::to_string(f.data_bytes) +
                     " bytes of data for shape " + shape_text(f.shape) + " '" + f.descr +
                     "', found " + std::to_string(have));
    f.reserve = f.count;
  }
  return f;
}

// Streams the data in chunks, handing each element's bytes to `put`.
template <typename Put>
void read_elements(NpyFile& f, const std::string& path, Put put) {
  const size_t esize = static_cast<size_t>(f.dtype.size);
  std::vector<unsigned char> chunk(
      static_cast<size_t>(std::min<uint64_t>(f.data_bytes, (uint64_t(1) << 20) / esize * esize)));
  uint64_t done = 0;
  while (done < f.data_bytes) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk.size(), f.data_bytes - done));
    f.in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(want));
    const size_t got = static_cast<size_t>(f.in.gcount());
    for (size_t k = 0; k + esize <= got; k += esize) put(&chunk[k]);
    done += got;
    if (got < want)
      fail(path, "truncated data: expected " + std::to_string(f.data_bytes) + " bytes for shape " +
                     shape_text(f.shape) + " '" + f.descr + "', got " + std::to_string(done));
  }
  // Only reached for streams whose size was not known up front (pipes).
  if (f.in.peek() != std::ifstream::traits_type::eof())
    fail(path, "file is longer than its header says: expected " + std::to_string(f.data_bytes) +
                   " bytes of data for shape " + shape_text(f.shape) + " '" + f.descr + "'");
}

bool is_float(const Dtype& t) { return t.kind == 'f' && (t.size == 4 || t.size == 8); }
bool is_integer(const Dtype& t) {
  return (t.kind == 'i' || t.kind == 'u') &&
         (t.size == 1 || t.size == 2 || t.size == 4 || t.size == 8);
}

void append_le(std::string& out, uint64_t bits, int size) {
  for (int k = 0; k < size; ++k) out += static_cast<char>((bits >> (8 * k)) & 0xFF);
}

}  // namespace

int64_t NpyArray::size() const {
  // The readers only return shapes whose product fits (open_npy); a shape set
  // by hand that does not is an error of the caller's, not a size.
  uint64_t n = 1;
  for (int64_t d : shape) {
    const auto next = d < 0 ? std::nullopt : checked_mul(n, static_cast<uint64_t>(d), INT64_MAX);
    if (!next) throw std::length_error("npy shape " + shape_text(shape) + " has no int64 size");
    n = *next;
  }
  return static_cast<int64_t>(n);
}

NpyArray read_npy_floats(const std::string& path) {
  NpyFile f = open_npy(path, is_float, "'<f4' or '<f8'");
  NpyArray out;
  out.shape = f.shape;
  out.descr = f.descr;
  out.values.reserve(static_cast<size_t>(f.reserve));
  const bool f32 = f.dtype.size == 4;
  read_elements(f, path, [&](const unsigned char* p) {
    const uint64_t bits = load_le(p, f.dtype.size);
    out.values.push_back(f32 ? static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(bits)))
                             : std::bit_cast<double>(bits));
  });
  return out;
}

std::vector<int64_t> read_npy_integers(const std::string& path, std::vector<int64_t>* shape) {
  NpyFile f = open_npy(path, is_integer, "an integer dtype (i1 u1 i2 u2 i4 u4 i8 u8)");
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(f.reserve));
  const int size = f.dtype.size;
  const bool is_signed = f.dtype.kind == 'i';
  read_elements(f, path, [&](const unsigned char* p) {
    const uint64_t bits = load_le(p, size);
    if (is_signed) {
      // Sign-extend from `size` bytes.
      const int shift = 64 - 8 * size;
      out.push_back(static_cast<int64_t>(bits << shift) >> shift);
    } else {
      if (bits > static_cast<uint64_t>(INT64_MAX))
        fail(path, "value " + std::to_string(bits) + " at index " + std::to_string(out.size()) +
                       " does not fit in int64");
      out.push_back(static_cast<int64_t>(bits));
    }
  });
  if (shape) *shape = f.shape;
  return out;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape,
               const std::vector<double>& values, NpyPrecision precision) {
  uint64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::runtime_error(path + ": cannot write a negative dimension");
    // A wrapped product could match values.size() and write a header that lies.
    const auto next = checked_mul(count, static_cast<uint64_t>(d));
    if (!next) throw std::runtime_error(path + ": shape " + shape_text(shape) + " overflows");
    count = *next;
  }
  if (count != values.size())
    throw std::runtime_error(path + ": shape " + shape_text(shape) + " holds " +
                             std::to_string(count) + " values, given " +
                             std::to_string(values.size()));
  const bool f32 = precision == NpyPrecision::f32;
  std::string dict = std::string("{'descr': '") + (f32 ? "<f4" : "<f8") +
                     "', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  // numpy pads with spaces and a final newline so the data starts on a
  // 64-byte boundary (aligned, memory-mappable); version 2.0 only when the
  // header outgrows the 16-bit length field.
  const bool v2 = dict.size() + 1 + kMagicLen + 4 > 65535;
  const size_t prefix = kMagicLen + 2 + (v2 ? 4 : 2);
  const size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';

  const int esize = f32 ? 4 : 8;
  std::string bytes;
  bytes.reserve(total + values.size() * static_cast<size_t>(esize));
  bytes.append(kMagic, kMagicLen);
  bytes += static_cast<char>(v2 ? 2 : 1);
  bytes += '\0';
  append_le(bytes, dict.size(), v2 ? 4 : 2);
  bytes += dict;
  for (double v : values) {
    if (f32) append_le(bytes, std::bit_cast<uint32_t>(static_cast<float>(v)), 4);
    else append_le(bytes, std::bit_cast<uint64_t>(v), 8);
  }
  write_file_atomically(path, bytes);
}

}  // namespace taylorscope
