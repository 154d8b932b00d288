// fuzz_npy: parse_npy (tensor/npy.h) on any bytes; whatever parses is written back with npy_bytes and
// read again, and must come back identical (dtype, shape, every byte), and npy_bytes of that must be
// the same file again. A std::runtime_error starting with the file name is the expected answer to bad
// input; a crash, a sanitizer report, another exception or a round-trip mismatch is a bug.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tensor/npy.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_npy: %s\n", what);
  std::abort();
}

bool same(const scorch::Tensor& a, const scorch::Tensor& b) {
  const size_t nbytes = static_cast<size_t>(a.numel()) * scorch::dtype_size(a.dtype());
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (nbytes == 0 || std::memcmp(a.raw_data(), b.raw_data(), nbytes) == 0);  // empty: no data pointer
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz.npy";
  scorch::Tensor t;
  try {
    t = scorch::parse_npy(std::string_view(reinterpret_cast<const char*>(data), size), name);
  } catch (const std::runtime_error& e) {
    if (std::string_view(e.what()).substr(0, name.size()) != name) fail(e.what());  // must name the file
    return 0;
  }
  const std::string written = scorch::npy_bytes(t);
  const scorch::Tensor back = scorch::parse_npy(written, "written.npy");  // must not throw
  if (!same(t, back)) fail("round trip changed the array");
  if (scorch::npy_bytes(back) != written) fail("writing the array read back gave other bytes");
  return 0;
}
