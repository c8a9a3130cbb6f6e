// IDX, npy and data-set readers against files written byte by byte, good and
// malformed: every refusal must be one line naming the file and the fault.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <fstream>
#include <string>
#include <vector>

#include "input_error.hpp"
#include "temp_dir.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/idx.hpp"
#include "taylorscope/npy.hpp"

namespace fs = std::filesystem;
using namespace taylorscope;

namespace {

class TempDir : public taylorscope::testing::TempDir {
 public:
  TempDir() : taylorscope::testing::TempDir("ts_readers") {}
};

using Bytes = std::string;

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void put_be(Bytes& b, uint64_t v, int size) {
  for (int k = size - 1; k >= 0; --k) b += static_cast<char>((v >> (8 * k)) & 0xFF);
}
void put_le(Bytes& b, uint64_t v, int size) {
  for (int k = 0; k < size; ++k) b += static_cast<char>((v >> (8 * k)) & 0xFF);
}

Bytes idx_header(int type_code, const std::vector<uint32_t>& dims) {
  Bytes b;
  b += '\0';
  b += '\0';
  b += static_cast<char>(type_code);
  b += static_cast<char>(dims.size());
  for (uint32_t d : dims) put_be(b, d, 4);
  return b;
}

Bytes idx_u8(const std::vector<uint32_t>& dims, const std::vector<int>& values) {
  Bytes b = idx_header(0x08, dims);
  for (int v : values) b += static_cast<char>(v);
  return b;
}

// A hand-made npy file: magic, version, little-endian header length, the dict
// padded to 64 bytes with a newline, then the payload.
Bytes npy_bytes(const std::string& dict, const Bytes& payload, int major = 1) {
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t prefix = 8 + len_bytes;
  std::string header = dict;
  const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  Bytes b = "\x93NUMPY";
  b += static_cast<char>(major);
  b += '\0';
  put_le(b, header.size(), static_cast<int>(len_bytes));
  return b + header + payload;
}

Bytes f8_payload(const std::vector<double>& v) {
  Bytes b;
  for (double x : v) put_le(b, std::bit_cast<uint64_t>(x), 8);
  return b;
}

using taylorscope::testing::input_error;

void expect_one_line_with(const std::string& msg, const std::string& path, const std::string& word) {
  EXPECT_NE(msg.find(path), std::string::npos) << "message does not name " << path << ": " << msg;
  EXPECT_NE(msg.find(word), std::string::npos) << "message lacks '" << word << "': " << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
}

// A small labelled image set: sample i has label labels[i] and every pixel
// equal to pixel_of(i).
struct ImageSet {
  std::vector<int> labels;
  uint32_t rows = 28, cols = 28;
  int pixel_of(size_t i) const { return static_cast<int>((i * 37 + 11) % 256); }
  Bytes images() const {
    Bytes b = idx_header(0x08, {static_cast<uint32_t>(labels.size()), rows, cols});
    for (size_t i = 0; i < labels.size(); ++i) b.append(rows * cols, static_cast<char>(pixel_of(i)));
    return b;
  }
  Bytes label_bytes() const {
    std::vector<int> v(labels.begin(), labels.end());
    return idx_u8({static_cast<uint32_t>(labels.size())}, v);
  }
};

}  // namespace

// ---------------------------------------------------------------- IDX ------

TEST(IdxReader, PlainAndGzipFilesReadIdentically) {
  TempDir dir;
  const std::vector<int> values = {0, 1, 2, 127, 128, 200, 254, 255, 7, 9, 10, 11};
  const Bytes file = idx_u8({3, 2, 2}, values);
  write_bytes(dir.file("a-ubyte"), file);
  write_gz(dir.file("a-ubyte.gz"), file);
  for (const std::string name : {"a-ubyte", "a-ubyte.gz"}) {
    const IdxArray a = read_idx(dir.file(name));
    EXPECT_EQ(a.type_code, 0x08);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 2, 2})) << name;
    ASSERT_EQ(a.values.size(), values.size());
    for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(a.values[i], values[i]) << name << " " << i;
  }
}

TEST(IdxReader, MultiByteTypesAreBigEndian) {
  TempDir dir;
  Bytes i8 = idx_header(0x09, {2});
  i8 += static_cast<char>(-5);
  i8 += static_cast<char>(100);
  Bytes i16 = idx_header(0x0B, {2});
  put_be(i16, 0xFFFE, 2);  // -2
  put_be(i16, 0x0102, 2);  // 258
  Bytes i32 = idx_header(0x0C, {1});
  put_be(i32, 0xFFFFFF85u, 4);  // -123
  Bytes f32 = idx_header(0x0D, {1});
  put_be(f32, std::bit_cast<uint32_t>(1.5f), 4);
  Bytes f64 = idx_header(0x0E, {1});
  put_be(f64, std::bit_cast<uint64_t>(-0.1), 8);
  write_bytes(dir.file("i8"), i8);
  write_bytes(dir.file("i16"), i16);
  write_bytes(dir.file("i32"), i32);
  write_bytes(dir.file("f32"), f32);
  write_bytes(dir.file("f64"), f64);
  EXPECT_EQ(read_idx(dir.file("i8")).values, (std::vector<double>{-5, 100}));
  EXPECT_EQ(read_idx(dir.file("i16")).values, (std::vector<double>{-2, 258}));
  EXPECT_EQ(read_idx(dir.file("i32")).values, (std::vector<double>{-123}));
  EXPECT_EQ(read_idx(dir.file("f32")).values, (std::vector<double>{1.5}));
  EXPECT_EQ(read_idx(dir.file("f64")).values, (std::vector<double>{-0.1}));
  EXPECT_EQ(read_idx(dir.file("f64")).type_code, 0x0E);
}

TEST(IdxReader, BadMagicIsRefusedShowingWhatWasFound) {
  TempDir dir;
  write_bytes(dir.file("bad"), Bytes("\x93NUMPY\x01\x00", 8));
  const std::string msg = input_error([&] { read_idx(dir.file("bad")); });
  expect_one_line_with(msg, dir.file("bad"), "magic");
  EXPECT_NE(msg.find("0x934E554D"), std::string::npos) << msg;
}

TEST(IdxReader, UnsupportedTypeCodeIsRefused) {
  TempDir dir;
  write_bytes(dir.file("t"), idx_header(0x0A, {1}) + Bytes(1, '\0'));
  const std::string msg = input_error([&] { read_idx(dir.file("t")); });
  expect_one_line_with(msg, dir.file("t"), "type code 0x0A");
}

TEST(IdxReader, TruncatedHeaderIsRefused) {
  TempDir dir;
  Bytes b = idx_header(0x08, {10, 28, 28});
  b.resize(9);  // magic + 1¼ of 3 dimensions
  write_bytes(dir.file("h"), b);
  write_bytes(dir.file("m"), Bytes("\0\0", 2));
  expect_one_line_with(input_error([&] { read_idx(dir.file("h")); }), dir.file("h"), "truncated header");
  expect_one_line_with(input_error([&] { read_idx(dir.file("m")); }), dir.file("m"), "truncated header");
}

