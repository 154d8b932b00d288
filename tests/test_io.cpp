// File formats: atomic writes (tensor/file_io.h), NumPy .npy (tensor/npy.h) and safetensors
// checkpoints (nn/safetensors.h). Round trips per dtype (0-d, empty, transposed views), files laid out
// byte for byte as numpy and the safetensors spec lay them out, and one test per kind of corruption,
// each checking that the error names the file and, where there is one, the tensor.
#include <gmock/gmock.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "nn/safetensors.h"
#include "tensor/file_io.h"
#include "tensor/npy.h"
#include "temp_dir.h"
#include "test_util.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using testing::error_of;
using ::testing::HasSubstr;
using testing::TempDir;

// Distinct, exactly representable values for every dtype (uint8 wraps at 256).
Tensor sample(const Shape& shape, DType dtype) {
  std::vector<double> v(shape.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = dtype == kUInt8 ? (i * 37) % 256 : (double(i) - 3.0) * 0.375;
  if (dtype == kInt64)
    for (double& x : v) x = x * 8e12;  // beyond 32 bits
  return from_vector(v, shape, {.dtype = dtype});
}

::testing::AssertionResult same(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(got.dtype()) << " vs " << dtype_name(want.dtype());
  return testing::all_close(got, want, {.rtol = 0, .atol = 0});
}

std::string le_bytes(uint64_t value, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

template <typename T>
std::string raw_bytes(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

constexpr DType kAllDtypes[] = {kFloat32, kFloat64, kInt64, kUInt8};

TEST(FileIo, ReplacesTheTargetAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  write_file_atomic(path, "old contents, longer than the new");
  write_file_atomic(path, std::string("new\0bytes", 9));
  EXPECT_EQ(read_file(path), std::string("new\0bytes", 9));
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"a.bin"});
}

TEST(FileIo, MissingDirectoryGivesClearError) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/a.bin");
  EXPECT_THAT(error_of<std::runtime_error>([&] { write_file_atomic(path, "x"); }),
              AllOf(HasSubstr(path), HasSubstr("No such file or directory")));
  EXPECT_THAT(error_of<std::runtime_error>([&] { read_file(path); }),
              AllOf(HasSubstr(path), HasSubstr("No such file or directory")));
}

TEST(FileIo, ReadOnlyDirectoryGivesClearError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root may write into a read-only directory";
  TempDir dir;
  fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
  const std::string path = dir.file("a.bin");
  EXPECT_THAT(error_of<std::runtime_error>([&] { write_file_atomic(path, "x"); }),
              AllOf(HasSubstr(path), HasSubstr("Permission denied")));
}

TEST(FileIo, FailedRenameRemovesTheTemporaryFileAndKeepsTheTarget) {
  TempDir dir;
  fs::create_directories(dir.path() / "target" / "child");  // rename(2) cannot replace a non-empty directory
  const std::string path = dir.file("target");
  EXPECT_THAT(error_of<std::runtime_error>([&] { write_file_atomic(path, "x"); }),
              AllOf(HasSubstr(path), HasSubstr("renaming")));
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"target"});
  EXPECT_TRUE(fs::is_directory(dir.path() / "target" / "child"));
}

TEST(Npy, RoundTripsEveryDtypeAndShape) {
  TempDir dir;
  const std::vector<Shape> shapes = {{}, {0}, {5}, {2, 3}, {0, 4}, {2, 3, 4}};
  for (DType dtype : kAllDtypes)
    for (const Shape& shape : shapes) {
      const Tensor t = sample(shape, dtype);
      save_npy(dir.file("t.npy"), t);
      EXPECT_TRUE(same(load_npy(dir.file("t.npy")), t)) << dtype_name(dtype) << " " << shape;
    }
}

TEST(Npy, WritesTransposedViewInRowMajorOrder) {
  TempDir dir;
  const Tensor t = sample({2, 3}, kFloat32).transpose(0, 1);
  ASSERT_FALSE(t.is_contiguous());
  save_npy(dir.file("t.npy"), t);
  EXPECT_TRUE(same(load_npy(dir.file("t.npy")), t));
}

