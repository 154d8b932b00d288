// fuzz_mnist_config: parse_mnist_toml (apps/mnist/config.h), the reader of `mnist --config FILE` and
// of the config.toml that training writes, on any text. UsageError starting with the file name is the
// expected answer to bad input. Whatever parses is written back with mnist_toml and parsed again, and
// must give the same settings: that is what `--resume` relies on. A crash, a sanitizer report, another
// exception or a round-trip mismatch is a bug.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "apps/mnist/config.h"

using scorch::app::MnistConfig;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz.toml";
  MnistConfig config;
  try {
    config = scorch::app::parse_mnist_toml(std::string(reinterpret_cast<const char*>(data), size), name);
  } catch (const scorch::app::UsageError& e) {
    if (std::string_view(e.what()).substr(0, name.size()) != name) {
      std::fprintf(stderr, "fuzz_mnist_config: error does not start with the file name: %s\n", e.what());
      std::abort();
    }
    return 0;
  }
  const std::string written = scorch::app::mnist_toml(config);
  if (scorch::app::parse_mnist_toml(written, "written.toml") != config) {  // must not throw either
    std::fprintf(stderr, "fuzz_mnist_config: the settings written back read differently:\n%s\n", written.c_str());
    std::abort();
  }
  return 0;
}