TEST(IdxReader, TruncatedIdxIsRefusedWithByteCounts) {
  TempDir dir;
  Bytes b = idx_u8({4, 5}, std::vector<int>(20, 3));
  b.resize(b.size() - 7);  // 13 of 20 data bytes remain
  write_bytes(dir.file("d"), b);
  write_gz(dir.file("d.gz"), b);
  for (const std::string name : {"d", "d.gz"}) {
    const std::string msg = input_error([&] { read_idx(dir.file(name)); });
    expect_one_line_with(msg, dir.file(name), "truncated");
    EXPECT_NE(msg.find("expected 20 bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("got 13"), std::string::npos) << msg;
  }
}

TEST(IdxReader, CutOffGzipStreamIsRefused) {
  TempDir dir;
  std::vector<int> v(4000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int>((i * 7919) % 251);
  write_gz(dir.file("full.gz"), idx_u8({4000}, v));
  Bytes gz = read_bytes(dir.file("full.gz"));
  gz.resize(gz.size() / 2);
  write_bytes(dir.file("cut.gz"), gz);
  const std::string msg = input_error([&] { read_idx(dir.file("cut.gz")); });
  expect_one_line_with(msg, dir.file("cut.gz"), "truncated");
  EXPECT_NE(msg.find("gzip"), std::string::npos) << msg;
}

TEST(IdxReader, CorruptGzipStreamIsRefused) {
  TempDir dir;
  std::vector<int> v(4000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int>((i * 7919) % 251);
  write_gz(dir.file("full.gz"), idx_u8({4000}, v));
  Bytes gz = read_bytes(dir.file("full.gz"));
  // Damage the deflate payload (past the 10-byte gzip header) and the CRC.
  for (size_t k = 20; k < gz.size(); k += 13) gz[k] = static_cast<char>(gz[k] ^ 0x5A);
  write_bytes(dir.file("bad.gz"), gz);
  const std::string msg = input_error([&] { read_idx(dir.file("bad.gz")); });
  expect_one_line_with(msg, dir.file("bad.gz"), "gzip");
}

TEST(IdxReader, GzipChecksumMismatchIsRefused) {
  TempDir dir;
  write_gz(dir.file("full.gz"), idx_u8({3}, {1, 2, 3}));
  Bytes gz = read_bytes(dir.file("full.gz"));
  gz[gz.size() - 6] = static_cast<char>(gz[gz.size() - 6] ^ 1);  // inside the CRC-32
  write_bytes(dir.file("crc.gz"), gz);
  gz = read_bytes(dir.file("full.gz"));
  gz.resize(gz.size() - 4);  // data complete, length trailer missing
  write_bytes(dir.file("tail.gz"), gz);
  expect_one_line_with(input_error([&] { read_idx(dir.file("crc.gz")); }), dir.file("crc.gz"),
                       "corrupt gzip stream");
  expect_one_line_with(input_error([&] { read_idx(dir.file("tail.gz")); }), dir.file("tail.gz"),
                       "truncated gzip stream");
}

TEST(IdxReader, MissingFileIsRefusedWithPath) {
  TempDir dir;
  const std::string msg = input_error([&] { read_idx(dir.file("nope.gz")); });
  expect_one_line_with(msg, dir.file("nope.gz"), "cannot open");
}

TEST(IdxReader, AbsurdDimensionsAreRefused) {
  TempDir dir;
  write_bytes(dir.file("huge"), idx_header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}));
  expect_one_line_with(input_error([&] { read_idx(dir.file("huge")); }), dir.file("huge"), "absurd");
}

// Found by UBSan: 0 × (2^32−1)^3 holds no values, so a product that counts
// the zero passed, and the loader then multiplied (2^32−1)^3 into one row size.
TEST(IdxReader, HugeDimensionsBesideAZeroAreRefused) {
  TempDir dir;
  write_bytes(dir.file("zero"), idx_header(0x08, {0, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}));
  expect_one_line_with(input_error([&] { read_idx(dir.file("zero")); }), dir.file("zero"), "absurd");
  // Through the loader too, where the row size was formed.
  write_bytes(dir.file("lab"), idx_u8({0}, {}));
  expect_one_line_with(
      input_error([&] { load_dataset("idx:" + dir.file("zero") + "," + dir.file("lab"), {}); }),
      dir.file("zero"), "absurd");
}

TEST(IdxReader, DimensionsWhoseProductWrapsAreRefused) {
  TempDir dir;
  // (2^32−1)^2 · 2 ≈ 2^65 wraps a 64-bit product; 2^20 · 2^20 is 2^40 values,
  // 2^40 bytes as ubyte (the limit, accepted until the data is missing) but
  // 2^43 as float64 (refused before reading).
  write_bytes(dir.file("wrap"), idx_header(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 2}));
  expect_one_line_with(input_error([&] { read_idx(dir.file("wrap")); }), dir.file("wrap"), "absurd");
  write_bytes(dir.file("u8"), idx_header(0x08, {1u << 20, 1u << 20}));
  expect_one_line_with(input_error([&] { read_idx(dir.file("u8")); }), dir.file("u8"),
                       "truncated data");
  write_bytes(dir.file("f8"), idx_header(0x0E, {1u << 20, 1u << 20}));
  expect_one_line_with(input_error([&] { read_idx(dir.file("f8")); }), dir.file("f8"), "absurd");
}

TEST(IdxReader, EmptyArrayWithSmallDimensionsIsRead) {
  TempDir dir;
  write_bytes(dir.file("e"), idx_header(0x08, {0, 28, 28}));
  const IdxArray a = read_idx(dir.file("e"));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{0, 28, 28}));
  EXPECT_TRUE(a.values.empty());
}

TEST(IdxReader, TrailingBytesAreRefused) {
  TempDir dir;
  write_bytes(dir.file("long"), idx_u8({2}, {1, 2}) + Bytes("xyz"));
  expect_one_line_with(input_error([&] { read_idx(dir.file("long")); }), dir.file("long"),
                       "longer than its header");
}

// ---------------------------------------------------------------- npy ------

TEST(Npy, F8RoundTripIsExact) {
  TempDir dir;
  const std::vector<double> v = {0.1, -2.5e-300, 1e300, 3.141592653589793, -0.0, 42.0};
  write_npy(dir.file("a.npy"), {2, 3}, v, NpyPrecision::f64);
  const NpyArray a = read_npy_floats(dir.file("a.npy"));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.descr, "<f8");
  EXPECT_EQ(a.size(), 6);
  ASSERT_EQ(a.values.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(std::bit_cast<uint64_t>(a.values[i]), std::bit_cast<uint64_t>(v[i])) << i;
}

TEST(Npy, F4RoundTripRoundsToNearestFloat) {
  TempDir dir;
  const std::vector<double> v = {0.1, -1.0 / 3.0, 1e10, 5.0};
  write_npy(dir.file("a.npy"), {4}, v, NpyPrecision::f32);
  const NpyArray a = read_npy_floats(dir.file("a.npy"));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(a.descr, "<f4");
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(a.values[i], static_cast<double>(static_cast<float>(v[i]))) << i;
}