// The bytes numpy 1.24 writes for np.save(f, np.array([[1, 2], [3, 4], [5, 6]], np.float32)) and for
// np.save(f, np.float64(2.5)): the dict, spaces up to a multiple of 64 bytes, '\n', the data.
TEST(Npy, WritesWhatNumpyWrites) {
  TempDir dir;
  const auto numpy_file = [](const std::string& dict, int header_len, const std::string& data) {
    return std::string("\x93NUMPY\x01\x00", 8) + le_bytes(header_len, 2) + dict +
           std::string(header_len - 1 - dict.size(), ' ') + "\n" + data;
  };
  save_npy(dir.file("a.npy"), from_vector({1, 2, 3, 4, 5, 6}, {3, 2}));
  EXPECT_EQ(read_file(dir.file("a.npy")), numpy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 118,
                                                     raw_bytes<float>({1, 2, 3, 4, 5, 6})));
  save_npy(dir.file("b.npy"), scalar_tensor(2.5, {.dtype = kFloat64}));
  EXPECT_EQ(read_file(dir.file("b.npy")),
            numpy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 118, raw_bytes<double>({2.5})));
}

TEST(Npy, CorruptFilesGiveClearErrors) {
  TempDir dir;
  const auto npy = [](const std::string& dict, const std::string& data, char major = 1) {
    return std::string("\x93NUMPY", 6) + major + '\0' + le_bytes(dict.size() + 1, 2) + dict + "\n" + data;
  };
  const std::string f4 = raw_bytes<float>({1, 2});
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"PK\x03\x04 not numpy", "not a .npy file"},
      {npy(ok, f4, 3), "version 3.0 is not supported"},
      {npy(ok, f4).substr(0, 30), "runs past the end of the file"},
      {npy("{'descr': '<f4', 'fortran_order': False}", f4), "are all required"},
      {npy("{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", f4), "expected '}'"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", f4), "expected a non-negative integer"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", f4), "unexpected or repeated key"},
      {npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f4), "dtype '>f4' is not supported"},
      {npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", f4), "fortran_order is True"},
      {npy(ok, f4.substr(0, 7)), "has 7 bytes of data, but [2] float32 needs 8"},
      {npy(ok, f4 + "xx"), "has 10 bytes of data"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", ""), "too large"},
  };
  for (const auto& [bytes, message] : cases) {
    write_file_atomic(dir.file("bad.npy"), bytes);
    EXPECT_THAT(error_of<std::runtime_error>([&] { load_npy(dir.file("bad.npy")); }),
                AllOf(HasSubstr(dir.file("bad.npy")), HasSubstr(message)));
  }
}

// A safetensors file from its header text and data section, as the spec lays them out.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return le_bytes(header.size(), 8) + header + data;
}

// Writes a hand-made file and returns the message load_safetensors throws for it.
std::string load_error(const TempDir& dir, const std::string& bytes) {
  write_file_atomic(dir.file("bad.safetensors"), bytes);
  return error_of<std::runtime_error>([&] { nn::load_safetensors(dir.file("bad.safetensors")); });
}

TEST(Safetensors, RoundTripsDtypesMetadataScalarsAndViews) {
  TempDir dir;
  const std::map<std::string, Tensor> tensors = {
      {"a.f32", sample({2, 3}, kFloat32)},   {"b.f64", sample({}, kFloat64)},
      {"c.i64", sample({4}, kInt64)},        {"d.u8", sample({2, 2, 5}, kUInt8)},
      {"e.empty", sample({0, 3}, kFloat32)}, {"f.transposed", sample({3, 2}, kFloat64).transpose(0, 1)}};
  const std::map<std::string, std::string> metadata = {{"step", "2000"}, {"note", "σ_min = 0.01"}};
  nn::save_safetensors(dir.file("m.safetensors"), tensors, metadata);
  const nn::SafetensorsFile file = nn::load_safetensors(dir.file("m.safetensors"));
  EXPECT_EQ(file.metadata, metadata);
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) EXPECT_TRUE(same(file.tensors.at(name), t)) << name;
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"m.safetensors"});
}

