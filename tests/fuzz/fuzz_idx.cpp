// fuzz_idx: parse_idx (tensor/idx.h) on any bytes, plain or gzip. A clear std::runtime_error is the
// expected answer to bad input; anything else (a crash, a sanitizer report, another exception) is a bug.
// Plain inputs are also gzip-compressed here and parsed again: both ways must agree, so the gzip path
// sees every IDX header the fuzzer makes, not only the few that survive a mutated CRC.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tensor/idx.h"

namespace {

std::string gzip(std::string_view in) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// The tensor, or nullopt for a clear error.
std::optional<scorch::Tensor> parse(std::string_view bytes, const std::string& name) {
  try {
    return scorch::parse_idx(bytes, name);
  } catch (const std::runtime_error& e) {
    if (std::string_view(e.what()).substr(0, name.size()) != name) {
      std::fprintf(stderr, "error does not start with the file name %s: %s\n", name.c_str(), e.what());
      std::abort();
    }
    return std::nullopt;
  }
}

bool same(const scorch::Tensor& a, const scorch::Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), static_cast<size_t>(a.numel())) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::optional<scorch::Tensor> plain = parse(bytes, "fuzz.idx");
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return 0;  // already gzip
  const std::optional<scorch::Tensor> inflated = parse(gzip(bytes), "fuzz.idx.gz");
  if (plain.has_value() != inflated.has_value() || (plain && !same(*plain, *inflated))) {
    std::fprintf(stderr, "plain and gzip parses disagree: %s vs %s\n", plain ? "tensor" : "error",
                 inflated ? "tensor" : "error");
    std::abort();
  }
  return 0;
}