TEST(Npy, WrittenFileIsVersion1WithDataAlignedTo64) {
  TempDir dir;
  write_npy(dir.file("a.npy"), {3, 5}, std::vector<double>(15, 1.0), NpyPrecision::f32);
  const Bytes b = read_bytes(dir.file("a.npy"));
  ASSERT_GE(b.size(), 10u);
  EXPECT_EQ(b.substr(0, 8), Bytes("\x93NUMPY\x01\x00", 8));
  const size_t hlen = static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u);
  EXPECT_EQ(b[10 + hlen - 1], '\n');
  EXPECT_EQ(b.size(), 10 + hlen + 15 * 4);
  const std::string header = b.substr(10, hlen);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'fortran_order': False"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (3, 5)"), std::string::npos) << header;
}

TEST(Npy, WriteLeavesNoTemporaryAndReplacesExistingFile) {
  TempDir dir;
  write_npy(dir.file("a.npy"), {1}, {1.0}, NpyPrecision::f64);
  write_npy(dir.file("a.npy"), {2}, {2.0, 3.0}, NpyPrecision::f64);
  EXPECT_EQ(read_npy_floats(dir.file("a.npy")).values, (std::vector<double>{2.0, 3.0}));
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(e.path().filename(), "a.npy");
  }
  EXPECT_EQ(files, 1);
}

TEST(Npy, WriteToMissingDirectoryThrowsNamingPath) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/a.npy");
  try {
    write_npy(path, {1}, {1.0}, NpyPrecision::f64);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Npy, WriteRefusesShapeThatDoesNotMatchValues) {
  TempDir dir;
  EXPECT_THROW(write_npy(dir.file("a.npy"), {2, 2}, {1.0, 2.0, 3.0}, NpyPrecision::f64),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(dir.file("a.npy")));
}

TEST(Npy, HeaderKeysInAnyOrderWithOddSpacingParse) {
  TempDir dir;
  write_bytes(dir.file("a.npy"),
              npy_bytes("{ \"shape\" :(2 ,1L ,) ,'fortran_order':False,   'descr':'<f8' ,}",
                        f8_payload({1.25, -7.0})));
  const NpyArray a = read_npy_floats(dir.file("a.npy"));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(a.values, (std::vector<double>{1.25, -7.0}));
}

TEST(Npy, ScalarAndOneDimensionalShapesParse) {
  TempDir dir;
  write_bytes(dir.file("s.npy"),
              npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", f8_payload({9.5})));
  write_bytes(dir.file("v.npy"), npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
                                           f8_payload({1, 2, 3})));
  const NpyArray s = read_npy_floats(dir.file("s.npy"));
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.size(), 1);
  EXPECT_EQ(s.values, (std::vector<double>{9.5}));
  const NpyArray v = read_npy_floats(dir.file("v.npy"));
  EXPECT_EQ(v.shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(v.values, (std::vector<double>{1, 2, 3}));
}

TEST(Npy, NativeOrderEqualsSignIsReadAsLittleEndianHere) {
  if constexpr (std::endian::native != std::endian::little) GTEST_SKIP() << "big-endian host";
  TempDir dir;
  Bytes payload;
  put_le(payload, std::bit_cast<uint32_t>(2.5f), 4);
  write_bytes(dir.file("a.npy"),
              npy_bytes("{'descr': '=f4', 'fortran_order': False, 'shape': (1,), }", payload));
  EXPECT_EQ(read_npy_floats(dir.file("a.npy")).values, (std::vector<double>{2.5}));
}

TEST(Npy, Version2And3HeadersAreRead) {
  TempDir dir;
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  write_bytes(dir.file("v2.npy"), npy_bytes(dict, f8_payload({1, 2}), 2));
  write_bytes(dir.file("v3.npy"), npy_bytes(dict, f8_payload({3, 4}), 3));
  EXPECT_EQ(read_npy_floats(dir.file("v2.npy")).values, (std::vector<double>{1, 2}));
  EXPECT_EQ(read_npy_floats(dir.file("v3.npy")).values, (std::vector<double>{3, 4}));
}

TEST(Npy, UnsupportedVersionIsRefused) {
  TempDir dir;
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
  write_bytes(dir.file("v4.npy"), npy_bytes(dict, f8_payload({1}), 4));
  expect_one_line_with(input_error([&] { read_npy_floats(dir.file("v4.npy")); }), dir.file("v4.npy"),
                       "version 4.0");
}

TEST(Npy, BadMagicIsRefused) {
  TempDir dir;
  write_bytes(dir.file("a.npy"), Bytes("PK\x03\x04 this is a zip (npz), not npy"));
  const std::string msg = input_error([&] { read_npy_floats(dir.file("a.npy")); });
  expect_one_line_with(msg, dir.file("a.npy"), "magic");
  EXPECT_NE(msg.find("not an npy file"), std::string::npos) << msg;
}

TEST(Npy, FortranOrderIsRefused) {
  TempDir dir;
  write_bytes(dir.file("f.npy"), npy_bytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 1), }",
                                           f8_payload({1, 2})));
  const std::string msg = input_error([&] { read_npy_floats(dir.file("f.npy")); });
  expect_one_line_with(msg, dir.file("f.npy"), "Fortran");
  EXPECT_NE(msg.find("ascontiguousarray"), std::string::npos) << msg;
}

TEST(Npy, BigEndianIsRefused) {
  TempDir dir;
  write_bytes(dir.file("be.npy"), npy_bytes("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }",
                                            f8_payload({1})));
  write_bytes(dir.file("bei.npy"), npy_bytes("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }",
                                             f8_payload({1})));
  const std::string msg = input_error([&] { read_npy_floats(dir.file("be.npy")); });
  expect_one_line_with(msg, dir.file("be.npy"), "big-endian");
  EXPECT_NE(msg.find("'>f8'"), std::string::npos) << msg;
  expect_one_line_with(input_error([&] { read_npy_integers(dir.file("bei.npy"), nullptr); }),
                       dir.file("bei.npy"), "big-endian");
}

TEST(Npy, UnsupportedDtypeIsRefusedByName) {
  TempDir dir;
  for (const std::string descr : {"<c16", "|O", "<f2", "|b1", "<i4"}) {
    const std::string path = dir.file("d" + std::to_string(descr.size()) + descr.substr(1) + ".npy");
    write_bytes(path, npy_bytes("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (1,), }",
                                Bytes(16, '\0')));
    const std::string msg = input_error([&] { read_npy_floats(path); });
    expect_one_line_with(msg, path, "unsupported dtype '" + descr + "'");
  }
  const std::string path = dir.file("structured.npy");
  write_bytes(path, npy_bytes("{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, "
                              "'shape': (1,), }",
                              Bytes(8, '\0')));
  expect_one_line_with(input_error([&] { read_npy_floats(path); }), path, "unsupported dtype");
}