// Tensors back to back in name order, compact JSON padded with spaces to a multiple of 8.
TEST(Safetensors, WritesTheReferenceLayout) {
  TempDir dir;
  nn::save_safetensors(dir.file("m.safetensors"), {{"b", from_vector({1.5, -2}, {.dtype = kFloat32})},
                                                   {"a", from_vector({7, 8, 9}, {.dtype = kUInt8})}});
  const std::string header = R"({"a":{"data_offsets":[0,3],"dtype":"U8","shape":[3]},)"
                             R"("b":{"data_offsets":[3,11],"dtype":"F32","shape":[2]}})";
  ASSERT_EQ(header.size(), 107u);  // + 5 spaces = 112
  EXPECT_EQ(read_file(dir.file("m.safetensors")),
            safetensors_bytes(header + "     ", std::string("\x07\x08\x09", 3) + raw_bytes<float>({1.5f, -2.0f})));
}

// Assembled by hand from the spec: other writers order keys as they like and put metadata anywhere.
TEST(Safetensors, ReadsHandAssembledGoldenFile) {
  TempDir dir;
  const std::string header = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]},)"
                             R"( "__metadata__":{"format":"pt"}, "n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})";
  const std::string data =
      std::string("\xfe\xff\xff\xff\xff\xff\xff\xff", 8)                                      // int64 -2
      + std::string("\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40", 16);  // 1, 2, 3, 4
  write_file_atomic(dir.file("golden.safetensors"), safetensors_bytes(header, data));
  const nn::SafetensorsFile file = nn::load_safetensors(dir.file("golden.safetensors"));
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_TRUE(same(file.tensors.at("w"), from_vector({1, 2, 3, 4}, {2, 2})));
  EXPECT_TRUE(same(file.tensors.at("n"), scalar_tensor(-2, {.dtype = kInt64})));
}

TEST(Safetensors, FileShorterThanTheLengthField) {
  TempDir dir;
  EXPECT_THAT(load_error(dir, std::string("\x10\x00\x00", 3)),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("shorter than the 8-byte")));
}

TEST(Safetensors, TruncatedHeader) {
  TempDir dir;
  const std::string bytes = safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "abcd");
  EXPECT_THAT(load_error(dir, bytes.substr(0, 20)),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("runs past the end of the file")));
}

TEST(Safetensors, AbsurdHeaderLength) {
  TempDir dir;
  EXPECT_THAT(load_error(dir, le_bytes(uint64_t{1} << 40, 8) + "{}"),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("absurd")));
}

TEST(Safetensors, TruncatedData) {
  TempDir dir;
  nn::save_safetensors(dir.file("m.safetensors"), {{"a", sample({2}, kFloat64)}, {"z.last", sample({3}, kFloat32)}});
  const std::string bytes = read_file(dir.file("m.safetensors"));
  EXPECT_THAT(load_error(dir, bytes.substr(0, bytes.size() - 5)),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("\"z.last\""), HasSubstr("run past the end")));
}

TEST(Safetensors, BadJson) {
  TempDir dir;
  EXPECT_THAT(load_error(dir, safetensors_bytes(R"({"w":{"dtype":"F32",)", "")),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("not valid JSON")));
}

TEST(Safetensors, HeaderNotAnObject) {
  TempDir dir;
  EXPECT_THAT(load_error(dir, safetensors_bytes("[1, 2]", "")),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("must be a JSON object")));
}

TEST(Safetensors, MissingField) {
  TempDir dir;
  EXPECT_THAT(load_error(dir, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1]}})", "abcd")),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("\"w\""), HasSubstr("missing \"data_offsets\"")));
}

TEST(Safetensors, NegativeDimension) {
  TempDir dir;
  EXPECT_THAT(load_error(dir, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd")),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("\"w\""), HasSubstr("non-negative integers")));
}

