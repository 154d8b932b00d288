#include "tensor/idx.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
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

// A gzip file's bytes, inflated on demand, so that what we hold is bounded by what the IDX header
// promises, never by what a gzip bomb inflates to. windowBits 15 + 16 makes zlib expect a gzip header
// and check the CRC-32 and length in the trailer; a truncated stream shows as input running out before
// Z_STREAM_END.
class Gunzip {
 public:
  Gunzip(std::string_view in, const std::string& path) : path_(path), compressed_(in.size()) {
    if (in.size() > UINT_MAX) throw std::runtime_error(path + ": gzip file over 4 GiB is not supported");
    if (inflateInit2(&zs_, 15 + 16) != Z_OK) throw std::runtime_error(path + ": zlib inflateInit2 failed");
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = static_cast<uInt>(in.size());
  }
  ~Gunzip() { inflateEnd(&zs_); }
  Gunzip(const Gunzip&) = delete;
  Gunzip& operator=(const Gunzip&) = delete;

  // Inflates up to n bytes into out; fewer only where the last gzip member ends.
  uint64_t read(char* out, uint64_t n) {
    uint64_t got = 0;
    while (got < n && !done_) {
      zs_.next_out = reinterpret_cast<Bytef*>(out + got);
      zs_.avail_out = static_cast<uInt>(std::min<uint64_t>(n - got, UINT_MAX));
      const uInt before = zs_.avail_out;
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      got += before - zs_.avail_out;
      inflated_ += before - zs_.avail_out;
      if (rc == Z_OK) continue;
      if (rc == Z_STREAM_END) {
        if (zs_.avail_in == 0) done_ = true;
        // Another member (`cat a.gz b.gz`), which gunzip reads as the concatenation.
        else if (is_gzip(std::string_view(reinterpret_cast<const char*>(zs_.next_in), zs_.avail_in)))
          inflateReset(&zs_);
        else
          throw std::runtime_error(path_ + ": " + std::to_string(zs_.avail_in) +
                                   " bytes after the end of the gzip stream");
        continue;
      }
      if (rc == Z_BUF_ERROR && zs_.avail_in == 0)
        throw std::runtime_error(path_ + ": truncated gzip stream (the file ends after " + std::to_string(compressed_) +
                                 " compressed bytes, " + std::to_string(inflated_) + " inflated)");
      throw std::runtime_error(path_ +
                               ": corrupt gzip stream: " + (zs_.msg ? zs_.msg : "zlib error " + std::to_string(rc)));
    }
    return got;
  }

 private:
  std::string path_;
  uint64_t compressed_, inflated_ = 0;
  z_stream zs_{};
  bool done_ = false;
};

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

struct IdxHeader {
  Shape shape;
  size_t size;  // bytes, where the data starts
};

// The header at the start of `bytes` (which may hold more), checked; `what` names the file in errors.
IdxHeader parse_header(std::string_view bytes, const std::string& what, bool inflated) {
  if (bytes.size() < 4)
    throw std::runtime_error(what + ": too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  if (byte(0) != 0 || byte(1) != 0)
    throw std::runtime_error(what + ": not an IDX file: it starts with " + hex_byte(byte(0)) + " " + hex_byte(byte(1)) +
                             ", not two zero bytes" + (inflated ? "" : " (nor is it gzip-compressed)"));
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
  // 4 dims of up to 2^32 - 1 may overflow 64 bits
  return {checked_shape(dims, kUInt8, what), data_start};
}

std::string truncated(const std::string& what, const Shape& shape, uint64_t have) {
  return what + ": truncated: expected " + std::to_string(shape.numel()) + " bytes of data for " + to_string(shape) +
         ", got " + std::to_string(have);
}

std::string more_data(const std::string& what, const Shape& shape) {
  return what + ": more data than the header's dims " + to_string(shape) + " hold (" + std::to_string(shape.numel()) +
         " bytes)";
}

// An uninitialised uint8 tensor for the file's data; an allocation failure becomes an error naming it.
Tensor allocate(const Shape& shape, const std::string& path) {
  try {
    return empty(shape, {.dtype = kUInt8});
  } catch (const std::bad_alloc&) {
    throw out_of_memory(path, static_cast<uint64_t>(shape.numel()));
  }
}

Tensor parse_plain_idx(std::string_view bytes, const std::string& path) {
  const IdxHeader h = parse_header(bytes, path, /*inflated=*/false);
  const uint64_t expected = static_cast<uint64_t>(h.shape.numel());
  const uint64_t have = bytes.size() - h.size;
  if (have < expected) throw std::runtime_error(truncated(path, h.shape, have));
  if (have > expected)
    throw std::runtime_error(more_data(path, h.shape) + ": " + std::to_string(have - expected) + " trailing bytes");
  Tensor t = allocate(h.shape, path);
  std::memcpy(t.raw_data(), bytes.data() + h.size, expected);
  return t;
}

// NOTE: deflate's best ratio is 1032:1 (a 258-byte match in 2 bits; https://zlib.net/zlib_tech.html),
// so `n` gzip bytes never inflate to more than 1032 n. A header promising more lies, and must not make
// us allocate what it promises.
constexpr uint64_t kMaxDeflateRatio = 1032;

// Inflates the header, then exactly the data it promises, then looks for one byte more: a gzip bomb
// behind a small header costs what the header promises, not what the bomb inflates to.
Tensor parse_gzip_idx(std::string_view bytes, const std::string& path) {
  const std::string what = path + " (inflated)";
  Gunzip gz(bytes, path);
  std::string head(4 + 4 * kMaxIdxDims, '\0');
  uint64_t n = gz.read(head.data(), 4);
  const int ndims = static_cast<uint8_t>(head[3]);
  if (n == 4 && ndims >= 1 && ndims <= kMaxIdxDims) n += gz.read(head.data() + 4, 4 * uint64_t(ndims));
  head.resize(n);
  const Shape shape = parse_header(head, what, /*inflated=*/true).shape;
  const uint64_t expected = static_cast<uint64_t>(shape.numel());
  if (expected / kMaxDeflateRatio > bytes.size())
    throw std::runtime_error(what + ": truncated: the header's dims " + to_string(shape) + " promise " +
                             std::to_string(expected) + " bytes of data, more than a file of " +
                             std::to_string(bytes.size()) + " gzip bytes can inflate to (deflate's limit is 1032:1)");
  Tensor t = allocate(shape, path);
  const uint64_t have = gz.read(static_cast<char*>(t.raw_data()), expected);
  if (have < expected) throw std::runtime_error(truncated(what, shape, have));
  char extra;
  if (gz.read(&extra, 1) > 0) throw std::runtime_error(more_data(what, shape));
  return t;
}

}  // namespace

Tensor read_idx(const std::string& path) { return parse_idx(read_file(path), path); }

Tensor parse_idx(std::string_view bytes, const std::string& name) {
  return is_gzip(bytes) ? parse_gzip_idx(bytes, name) : parse_plain_idx(bytes, name);
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
    throw std::runtime_error(images_path + ": MNIST images must be 3-d [N, H, W], got " +
                             to_string(data.images.shape()) + both);
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