// Found by fuzzing (fuzz/corpus/npy/crash-multiline-dtype): header text
// echoed in a refusal held a newline, so the one-line message became two.
TEST(Npy, HeaderTextEchoedInARefusalStaysOnOneLine) {
  TempDir dir;
  const std::string quoted = dir.file("quoted.npy"), bare = dir.file("bare.npy"),
                    long_descr = dir.file("long.npy");
  write_bytes(quoted, npy_bytes("{'descr': '<f\n4\x85', 'fortran_order': False, 'shape': (1,), }",
                                Bytes(4, '\0')));
  write_bytes(bare, npy_bytes("{'descr': \bTrue\n'<f4', 'fortran_order': False, 'shape': (1,), }",
                              Bytes(4, '\0')));
  write_bytes(long_descr, npy_bytes("{'descr': '" + std::string(300, 'f') +
                                        "', 'fortran_order': False, 'shape': (1,), }",
                                    Bytes(4, '\0')));
  const std::string q = input_error([&] { read_npy_floats(quoted); });
  expect_one_line_with(q, quoted, "unsupported dtype '<f\\x0A4\\x85'");
  const std::string b = input_error([&] { read_npy_floats(bare); });
  expect_one_line_with(b, bare, "(not a dtype string)");
  EXPECT_NE(b.find("\\x08True\\x0A"), std::string::npos) << b;
  const std::string l = input_error([&] { read_npy_floats(long_descr); });
  expect_one_line_with(l, long_descr, "…");
  EXPECT_LT(l.size(), long_descr.size() + 200) << l;
}

TEST(Npy, TruncatedDataIsRefusedWithByteCounts) {
  TempDir dir;
  Bytes b = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }",
                      f8_payload({1, 2, 3, 4, 5, 6}));
  b.resize(b.size() - 10);
  write_bytes(dir.file("t.npy"), b);
  const std::string msg = input_error([&] { read_npy_floats(dir.file("t.npy")); });
  expect_one_line_with(msg, dir.file("t.npy"), "truncated");
  EXPECT_NE(msg.find("expected 48 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("got 38"), std::string::npos) << msg;
}

TEST(Npy, FileLongerThanHeaderSaysIsRefused) {
  TempDir dir;
  write_bytes(dir.file("l.npy"), npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
                                           f8_payload({1, 2})));
  const std::string msg = input_error([&] { read_npy_floats(dir.file("l.npy")); });
  expect_one_line_with(msg, dir.file("l.npy"), "longer than its header");
  EXPECT_NE(msg.find("expected 8 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("found 16"), std::string::npos) << msg;
}

TEST(Npy, ShapesWhoseProductOverflowsAreRefused) {
  TempDir dir;
  // (2^62, 4) is 2^64 values; (0, 2^62, 2^62) holds none, but one row of it
  // would be 2^124; (2^37, 1) '<f8' is 2^40 bytes, one more byte than allowed
  // is (2^37 + 1, 1).
  const std::vector<std::string> shapes = {"(4611686018427387904, 4)",
                                           "(0, 4611686018427387904, 4611686018427387904)",
                                           "(137438953473, 1)"};
  for (size_t k = 0; k < shapes.size(); ++k) {
    const std::string path = dir.file("s" + std::to_string(k) + ".npy");
    write_bytes(path, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': " + shapes[k] + ", }",
                                f8_payload({1})));
    expect_one_line_with(input_error([&] { read_npy_floats(path); }), path, "absurd shape");
    expect_one_line_with(input_error([&] { read_npy_integers(path, nullptr); }), path, "dtype");
  }
  const std::string edge = dir.file("edge.npy");
  write_bytes(edge, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (137438953472, 1), }",
                              f8_payload({1})));
  expect_one_line_with(input_error([&] { read_npy_floats(edge); }), edge, "truncated data");
}

TEST(Npy, SizeOfAShapeThatOverflowsThrowsInsteadOfWrapping) {
  NpyArray a;
  a.shape = {int64_t(1) << 62, 4};
  EXPECT_THROW(a.size(), std::length_error);
  a.shape = {int64_t(1) << 31, int64_t(1) << 31};
  EXPECT_EQ(a.size(), int64_t(1) << 62);
}

TEST(Npy, WriteRefusesAShapeWhoseProductWraps) {
  TempDir dir;
  // 2^32 · 2^32 wraps to 0 in 64 bits, which would match an empty array.
  EXPECT_THROW(write_npy(dir.file("w.npy"), {int64_t(1) << 32, int64_t(1) << 32}, {},
                         NpyPrecision::f64),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(dir.file("w.npy")));
}

TEST(Npy, MalformedHeaderIsRefused) {
  TempDir dir;
  write_bytes(dir.file("m.npy"), npy_bytes("{'descr': '<f8', 'shape': (1,), }", f8_payload({1})));
  write_bytes(dir.file("g.npy"), npy_bytes("{'descr': '<f8' 'shape' (1,)", f8_payload({1})));
  expect_one_line_with(input_error([&] { read_npy_floats(dir.file("m.npy")); }), dir.file("m.npy"),
                       "fortran_order");
  expect_one_line_with(input_error([&] { read_npy_floats(dir.file("g.npy")); }), dir.file("g.npy"),
                       "malformed");
}

TEST(Npy, IntegerLabelsAreReadForEveryWidth) {
  TempDir dir;
  struct Case {
    std::string descr;
    int size;
    std::vector<int64_t> values;
  };
  const std::vector<Case> cases = {
      {"|u1", 1, {0, 255}},          {"|i1", 1, {-128, 127}},
      {"<i2", 2, {-300, 32767}},     {"<u2", 2, {65535, 1}},
      {"<i4", 4, {-70000, 9}},       {"<u4", 4, {4000000000LL, 0}},
      {"<i8", 8, {-(1LL << 40), 5}}, {"<u8", 8, {1LL << 62, 3}},
  };
  for (const Case& c : cases) {
    Bytes payload;
    for (int64_t v : c.values) put_le(payload, static_cast<uint64_t>(v), c.size);
    const std::string path = dir.file("l" + c.descr.substr(1) + ".npy");
    write_bytes(path, npy_bytes("{'descr': '" + c.descr + "', 'fortran_order': False, 'shape': (2,), }",
                                payload));
    std::vector<int64_t> shape;
    EXPECT_EQ(read_npy_integers(path, &shape), c.values) << c.descr;
    EXPECT_EQ(shape, (std::vector<int64_t>{2})) << c.descr;
  }
}

TEST(Npy, IntegerReaderRefusesFloatsAndHugeUnsigned) {
  TempDir dir;
  write_npy(dir.file("f.npy"), {1}, {1.0}, NpyPrecision::f64);
  expect_one_line_with(input_error([&] { read_npy_integers(dir.file("f.npy"), nullptr); }),
                       dir.file("f.npy"), "unsupported dtype '<f8'");
  Bytes payload;
  put_le(payload, ~uint64_t(0), 8);
  write_bytes(dir.file("u.npy"), npy_bytes("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }",
                                           payload));
  expect_one_line_with(input_error([&] { read_npy_integers(dir.file("u.npy"), nullptr); }),
                       dir.file("u.npy"), "int64");
}

