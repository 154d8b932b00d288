#include "tensor/idx.h"

#include <zlib.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "tensor/file_io.h"

namespace scorch {
namespace {

constexpr uint8_t kTypeUnsignedByte = 0x08;
constexpr int kMaxIdxDims = 4;

bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && uint8_t(bytes[0]) == 0x1f && uint8_t(bytes[1]) == 0x8b;
}

std::string hex_byte(uint8_t b) {
  char text[5];
  std::snprintf(text, sizeof text, "0x%02x", b);
  return text;
}

std::string type_name(uint8_t type) {
  switch (type) {
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

// The inflated bytes of a gzip file. windowBits 15 + 16 makes zlib expect a gzip header and check the
// CRC-32 and length in the trailer; a truncated stream shows as input running out before Z_STREAM_END.
std::string gunzip(std::string_view in, const std::string& path) {
  if (in.size() > UINT_MAX) throw std::runtime_error(path + ": gzip file over 4 GiB is not supported");
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw std::runtime_error(path + ": zlib inflateInit2 failed");
  struct InflateEnd {
    z_stream* zs;
    ~InflateEnd() { inflateEnd(zs); }
  } end{&zs};
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  std::vector<char> buffer(1 << 18);
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer.data());
    zs.avail_out = static_cast<uInt>(buffer.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buffer.data(), buffer.size() - zs.avail_out);
    if (rc == Z_OK) continue;
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) return out;
      // Another member (`cat a.gz b.gz`), which gunzip reads as the concatenation.
      if (is_gzip(std::string_view(reinterpret_cast<const char*>(zs.next_in), zs.avail_in))) {
        inflateReset(&zs);
        continue;
      }
      throw std::runtime_error(path + ": " + std::to_string(zs.avail_in) + " bytes after the end of the gzip stream");
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0)
      throw std::runtime_error(path + ": truncated gzip stream (the file ends after " + std::to_string(in.size()) +
                               " compressed bytes, " + std::to_string(out.size()) + " inflated)");
    throw std::runtime_error(path + ": corrupt gzip stream: " + (zs.msg ? zs.msg : "zlib error " + std::to_string(rc)));
  }
}

// A gzip file holding `in`, in one deflate call into a buffer of deflateBound's worst-case size.
std::string gzip_bytes(std::string_view in, const std::string& path) {
  if (in.size() > UINT_MAX) throw std::invalid_argument("write_idx: " + path + ": over 4 GiB of data");
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error(path + ": zlib deflateInit2 failed");
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error(path + ": zlib deflate failed (" + std::to_string(rc) + ")");
  return out;
}

// The plain IDX file in `bytes` as a uint8 tensor; `inflated`: `bytes` came out of a gzip file.
Tensor parse_plain_idx(std::string_view bytes, const std::string& path, bool inflated) {
  const std::string what = inflated ? path + " (inflated)" : path;
  if (bytes.size() < 4)
    throw std::runtime_error(what + ": too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  if (byte(0) != 0 || byte(1) != 0)
    throw std::runtime_error(what + ": not an IDX file: it starts with " + hex_byte(byte(0)) + " " + hex_byte(byte(1)) +
                             ", not two zero bytes" +
                             (inflated ? "" : " (nor is it gzip-compressed)"));
  if (byte(2) != kTypeUnsignedByte)
    throw std::runtime_error(what + ": IDX type byte " + hex_byte(byte(2)) + " (" + type_name(byte(2)) +
                             ") is not supported: only unsigned-byte IDX (0x08) is supported");
  const int ndims = byte(3);
  if (ndims < 1 || ndims > kMaxIdxDims)
    throw std::runtime_error(what + ": IDX file has " + std::to_string(ndims) + " dimensions; 1 to " +
                             std::to_string(kMaxIdxDims) + " are supported");
  const size_t data_start = 4 + 4 * size_t(ndims);
  if (bytes.size() < data_start)
    throw std::runtime_error(what + ": truncated IDX header: " + std::to_string(ndims) + " dimensions need " +
                             std::to_string(data_start) + " bytes, the file has " + std::to_string(bytes.size()));
  std::vector<uint64_t> dims(ndims);
  for (int d = 0; d < ndims; ++d) {
    for (int k = 0; k < 4; ++k) dims[d] = dims[d] << 8 | byte(4 + 4 * d + k);
    if (dims[d] == 0) throw std::runtime_error(what + ": IDX dimension " + std::to_string(d) + " is 0");
  }
  const Shape shape = checked_shape(dims, kUInt8, what);  // 4 dims of up to 2^32 - 1 may overflow 64 bits
  const uint64_t expected = static_cast<uint64_t>(shape.numel());
  const uint64_t have = bytes.size() - data_start;
  if (have < expected)
    throw std::runtime_error(what + ": truncated: expected " + std::to_string(expected) + " bytes of data for " +
                             to_string(shape) + ", got " + std::to_string(have));
  if (have > expected)
    throw std::runtime_error(what + ": " + std::to_string(have - expected) + " trailing bytes after the " +
                             std::to_string(expected) + " bytes of data for " + to_string(shape));
  return tensor_from_bytes(bytes.substr(data_start), shape, kUInt8);
}

}  // namespace

