// fuzz_safetensors: parse_safetensors (nn/safetensors.h) on any bytes. A std::runtime_error starting
// with the file name is the expected answer to bad input; a crash, a sanitizer report or another
// exception (nlohmann::json's own, say) is a bug. What parses must account for every byte of the file.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "nn/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz.safetensors";
  try {
    const scorch::nn::SafetensorsFile file =
        scorch::nn::parse_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), name);
    // The header and its length take at least 8 + 2 ("{}") bytes; the tensors tile the rest.
    size_t nbytes = 10;
    for (const auto& [key, t] : file.tensors) nbytes += static_cast<size_t>(t.numel()) * scorch::dtype_size(t.dtype());
    if (nbytes > size) {
      std::fprintf(stderr, "fuzz_safetensors: %zu bytes of tensors in a %zu-byte file\n", nbytes, size);
      std::abort();
    }
  } catch (const std::runtime_error& e) {
    if (std::string_view(e.what()).substr(0, name.size()) != name) {
      std::fprintf(stderr, "fuzz_safetensors: error does not start with the file name: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