TEST(Npy, MissingFileIsRefusedWithPath) {
  TempDir dir;
  expect_one_line_with(input_error([&] { read_npy_floats(dir.file("none.npy")); }), dir.file("none.npy"),
                       "cannot open");
}

// ------------------------------------------------------------ data sets ----

TEST(Dataset, IdxPairLoadsScaledByDefault) {
  TempDir dir;
  ImageSet set{{0, 1, 2, 1, 0, 2}};
  write_bytes(dir.file("img"), set.images());
  write_gz(dir.file("lab.gz"), set.label_bytes());
  const std::string spec = "idx:" + dir.file("img") + "," + dir.file("lab.gz");
  const Dataset d = load_dataset(spec, DataOptions{});
  EXPECT_EQ(d.spec, spec);
  EXPECT_EQ(d.N, 6);
  EXPECT_EQ(d.E, 784);
  EXPECT_EQ(d.M, 3);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 1, 2, 1, 0, 2}));
  EXPECT_EQ(d.class_counts, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_TRUE(d.balanced);
  ASSERT_EQ(d.Z.size(), 6u * 784u);
  for (int64_t i = 0; i < d.N; ++i)
    EXPECT_DOUBLE_EQ(d.row(i)[400], set.pixel_of(static_cast<size_t>(i)) / 255.0) << i;
}

TEST(Dataset, ScaleDefaultDiffersBetweenIdxAndNpyAndCanBeForced) {
  TempDir dir;
  ImageSet set{{0, 1}};
  write_bytes(dir.file("img"), set.images());
  write_bytes(dir.file("lab"), set.label_bytes());
  write_npy(dir.file("z.npy"), {2, 2}, {10, 20, 30, 255}, NpyPrecision::f32);
  write_bytes(dir.file("y.npy"), npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }",
                                           Bytes("\x00\x01", 2)));
  const std::string idx = "idx:" + dir.file("img") + "," + dir.file("lab");
  const std::string npy = "npy:" + dir.file("z.npy") + "," + dir.file("y.npy");
  const double p0 = set.pixel_of(0);
  EXPECT_DOUBLE_EQ(load_dataset(idx, {}).Z[0], p0 / 255.0);
  EXPECT_DOUBLE_EQ(load_dataset(npy, {}).Z[3], 255.0);
  DataOptions off;
  off.scale = 0;
  DataOptions on;
  on.scale = 1;
  EXPECT_DOUBLE_EQ(load_dataset(idx, off).Z[0], p0);
  EXPECT_DOUBLE_EQ(load_dataset(npy, on).Z[3], 1.0);
}

TEST(Dataset, NpyEmbeddingsLoadWithIntegerLabels) {
  TempDir dir;
  write_npy(dir.file("z.npy"), {4, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, NpyPrecision::f64);
  Bytes labels;
  for (int64_t v : {1, 0, 0, 1}) put_le(labels, static_cast<uint64_t>(v), 8);
  write_bytes(dir.file("y.npy"),
              npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", labels));
  const Dataset d = load_dataset("npy:" + dir.file("z.npy") + "," + dir.file("y.npy"), {});
  EXPECT_EQ(d.N, 4);
  EXPECT_EQ(d.E, 3);
  EXPECT_EQ(d.M, 2);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{1, 0, 0, 1}));
  EXPECT_EQ(d.row(2)[1], 8.0);
  EXPECT_TRUE(d.balanced);
}

TEST(Dataset, NpyEmbeddingsMustBeTwoDimensional) {
  TempDir dir;
  write_npy(dir.file("z.npy"), {4}, {1, 2, 3, 4}, NpyPrecision::f64);
  write_bytes(dir.file("y.npy"), npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }",
                                           Bytes("\0\1\0\1", 4)));
  expect_one_line_with(
      input_error([&] { load_dataset("npy:" + dir.file("z.npy") + "," + dir.file("y.npy"), {}); }),
      dir.file("z.npy"), "2-D");
}