TEST(Safetensors, UnknownDtype) {
  TempDir dir;
  EXPECT_THAT(load_error(dir, safetensors_bytes(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", "abcd")),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("\"w\""), HasSubstr("\"F16\" is not supported")));
}

TEST(Safetensors, WrongSizeForShape) {
  TempDir dir;
  const std::string data(20, '\0');
  EXPECT_THAT(load_error(dir, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", data)),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("\"w\""),
                    HasSubstr("hold 20 bytes, but F32 [2, 3] needs 24")));
}

TEST(Safetensors, OverlappingOffsets) {
  TempDir dir;
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_THAT(
      load_error(dir, safetensors_bytes(header, std::string(12, '\0'))),
      AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("\"b\": data_offsets [4, 12] overlap tensor \"a\"")));
}

TEST(Safetensors, OffsetsPastTheEnd) {
  TempDir dir;
  EXPECT_THAT(load_error(dir, safetensors_bytes(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", "abcd")),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("\"w\""),
                    HasSubstr("run past the end of the data section")));
}

TEST(Safetensors, GapBetweenTensors) {
  TempDir dir;
  const std::string header = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                             R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})";
  EXPECT_THAT(load_error(dir, safetensors_bytes(header, "abcdef")),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("\"b\""), HasSubstr("gap of 2 bytes")));
}

TEST(Safetensors, TrailingBytes) {
  TempDir dir;
  EXPECT_THAT(
      load_error(dir, safetensors_bytes(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "abcd")),
      AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("2 bytes after tensor \"w\" belong to no tensor")));
}

TEST(Safetensors, MetadataValueNotAString) {
  TempDir dir;
  EXPECT_THAT(load_error(dir, safetensors_bytes(R"({"__metadata__":{"step":2000}})", "")),
              AllOf(HasSubstr(dir.file("bad.safetensors")), HasSubstr("\"step\" must be a string")));
}

// A module with dotted names, as a model has: net.weight [3, in] and net.bias [3].
class Outer : public nn::Module {
 public:
  explicit Outer(int64_t in) { register_module("net", std::make_shared<Inner>(in)); }

 private:
  struct Inner : nn::Module {
    explicit Inner(int64_t in) {
      register_parameter("weight", sample({3, in}, kFloat32));
      register_parameter("bias", sample({3}, kFloat32));
    }
  };
};

TEST(Safetensors, ModuleRoundTrip) {
  TempDir dir;
  Outer saved(2), loaded(2);
  for (const Tensor& p : loaded.parameters()) p.detach().fill_(0);
  nn::save_module(dir.file("model.safetensors"), saved, {{"step", "7"}});
  nn::load_module(dir.file("model.safetensors"), loaded);
  for (const auto& [name, t] : saved.state_dict()) EXPECT_TRUE(same(loaded.state_dict().at(name), t)) << name;
  EXPECT_EQ(nn::load_safetensors(dir.file("model.safetensors")).metadata.at("step"), "7");
}

TEST(Safetensors, ModuleShapeMismatch) {
  TempDir dir;
  Outer saved(2), loaded(4);
  nn::save_module(dir.file("model.safetensors"), saved);
  EXPECT_THAT(error_of<std::invalid_argument>([&] { nn::load_module(dir.file("model.safetensors"), loaded); }),
              AllOf(HasSubstr(dir.file("model.safetensors")), HasSubstr("net.weight is [3, 2] in the file"),
                    HasSubstr("[3, 4] in the model")));
}

TEST(Safetensors, ModuleMissingAndExtraEntries) {
  TempDir dir;
  Outer loaded(2);
  nn::save_safetensors(dir.file("model.safetensors"),
                       {{"net.weight", sample({3, 2}, kFloat32)}, {"net.extra", sample({1}, kFloat32)}});
  EXPECT_THAT(error_of<std::invalid_argument>([&] { nn::load_module(dir.file("model.safetensors"), loaded); }),
              AllOf(HasSubstr(dir.file("model.safetensors")), HasSubstr("missing net.bias"),
                    HasSubstr("unexpected net.extra")));
}

}  // namespace
}  // namespace scorch
