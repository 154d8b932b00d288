// IDX files and MNIST pairs (tensor/idx.h): round trips plain and gzip, the header laid out byte for
// byte as LeCun's page describes it, gzip files written and read by zlib's own gz* functions
// (independent of ours), and one case per kind of corruption, each checking that the error names the
// file (both files, for a mismatched images/labels pair).
#include <gmock/gmock.h>
#include <zlib.h>

#include "tensor/file_io.h"
#include "tensor/idx.h"
#include "temp_dir.h"
#include "test_util.h"

namespace scorch {
namespace {

using ::testing::AllOf;
using testing::error_of;
using ::testing::HasSubstr;
using testing::TempDir;

Tensor bytes_tensor(const Shape& shape) {
  std::vector<double> v(shape.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = (i * 37 + 11) % 256;
  return from_vector(v, shape, {.dtype = kUInt8});
}

::testing::AssertionResult same(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype()) return ::testing::AssertionFailure() << "dtype " << dtype_name(got.dtype());
  return testing::all_close(got, want, {.rtol = 0, .atol = 0});
}

// gzip through zlib's gz* file functions, not through the code under test.
void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), int(bytes.size()));
  EXPECT_EQ(gzclose(f), Z_OK);
}
std::string read_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  std::string out;
  char buffer[4096];
  for (int n; f && (n = gzread(f, buffer, sizeof buffer)) > 0;) out.append(buffer, n);
  if (f) gzclose(f);
  return out;
}

// What read_idx throws for a file holding `bytes` (plain, or gzip-compressed by zlib).
std::string idx_error(const TempDir& dir, const std::string& bytes, bool gzip = false) {
  const std::string path = dir.file(gzip ? "bad.idx.gz" : "bad.idx");
  if (gzip)
    write_gzip(path, bytes);
  else
    write_file_atomic(path, bytes);
  return error_of<std::runtime_error>([&] { read_idx(path); });
}

const std::string kHeader23("\0\0\x08\x02\0\0\0\x02\0\0\0\x03", 12);  // uint8 [2, 3]

TEST(Idx, RoundTripsPlainAndGzip) {
  TempDir dir;
  for (const Shape& shape : std::vector<Shape>{{1}, {7}, {3, 4, 5}, {2, 1, 3, 2}})
    for (bool gzip : {false, true}) {
      write_idx(dir.file("t.idx"), bytes_tensor(shape), gzip);
      EXPECT_TRUE(same(read_idx(dir.file("t.idx")), bytes_tensor(shape))) << shape << (gzip ? " gzip" : " plain");
    }
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"t.idx"});  // atomic writes leave no temporary file
}

// LeCun's layout: magic 0x00000801 + N for labels, 0x00000803 + N, 28, 28 for images, big-endian.
TEST(Idx, WritesTheMnistLayout) {
  TempDir dir;
  write_idx(dir.file("labels"), from_vector({7, 2, 1}, {.dtype = kUInt8}), /*gzip=*/false);
  EXPECT_EQ(read_file(dir.file("labels")), std::string("\0\0\x08\x01\0\0\0\x03\x07\x02\x01", 11));
  write_idx(dir.file("images"), zeros({300, 28, 28}, {.dtype = kUInt8}), false);
  EXPECT_EQ(read_file(dir.file("images")).substr(0, 16),
            std::string("\0\0\x08\x03\0\0\x01\x2c\0\0\0\x1c\0\0\0\x1c", 16));
}

TEST(Idx, GzipIsReadableByZlibAndDeterministic) {
  TempDir dir;
  const Tensor t = bytes_tensor({2, 3}).transpose(0, 1);  // written in row-major order of the view
  write_idx(dir.file("a.gz"), t);
  write_idx(dir.file("b.gz"), t);
  EXPECT_EQ(read_file(dir.file("a.gz")).substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(read_file(dir.file("a.gz")), read_file(dir.file("b.gz")));
  std::string want("\0\0\x08\x02\0\0\0\x03\0\0\0\x02", 12);  // uint8 [3, 2]
  for (double v : t.values()) want += static_cast<char>(v);
  EXPECT_EQ(read_gzip(dir.file("a.gz")), want);
}

TEST(Idx, ReadsGzipFromZlibIncludingConcatenatedMembers) {
  TempDir dir;
  const std::string data = kHeader23 + "abcdef";
  write_gzip(dir.file("one.gz"), data);
  EXPECT_TRUE(same(read_idx(dir.file("one.gz")), from_vector({97, 98, 99, 100, 101, 102}, {2, 3}, {.dtype = kUInt8})));
  write_gzip(dir.file("head.gz"), data.substr(0, 5));
  write_gzip(dir.file("tail.gz"), data.substr(5));
  write_file_atomic(dir.file("two.gz"), read_file(dir.file("head.gz")) + read_file(dir.file("tail.gz")));
  EXPECT_TRUE(same(read_idx(dir.file("two.gz")), read_idx(dir.file("one.gz"))));
}

TEST(Idx, CorruptHeadersAndDataGiveClearErrors) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"PK\x03\x04 zip", "not an IDX file: it starts with 0x50 0x4b"},
      {std::string("\0\0\x0d\x01\0\0\0\x01", 8) + "abcd",
       "type byte 0x0d (float32) is not supported: only unsigned-byte IDX"},
      {std::string("\0\0\x08\x00", 4), "has 0 dimensions; 1 to 4 are supported"},
      {std::string("\0\0\x08\x05", 4) + std::string(20, '\1'), "has 5 dimensions"},
      {std::string("\0\0\x08", 3), "too short for an IDX header"},
      {std::string("\0\0\x08\x02\0\0\0\x02", 8), "truncated IDX header"},
      {std::string("\0\0\x08\x02\0\0\0\x02\0\0\0\0", 12), "IDX dimension 1 is 0"},
      {std::string("\0\0\x08\x04", 4) + std::string(16, '\xff'), "too large"},
      {kHeader23 + "abcde", "truncated: expected 6 bytes of data for [2, 3], got 5"},
      {kHeader23 + "abcdefgh", "more data than the header's dims [2, 3] hold (6 bytes)"},
  };
  for (const auto& [bytes, message] : cases) {
    EXPECT_THAT(idx_error(dir, bytes), AllOf(HasSubstr(dir.file("bad.idx")), HasSubstr(message)));
    EXPECT_THAT(idx_error(dir, bytes, /*gzip=*/true), AllOf(HasSubstr(dir.file("bad.idx.gz")), HasSubstr(message)));
  }
}