TEST(Dataset, ImageLabelCountMismatchNamesBothFiles) {
  TempDir dir;
  ImageSet set{{0, 1, 0}};
  write_bytes(dir.file("img"), set.images());
  write_bytes(dir.file("lab"), idx_u8({2}, {0, 1}));
  const std::string msg =
      input_error([&] { load_dataset("idx:" + dir.file("img") + "," + dir.file("lab"), {}); });
  expect_one_line_with(msg, dir.file("img"), "mismatch");
  EXPECT_NE(msg.find(dir.file("lab")), std::string::npos) << msg;
  EXPECT_NE(msg.find("3 samples"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 labels"), std::string::npos) << msg;
}

TEST(Dataset, LabelOutOfRangeReportsFirstIndexAndValue) {
  TempDir dir;
  ImageSet set{{0, 1, 2, 3}};
  write_bytes(dir.file("img"), set.images());
  write_bytes(dir.file("lab"), set.label_bytes());
  DataOptions three;
  three.classes = 3;
  const std::string msg =
      input_error([&] { load_dataset("idx:" + dir.file("img") + "," + dir.file("lab"), three); });
  expect_one_line_with(msg, dir.file("lab"), "index 3 is 3");
  EXPECT_NE(msg.find("[0, 3)"), std::string::npos) << msg;

  Bytes neg = idx_header(0x09, {4});
  for (int v : {0, 1, -1, 2}) neg += static_cast<char>(v);
  write_bytes(dir.file("neg"), neg);
  expect_one_line_with(
      input_error([&] { load_dataset("idx:" + dir.file("img") + "," + dir.file("neg"), {}); }),
      dir.file("neg"), "index 2 is -1");
}

TEST(Dataset, ClassWithoutSamplesIsRefused) {
  TempDir dir;
  ImageSet set{{0, 2, 0, 2}};
  write_bytes(dir.file("img"), set.images());
  write_bytes(dir.file("lab"), set.label_bytes());
  const std::string msg =
      input_error([&] { load_dataset("idx:" + dir.file("img") + "," + dir.file("lab"), {}); });
  expect_one_line_with(msg, dir.file("lab"), "class 1 has no samples");
}

TEST(Dataset, LimitKeepsClassesBalancedInFileOrder) {
  TempDir dir;
  ImageSet set{{2, 0, 0, 1, 2, 0, 1, 1, 0, 2, 2, 1}};
  write_bytes(dir.file("img"), set.images());
  write_bytes(dir.file("lab"), set.label_bytes());
  DataOptions opt;
  opt.limit = 2;
  opt.scale = 0;
  const Dataset d = load_dataset("idx:" + dir.file("img") + "," + dir.file("lab"), opt);
  // First two of each class are original rows 0,1,2,3,4,6: kept in that order.
  const std::vector<size_t> kept = {0, 1, 2, 3, 4, 6};
  ASSERT_EQ(d.N, 6);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{2, 0, 0, 1, 2, 1}));
  for (size_t i = 0; i < kept.size(); ++i)
    EXPECT_EQ(d.row(static_cast<int64_t>(i))[0], set.pixel_of(kept[i])) << i;
  EXPECT_EQ(d.class_counts, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_TRUE(d.balanced);
}

TEST(Dataset, UnbalancedSetIsReportedAsSuch) {
  TempDir dir;
  ImageSet set{{0, 1, 1}};
  write_bytes(dir.file("img"), set.images());
  write_bytes(dir.file("lab"), set.label_bytes());
  const Dataset d = load_dataset("idx:" + dir.file("img") + "," + dir.file("lab"), {});
  EXPECT_EQ(d.class_counts, (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(d.balanced);
}

TEST(Dataset, Pad32PutsPixelZeroZeroAtTwoTwo) {
  TempDir dir;
  Bytes img = idx_header(0x08, {2, 28, 28});
  for (int k = 0; k < 2 * 784; ++k) img += static_cast<char>(k % 784 % 251 + 1);  // no zero pixels
  write_bytes(dir.file("img"), img);
  write_bytes(dir.file("lab"), idx_u8({2}, {0, 1}));
  DataOptions opt;
  opt.pad32 = true;
  opt.scale = 0;
  const Dataset d = load_dataset("idx:" + dir.file("img") + "," + dir.file("lab"), opt);
  ASSERT_EQ(d.E, 1024);
  ASSERT_EQ(d.Z.size(), 2048u);
  for (int r = 0; r < 32; ++r)
    for (int c = 0; c < 32; ++c) {
      const bool inside = r >= 2 && r < 30 && c >= 2 && c < 30;
      const double want = inside ? ((r - 2) * 28 + (c - 2)) % 251 + 1 : 0.0;
      ASSERT_EQ(d.Z[static_cast<size_t>(r * 32 + c)], want) << r << "," << c;
    }
  EXPECT_EQ(d.Z[2 * 32 + 2], 1.0);
}

TEST(Dataset, Pad32NeedsTwentyEightByTwentyEight) {
  TempDir dir;
  ImageSet set{{0, 1}};
  set.rows = 10;
  set.cols = 10;
  write_bytes(dir.file("img"), set.images());
  write_bytes(dir.file("lab"), set.label_bytes());
  DataOptions opt;
  opt.pad32 = true;
  expect_one_line_with(
      input_error([&] { load_dataset("idx:" + dir.file("img") + "," + dir.file("lab"), opt); }),
      dir.file("img"), "784");
}

TEST(Dataset, StandardizeGivesZeroMeanUnitVariance) {
  TempDir dir;
  // Feature 0 varies, feature 1 is constant (std 0 → stays 0 after centring).
  write_npy(dir.file("z.npy"), {4, 2}, {1, 5, 2, 5, 4, 5, 9, 5}, NpyPrecision::f64);
  write_bytes(dir.file("y.npy"), npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }",
                                           Bytes("\0\1\0\1", 4)));
  DataOptions opt;
  opt.standardize = true;
  const Dataset d = load_dataset("npy:" + dir.file("z.npy") + "," + dir.file("y.npy"), opt);
  double mean = 0, sq = 0;
  for (int64_t i = 0; i < d.N; ++i) mean += d.row(i)[0];
  mean /= 4;
  for (int64_t i = 0; i < d.N; ++i) sq += (d.row(i)[0] - mean) * (d.row(i)[0] - mean);
  EXPECT_NEAR(mean, 0.0, 1e-15);
  EXPECT_NEAR(sq / 4, 1.0, 1e-14);
  for (int64_t i = 0; i < d.N; ++i) EXPECT_EQ(d.row(i)[1], 0.0);
  // (1 − 4) / sqrt(((−3)² + (−2)² + 0² + 5²) / 4) = −3 / sqrt(9.5)
  EXPECT_NEAR(d.row(0)[0], -3.0 / std::sqrt(9.5), 1e-15);
}

// An eval set is standardized with its train set's mean and scale, so that
// θ sees the same features the trainer did.
TEST(Dataset, StandardizeLikeUsesTheOtherSetsStatistics) {
  TempDir dir;
  write_npy(dir.file("z.npy"), {4, 2}, {1, 5, 2, 5, 4, 5, 9, 5}, NpyPrecision::f64);
  write_npy(dir.file("e.npy"), {2, 2}, {4, 7, 11, 5}, NpyPrecision::f64);
  write_bytes(dir.file("y.npy"), npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }",
                                           Bytes("\0\1\0\1", 4)));
  write_bytes(dir.file("ye.npy"), npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }",
                                            Bytes("\0\1", 2)));
  DataOptions opt;
  opt.standardize = true;
  const Dataset train = load_dataset("npy:" + dir.file("z.npy") + "," + dir.file("y.npy"), opt);
  opt.standardize_like = &train;
  const Dataset eval = load_dataset("npy:" + dir.file("e.npy") + "," + dir.file("ye.npy"), opt);
  // Train: feature 0 has mean 4 and std sqrt(9.5); feature 1 is constant 5 (scale 0).
  EXPECT_NEAR(eval.row(0)[0], 0.0, 1e-15);
  EXPECT_NEAR(eval.row(1)[0], 7.0 / std::sqrt(9.5), 1e-15);
  EXPECT_EQ(eval.row(0)[1], 0.0);
  EXPECT_EQ(eval.standardize_mean, train.standardize_mean);
  // Another E cannot borrow them.
  write_npy(dir.file("w.npy"), {2, 3}, {1, 2, 3, 4, 5, 6}, NpyPrecision::f64);
  EXPECT_THROW(load_dataset("npy:" + dir.file("w.npy") + "," + dir.file("ye.npy"), opt), InputError);
}

TEST(Dataset, MalformedSpecsShowTheAcceptedForms) {
  for (const std::string spec : {"mnist:train", "idx:only-one-file", "npy:", "plainpath"}) {
    const std::string msg = input_error([&] { load_dataset(spec, {}); });
    expect_one_line_with(msg, spec, "npy:Z.npy,LABELS.npy");
  }
  expect_one_line_with(input_error([&] { load_dataset("fashion-mnist:valid", {}); }), "valid", "split");
}

// An --eval set's bad spec once read "--data npy:…: expected …" (F5).
TEST(Dataset, SpecErrorsNameTheFlagTheSpecCameFrom) {
  DataOptions eval;
  eval.flag = "--eval";
  for (const std::string spec :
       {"mnist:train", "idx:only-one-file", "npy:X_nan.npy", "plainpath", "fashion-mnist:valid"}) {
    const std::string msg = input_error([&] { load_dataset(spec, eval); });
    expect_one_line_with(msg, "--eval " + spec + ":", "expected");
    EXPECT_EQ(msg.find("--data"), std::string::npos) << msg;
    expect_one_line_with(input_error([&] { load_dataset(spec, {}); }), "--data " + spec + ":", "expected");
  }
}

