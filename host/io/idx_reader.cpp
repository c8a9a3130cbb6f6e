// IDX reader. Everything goes through zlib's gz* calls, which pass plain files
// through unchanged, so one code path serves `foo-ubyte` and `foo-ubyte.gz`.
// The data is read and converted in chunks: a header that claims more data
// than the file holds is caught as truncation, never trusted with an
// allocation of the claimed size.
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "taylorscope/checked_size.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/idx.hpp"

namespace taylorscope {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError(path + ": " + what);
}

// zlib prefixes its messages with the path it was opened with; ours already
// start with the path, so drop the repeat.
std::string zlib_message(gzFile f, const std::string& path, int* errnum) {
  const char* raw = gzerror(f, errnum);
  std::string msg = raw ? raw : "unknown zlib error";
  if (msg.rfind(path + ": ", 0) == 0) msg.erase(0, path.size() + 2);
  return msg;
}

// Reads up to n bytes; returns how many arrived. A short count is either the
// end of the stream or a gzip problem, which the caller tells apart with
// stream_problem().
size_t read_some(gzFile f, unsigned char* buf, size_t n, const std::string& path) {
  size_t got = 0;
  while (got < n) {
    const unsigned ask = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 20));
    const int r = gzread(f, buf + got, ask);
    if (r < 0) {
      int errnum = 0;
      const std::string text = zlib_message(f, path, &errnum);
      fail(path, (errnum == Z_ERRNO ? "read error: " : "corrupt gzip stream: ") + text);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

// After a short read, zlib reports Z_BUF_ERROR when the compressed stream
// itself was cut off (as opposed to a complete stream holding too little).
std::string stream_problem(gzFile f, const std::string& path) {
  int errnum = Z_OK;
  const std::string msg = zlib_message(f, path, &errnum);
  if (errnum == Z_OK) return "";
  return " (gzip stream: " + msg + ")";
}

uint32_t be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

int element_size(int type_code) {
  switch (type_code) {
    case 0x08: return 1;  // unsigned byte
    case 0x09: return 1;  // signed byte
    case 0x0B: return 2;  // int16
    case 0x0C: return 4;  // int32
    case 0x0D: return 4;  // float32
    case 0x0E: return 8;  // float64
    default: return 0;
  }
}

double element_value(int type_code, const unsigned char* p) {
  switch (type_code) {
    case 0x08: return p[0];
    case 0x09: return static_cast<int8_t>(p[0]);
    case 0x0B: return static_cast<int16_t>(uint16_t((uint16_t(p[0]) << 8) | p[1]));
    case 0x0C: return static_cast<int32_t>(be32(p));
    case 0x0D: return std::bit_cast<float>(be32(p));
    default: {
      const uint64_t bits = (uint64_t(be32(p)) << 32) | be32(p + 4);
      return std::bit_cast<double>(bits);
    }
  }
}

std::string hex(uint32_t v, int digits) {
  static const char* d = "0123456789ABCDEF";
  std::string s(digits, '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[i] = d[v & 0xF];
  return "0x" + s;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  errno = 0;
  GzFile file(gzopen(path.c_str(), "rb"));
  if (!file) {
    const std::string why = errno ? std::strerror(errno) : "out of memory";
    fail(path, "cannot open: " + why);
  }
  gzFile f = file.get();

  unsigned char magic[4];
  const size_t got_magic = read_some(f, magic, 4, path);
  if (got_magic < 4)
    fail(path, "truncated header: " + std::to_string(got_magic) +
                   " of 4 magic bytes" + stream_problem(f, path));
  // The first two bytes are always zero in IDX; anything else means this is
  // not an IDX file at all (e.g. a gzip file compressed twice, or an npy).
  if (magic[0] != 0 || magic[1] != 0)
    fail(path, "bad magic " + hex(be32(magic), 8) +
                   " (an IDX file starts 0x0000TTDD); not an IDX file");
  IdxArray out;
  out.type_code = magic[2];
  const int ndim = magic[3];
  const int esize = element_size(out.type_code);
  if (esize == 0)
    fail(path, "unsupported IDX type code " + hex(magic[2], 2) +
                   " (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)");
  if (ndim == 0) fail(path, "IDX header declares no dimensions");

  std::vector<unsigned char> dim_bytes(4 * static_cast<size_t>(ndim));
  const size_t got_dims = read_some(f, dim_bytes.data(), dim_bytes.size(), path);
  if (got_dims < dim_bytes.size())
    fail(path, "truncated header: expected " + std::to_string(ndim) + " dimensions (" +
                   std::to_string(dim_bytes.size()) + " bytes), got " +
                   std::to_string(got_dims) + " bytes" + stream_problem(f, path));

  // Dimensions are 32-bit unsigned each and their product can overflow. A
  // product beyond 2^40 bytes is corruption, not a data set; zero extents are
  // left out of the product, so 0 × 2^32 × 2^32 is refused too (callers take
  // products of the trailing dimensions, and one row of 2^64 values is no
  // data set either).
  constexpr uint64_t max_bytes = uint64_t(1) << 40;
  std::string dims_text;
  for (int i = 0; i < ndim; ++i) {
    const uint64_t d = be32(&dim_bytes[4 * static_cast<size_t>(i)]);
    out.dims.push_back(static_cast<int64_t>(d));
    dims_text += (i ? "×" : "") + std::to_string(d);
  }
  const auto extent = nonzero_extent_product(out.dims, max_bytes / static_cast<uint64_t>(esize));
  if (!extent)
    fail(path, "absurd dimensions " + dims_text + " in the IDX header (more than 2^40 bytes)");
  const bool empty = std::find(out.dims.begin(), out.dims.end(), 0) != out.dims.end();
  const uint64_t count = empty ? 0 : *extent;
  const uint64_t expected = count * static_cast<uint64_t>(esize);

  // The bytes are collected first (growing as they arrive) and converted once
  // all of them did, so a header that claims more than the file holds costs
  // only what the file really holds; the byte buffer is 1/8 of the doubles at
  // worst, and the doubles are allocated once, at their final size.
  std::vector<unsigned char> data;
  constexpr size_t kChunk = size_t(1) << 20;
  while (data.size() < expected) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, expected - data.size()));
    const size_t before = data.size();
    data.resize(before + want);
    const size_t got = read_some(f, data.data() + before, want, path);
    data.resize(before + got);
    if (got < want)
      fail(path, "truncated data: expected " + std::to_string(expected) +
                     " bytes for dimensions " + dims_text + ", got " + std::to_string(data.size()) +
                     stream_problem(f, path));
  }
  // Extra bytes mean the header and the payload disagree; trusting either is a
  // guess, so refuse rather than load something half-right.
  unsigned char extra[1];
  if (read_some(f, extra, 1, path) != 0)
    fail(path, "longer than its header says: data for " + dims_text + " is " +
                   std::to_string(expected) + " bytes, but more follows");
  // All data arrived, but the gzip trailer (CRC, length) may still be bad or
  // cut off; either way the bytes cannot be vouched for.
  int errnum = Z_OK;
  const std::string msg = zlib_message(f, path, &errnum);
  if (errnum == Z_BUF_ERROR) fail(path, "truncated gzip stream: " + msg);
  if (errnum != Z_OK) fail(path, "corrupt gzip stream: " + msg);

  out.values.resize(static_cast<size_t>(count));
  for (size_t k = 0; k < out.values.size(); ++k)
    out.values[k] = element_value(out.type_code, &data[k * static_cast<size_t>(esize)]);
  return out;
}

}  // namespace taylorscope