Tensor read_idx(const std::string& path) { return parse_idx(read_file(path), path); }

Tensor parse_idx(std::string_view bytes, const std::string& name) {
  if (is_gzip(bytes)) return parse_plain_idx(gunzip(bytes, name), name, /*inflated=*/true);
  return parse_plain_idx(bytes, name, /*inflated=*/false);
}

void write_idx(const std::string& path, const Tensor& t, bool gzip) {
  check_savable(t, "write_idx: " + path);
  if (t.dtype() != kUInt8)
    throw std::invalid_argument("write_idx: " + path + ": IDX files hold uint8 tensors, got " + describe(t));
  if (t.dim() < 1 || t.dim() > kMaxIdxDims)
    throw std::invalid_argument("write_idx: " + path + ": needs 1 to " + std::to_string(kMaxIdxDims) +
                                " dimensions, got " + describe(t));
  std::string bytes = {'\0', '\0', static_cast<char>(kTypeUnsignedByte), static_cast<char>(t.dim())};
  for (int64_t d : t.shape()) {
    if (d < 1 || d > int64_t{UINT32_MAX})
      throw std::invalid_argument("write_idx: " + path + ": every dimension must be 1 to 2^32 - 1, got " + describe(t));
    for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>((d >> shift) & 0xff);
  }
  append_tensor_bytes(bytes, t);
  write_file_atomic(path, gzip ? gzip_bytes(bytes, path) : bytes);
}

MnistData read_mnist(const std::string& images_path, const std::string& labels_path) {
  MnistData data{read_idx(images_path), Tensor()};
  const Tensor labels = read_idx(labels_path);
  const std::string both = " (images " + images_path + ", labels " + labels_path + ")";
  if (data.images.dim() != 3)
    throw std::runtime_error(images_path + ": MNIST images must be 3-d [N, H, W], got " + to_string(data.images.shape()) + both);
  if (labels.dim() != 1)
    throw std::runtime_error(labels_path + ": MNIST labels must be 1-d [N], got " + to_string(labels.shape()) + both);
  if (labels.size(0) != data.images.size(0))
    throw std::runtime_error("MNIST files do not match: " + std::to_string(data.images.size(0)) + " images but " +
                             std::to_string(labels.size(0)) + " labels" + both);
  data.labels = empty(labels.shape(), {.dtype = kInt64});
  const uint8_t* in = labels.data<uint8_t>();
  int64_t* out = data.labels.data<int64_t>();
  for (int64_t i = 0; i < labels.numel(); ++i) {
    if (in[i] > 9)
      throw std::runtime_error(labels_path + ": label " + std::to_string(in[i]) + " at index " + std::to_string(i) +
                               " is outside 0..9" + both);
    out[i] = in[i];
  }
  return data;
}

}  // namespace scorch