TEST(Dataset, MissingFashionMnistPointsAtDebianPackage) {
  TempDir dir;
  DataOptions opt;
  opt.data_dir = dir.path().string();
  const std::string msg = input_error([&] { load_dataset("fashion-mnist:test", opt); });
  expect_one_line_with(msg, dir.file("t10k-images-idx3-ubyte.gz"), "dataset-fashion-mnist");
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST(Dataset, FashionMnistFallsBackToUncompressedFiles) {
  TempDir dir;
  std::vector<int> labels(20);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int>(i % 10);
  ImageSet set{labels};
  write_bytes(dir.file("train-images-idx3-ubyte"), set.images());
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), set.label_bytes());
  DataOptions opt;
  opt.data_dir = dir.path().string();
  const Dataset d = load_dataset("fashion-mnist:train", opt);
  EXPECT_EQ(d.N, 20);
  EXPECT_EQ(d.M, 10);
  EXPECT_TRUE(d.balanced);
}

TEST(Dataset, FashionMnistHasTenClassesEvenIfFewerAppear) {
  TempDir dir;
  ImageSet set{{0, 1, 2}};
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), set.images());
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), set.label_bytes());
  DataOptions opt;
  opt.data_dir = dir.path().string();
  expect_one_line_with(input_error([&] { load_dataset("fashion-mnist:test", opt); }),
                       dir.file("t10k-labels-idx1-ubyte.gz"), "class 3 has no samples");
}

TEST(Dataset, RealFashionMnistTestSplitLimitedTo20PerClass) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir))
    GTEST_SKIP() << dir << " not found: install Debian's dataset-fashion-mnist to run this test";
  DataOptions opt;
  opt.limit = 20;
  const Dataset d = load_dataset("fashion-mnist:test", opt);
  EXPECT_EQ(d.N, 200);
  EXPECT_EQ(d.E, 784);
  EXPECT_EQ(d.M, 10);
  EXPECT_TRUE(d.balanced);
  EXPECT_EQ(d.class_counts, std::vector<int64_t>(10, 20));
  double lo = 1, hi = 0;
  for (double z : d.Z) {
    lo = std::min(lo, z);
    hi = std::max(hi, z);
  }
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
  EXPECT_GT(hi, 0.5);  // scaled pixels, not all zero
}

// ------------------------------------------------- non-finite data (F1) ----

namespace {

// Labels 0, 1, 0, 1, … as an npy '|u1' file.
void write_alternating_labels(const std::string& path, int n) {
  Bytes b;
  for (int i = 0; i < n; ++i) b += static_cast<char>(i % 2);
  write_bytes(path, npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (" +
                                  std::to_string(n) + ",), }",
                              b));
}

}  // namespace

TEST(Dataset, FloatIdxImagesWithNanOrInfAreRefusedWithTheirCount) {
  TempDir dir;
  Bytes img = idx_header(0x0D, {2, 2, 2});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (float v : {1.0f, nan, 3.0f, 4.0f, 5.0f, 6.0f, -inf, 8.0f}) put_be(img, std::bit_cast<uint32_t>(v), 4);
  write_bytes(dir.file("img"), img);
  write_bytes(dir.file("lab"), idx_u8({2}, {0, 1}));
  const std::string msg =
      input_error([&] { load_dataset("idx:" + dir.file("img") + "," + dir.file("lab"), {}); });
  expect_one_line_with(msg, dir.file("img"), "images holds 2 non-finite values");
  EXPECT_NE(msg.find("of 8"), std::string::npos) << msg;
}

TEST(Dataset, NpyEmbeddingsWithInfAreRefusedWithTheirCount) {
  TempDir dir;
  write_npy(dir.file("z.npy"), {2, 2}, {1, std::numeric_limits<double>::infinity(), 3, 4},
            NpyPrecision::f64);
  write_alternating_labels(dir.file("y.npy"), 2);
  const std::string msg =
      input_error([&] { load_dataset("npy:" + dir.file("z.npy") + "," + dir.file("y.npy"), {}); });
  expect_one_line_with(msg, dir.file("z.npy"), "embeddings holds 1 non-finite value ");
}

// Finite data whose statistics overflow: ±1e308 squares to Inf in the
// variance, 1.7e308 + 1.7e308 is Inf in the mean's sum. Unchecked, the first
// feature became all zeros (1/∞ scale) and the second −Inf.
TEST(Dataset, StandardizeWhoseStatisticsOverflowIsRefusedNamingTheStep) {
  TempDir dir;
  write_npy(dir.file("z.npy"), {2, 3}, {1e308, 1.7e308, 1, -1e308, 1.7e308, 2}, NpyPrecision::f64);
  write_alternating_labels(dir.file("y.npy"), 2);
  const std::string spec = "npy:" + dir.file("z.npy") + "," + dir.file("y.npy");
  DataOptions opt;
  opt.standardize = true;
  const std::string msg = input_error([&] { load_dataset(spec, opt); });
  expect_one_line_with(msg, dir.file("z.npy"), "--standardize");
  EXPECT_NE(msg.find("2 of 3 features overflows"), std::string::npos) << msg;
  // Unstandardized, the same finite values load.
  EXPECT_EQ(load_dataset(spec, {}).Z[0], 1e308);
}

// With its own statistics a set standardizes to |z| ≤ √N; an eval set scaled
// by its train set's statistics has no such bound: 1.5e308 · 2 overflows.
TEST(Dataset, StandardizeWithTheTrainStatisticsThatOverflowsIsRefused) {
  TempDir dir;
  write_alternating_labels(dir.file("y.npy"), 2);
  DataOptions opt;
  opt.standardize = true;
  write_npy(dir.file("train.npy"), {2, 1}, {0, 1}, NpyPrecision::f64);  // mean ½, scale 2
  write_npy(dir.file("eval.npy"), {2, 1}, {0, 1.5e308}, NpyPrecision::f64);
  const Dataset train = load_dataset("npy:" + dir.file("train.npy") + "," + dir.file("y.npy"), opt);
  ASSERT_EQ(train.standardize_scale, (std::vector<double>{2.0}));
  opt.standardize_like = &train;
  const std::string like = input_error(
      [&] { load_dataset("npy:" + dir.file("eval.npy") + "," + dir.file("y.npy"), opt); });
  expect_one_line_with(like, dir.file("eval.npy"), "--standardize produced 1 non-finite value");
  EXPECT_NE(like.find(dir.file("train.npy")), std::string::npos) << like;
}

// ------------------------------------------------------ one class (F2) ----