TEST(Idx, CorruptGzipGivesClearErrors) {
  TempDir dir;
  write_idx(dir.file("good.gz"), bytes_tensor({10, 10}));
  const std::string good = read_file(dir.file("good.gz"));
  std::string bad_crc = good;
  bad_crc[good.size() - 8] ^= 0x55;  // the CRC-32 of the trailer
  const std::vector<std::pair<std::string, std::string>> cases = {
      {good.substr(0, good.size() - 3), "truncated gzip stream"},
      {good.substr(0, good.size() / 2), "truncated gzip stream"},
      {good.substr(0, 2), "truncated gzip stream"},
      {bad_crc, "corrupt gzip stream: incorrect data check"},
      {good + "xyz", "3 bytes after the end of the gzip stream"},
  };
  for (const auto& [bytes, message] : cases)
    EXPECT_THAT(idx_error(dir, bytes), AllOf(HasSubstr(dir.file("bad.idx")), HasSubstr(message)));
}

TEST(Idx, MissingFile) {
  TempDir dir;
  EXPECT_THAT(error_of<std::runtime_error>([&] { read_idx(dir.file("nope.gz")); }),
              AllOf(HasSubstr(dir.file("nope.gz")), HasSubstr("No such file or directory")));
}

TEST(Idx, WriteRejectsWhatIdxCannotHold) {
  TempDir dir;
  const std::string path = dir.file("t.idx");
  for (const Tensor& t : {zeros({2, 2}), zeros({}, {.dtype = kUInt8}), zeros({1, 1, 1, 1, 1}, {.dtype = kUInt8}),
                          zeros({3, 0}, {.dtype = kUInt8})})
    EXPECT_THAT(error_of<std::invalid_argument>([&] { write_idx(path, t); }), HasSubstr(path)) << describe(t);
  EXPECT_TRUE(dir.listing().empty());
}

// An images/labels pair written to dir; labels as given, images [labels.size(), 2, 2].
std::pair<std::string, std::string> mnist_pair(const TempDir& dir, const std::vector<double>& labels, int64_t images) {
  write_idx(dir.file("images.gz"), bytes_tensor({images, 2, 2}));
  write_idx(dir.file("labels.gz"), from_vector(labels, {.dtype = kUInt8}));
  return {dir.file("images.gz"), dir.file("labels.gz")};
}

TEST(Mnist, ReadsImagesAndInt64Labels) {
  TempDir dir;
  const auto [images, labels] = mnist_pair(dir, {3, 0, 9}, 3);
  const MnistData data = read_mnist(images, labels);
  EXPECT_TRUE(same(data.images, bytes_tensor({3, 2, 2})));
  EXPECT_TRUE(same(data.labels, from_vector({3, 0, 9}, {.dtype = kInt64})));
}

TEST(Mnist, MismatchesNameBothFiles) {
  TempDir dir;
  auto [images, labels] = mnist_pair(dir, {1, 2}, 3);
  EXPECT_THAT(error_of<std::runtime_error>([&] { read_mnist(images, labels); }),
              AllOf(HasSubstr("3 images but 2 labels"), HasSubstr(images), HasSubstr(labels)));
  std::tie(images, labels) = mnist_pair(dir, {1, 10, 2}, 3);
  EXPECT_THAT(error_of<std::runtime_error>([&] { read_mnist(images, labels); }),
              AllOf(HasSubstr("label 10 at index 1 is outside 0..9"), HasSubstr(images), HasSubstr(labels)));
  EXPECT_THAT(error_of<std::runtime_error>([&] { read_mnist(labels, labels); }),
              AllOf(HasSubstr("must be 3-d [N, H, W], got [3]"), HasSubstr(labels)));
  EXPECT_THAT(error_of<std::runtime_error>([&] { read_mnist(images, images); }),
              AllOf(HasSubstr("must be 1-d [N], got [3, 2, 2]"), HasSubstr(images)));
}

}  // namespace
}  // namespace scorch
