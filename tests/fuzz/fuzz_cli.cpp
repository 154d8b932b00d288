// fuzz_cli: the apps' command lines. The input is split at spaces, tabs and newlines into argv words
// and given to parse_mnist_flags and to parse_gmm_flags (apps/{mnist,gmm}/config.h). UsageError (a bad
// flag; the apps print it and exit with code 2) and nullopt (--help, printed) are the expected answers;
// a crash, a sanitizer report or another exception (which would end the app with std::terminate) is a
// bug. stdout goes to /dev/null: --help prints the usage each time the fuzzer finds it.
//
// NOTE: an input with a word containing "--config" is skipped: its value names a file to read, and the
// fuzzer must not open /dev/zero or /dev/stdin. The config file's parser has its own target,
// fuzz_mnist_config.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "apps/gmm/config.h"
#include "apps/mnist/config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!std::freopen("/dev/null", "w", stdout)) return 1;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> words = {"app"};
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = std::min(text.find_first_of(" \t\n", pos), text.size());
    if (end > pos) words.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  for (const std::string& w : words)
    if (w.find("--config") != std::string::npos) return 0;
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(words.size());
  try {
    scorch::app::parse_mnist_flags(argc, argv.data());
  } catch (const scorch::app::UsageError&) {}
  try {
    scorch::app::parse_gmm_flags(argc, argv.data());
  } catch (const scorch::app::UsageError&) {}
  return 0;
}