// One class: softmax is 1 whatever θ is, the loss is identically 0, and the
// engine once printed a radius from 1e-19 rounding noise.
TEST(Dataset, OneClassIsRefusedWhetherInferredOrGiven) {
  TempDir dir;
  ImageSet set{{0, 0, 0}};
  write_bytes(dir.file("img"), set.images());
  write_bytes(dir.file("lab"), set.label_bytes());
  const std::string spec = "idx:" + dir.file("img") + "," + dir.file("lab");
  const std::string inferred = input_error([&] { load_dataset(spec, {}); });
  expect_one_line_with(inferred, dir.file("lab"), "M = 1");
  EXPECT_NE(inferred.find("identically 0"), std::string::npos) << inferred;
  DataOptions one;
  one.classes = 1;
  const std::string given = input_error([&] { load_dataset(spec, one); });
  expect_one_line_with(given, "--classes 1", "identically 0");
  // Labels 0 and 1 with --classes 1: the class count is the fault, not label 1.
  ImageSet two{{0, 1}};
  write_bytes(dir.file("img2"), two.images());
  write_bytes(dir.file("lab2"), two.label_bytes());
  expect_one_line_with(
      input_error([&] { load_dataset("idx:" + dir.file("img2") + "," + dir.file("lab2"), one); }),
      "--classes 1", "at least 2 classes");
  // Two classes are enough.
  EXPECT_EQ(load_dataset("idx:" + dir.file("img2") + "," + dir.file("lab2"), {}).M, 2);
}

// ------------------------------------------- sources and preprocessing ----

namespace {

uint32_t zlib_crc(const Bytes& b) {
  return static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size())));
}

}  // namespace

// A resumed run compares these with its checkpoint (F10), so they must be
// the bytes as stored: the gzip file's own CRC, not the data's.
TEST(Dataset, SourcesHoldEachFilesPathSizeAndCrcAsStored) {
  TempDir dir;
  ImageSet set{{0, 1, 1, 0}};
  write_gz(dir.file("img.gz"), set.images());
  write_bytes(dir.file("lab"), set.label_bytes());
  const std::string spec = "idx:" + dir.file("img.gz") + "," + dir.file("lab");
  const Dataset d = load_dataset(spec, {});
  ASSERT_EQ(d.sources.size(), 2u);
  const Bytes img = read_bytes(dir.file("img.gz")), lab = read_bytes(dir.file("lab"));
  EXPECT_EQ(d.sources[0].path, dir.file("img.gz"));
  EXPECT_EQ(d.sources[0].bytes, static_cast<int64_t>(img.size()));
  EXPECT_EQ(d.sources[0].crc32, zlib_crc(img));
  EXPECT_NE(d.sources[0].crc32, zlib_crc(set.images()));  // compressed bytes, not the data's
  EXPECT_EQ(d.sources[1].path, dir.file("lab"));
  EXPECT_EQ(d.sources[1].bytes, static_cast<int64_t>(lab.size()));
  EXPECT_EQ(d.sources[1].crc32, zlib_crc(lab));

  // One changed pixel changes the CRC, not the size; the loader sees the same shape.
  Bytes changed = set.images();
  changed.back() = static_cast<char>(changed.back() ^ 1);
  write_gz(dir.file("img.gz"), changed);
  write_bytes(dir.file("lab"), set.label_bytes());
  const Dataset d2 = load_dataset(spec, {});
  EXPECT_NE(d2.sources[0].crc32, d.sources[0].crc32);
  EXPECT_EQ(d2.sources[1].crc32, d.sources[1].crc32);
  EXPECT_EQ(d2.N, d.N);

  // npy: embeddings file, then labels file.
  write_npy(dir.file("z.npy"), {2, 1}, {1.5, 2.5}, NpyPrecision::f64);
  write_alternating_labels(dir.file("y.npy"), 2);
  const Dataset n = load_dataset("npy:" + dir.file("z.npy") + "," + dir.file("y.npy"), {});
  ASSERT_EQ(n.sources.size(), 2u);
  EXPECT_EQ(n.sources[0].path, dir.file("z.npy"));
  EXPECT_EQ(n.sources[0].bytes, static_cast<int64_t>(fs::file_size(dir.file("z.npy"))));
  EXPECT_EQ(n.sources[0].crc32, zlib_crc(read_bytes(dir.file("z.npy"))));
  EXPECT_EQ(n.sources[1].crc32, zlib_crc(read_bytes(dir.file("y.npy"))));
}

TEST(Dataset, FashionMnistSourcesAreTheFilesFoundInTheDirectory) {
  TempDir dir;
  ImageSet set{{0, 1}};
  write_bytes(dir.file("t10k-images-idx3-ubyte"), set.images());
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), set.label_bytes());
  DataOptions opt;
  opt.data_dir = dir.str();
  opt.classes = 2;
  const Dataset d = load_dataset("fashion-mnist:test", opt);
  ASSERT_EQ(d.sources.size(), 2u);
  EXPECT_EQ(d.sources[0].path, dir.file("t10k-images-idx3-ubyte"));
  EXPECT_EQ(d.sources[1].path, dir.file("t10k-labels-idx1-ubyte.gz"));
  EXPECT_EQ(d.sources[1].crc32, zlib_crc(read_bytes(dir.file("t10k-labels-idx1-ubyte.gz"))));
}

// The preprocessing as applied, defaults resolved: IDX pixels are scaled
// unless told otherwise, npy values are not.
TEST(Dataset, PreprocessingRecordsWhatWasAppliedWithDefaultsResolved) {
  TempDir dir;
  ImageSet set{{0, 1, 1, 0, 1}};
  write_bytes(dir.file("img"), set.images());
  write_bytes(dir.file("lab"), set.label_bytes());
  write_npy(dir.file("z.npy"), {2, 1}, {1.5, 2.5}, NpyPrecision::f64);
  write_alternating_labels(dir.file("y.npy"), 2);
  const std::string idx = "idx:" + dir.file("img") + "," + dir.file("lab");
  const std::string npy = "npy:" + dir.file("z.npy") + "," + dir.file("y.npy");

  const Preprocessing plain = load_dataset(idx, {}).preprocessing;
  EXPECT_TRUE(plain.scaled);
  EXPECT_FALSE(plain.standardized);
  EXPECT_FALSE(plain.standardized_like_other);
  EXPECT_FALSE(plain.pad32);
  EXPECT_EQ(plain.limit, 0);
  EXPECT_EQ(plain.classes, 0);
  EXPECT_FALSE(load_dataset(npy, {}).preprocessing.scaled);

  DataOptions opt;
  opt.scale = 0;
  opt.standardize = true;
  opt.pad32 = true;
  opt.limit = 2;
  opt.classes = 2;
  const Dataset train = load_dataset(idx, opt);
  EXPECT_FALSE(train.preprocessing.scaled);
  EXPECT_TRUE(train.preprocessing.standardized);
  EXPECT_FALSE(train.preprocessing.standardized_like_other);
  EXPECT_TRUE(train.preprocessing.pad32);
  EXPECT_EQ(train.preprocessing.limit, 2);
  EXPECT_EQ(train.preprocessing.classes, 2);

  opt.standardize_like = &train;
  opt.scale = 1;
  const Preprocessing eval = load_dataset(idx, opt).preprocessing;
  EXPECT_TRUE(eval.scaled);
  EXPECT_TRUE(eval.standardized_like_other);
  // Another set's statistics without --standardize are not applied.
  opt.standardize = false;
  const Preprocessing unstd = load_dataset(idx, opt).preprocessing;
  EXPECT_FALSE(unstd.standardized);
  EXPECT_FALSE(unstd.standardized_like_other);
}
