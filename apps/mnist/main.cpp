// mnist: train a score model on MNIST digits (or Fashion-MNIST) and sample from it.
//   build/bin/mnist                    train unet-small with early stopping into model_weights/
//   build/bin/mnist --inference_only   draw images from model_weights/best.safetensors into model_samples/
// Settings: build/bin/mnist --help; what each mode does: apps/mnist/app.h.
#include <cstdio>
#include <new>
#include <optional>

#include "apps/common/profile.h"
#include "apps/common/signals.h"
#include "apps/mnist/app.h"

int main(int argc, char** argv) {
  scorch::app::ignore_file_size_signal();  // ulimit -f: an error naming the file, not a silent death
  std::optional<scorch::app::ParsedFlags> flags;
  try {
    flags = scorch::app::parse_mnist_flags(argc, argv);
  } catch (const scorch::app::UsageError& e) {
    std::fprintf(stderr, "mnist: %s\n", e.what());
    return 2;
  }
  if (!flags) return 0;  // --help
  const scorch::app::MnistConfig& c = flags->config;
  try {
    if (!c.profile.empty()) scorch::app::prepare_output_file("--profile", c.profile);
    if (!c.dump_graph.empty()) scorch::app::prepare_output_file("--dump-graph", c.dump_graph);
    std::optional<scorch::Profiler> profiler;  // --profile: the whole run, written when it ends (Ctrl-C too)
    if (!c.profile.empty()) profiler.emplace();
    const int code = c.inference_only ? scorch::app::sample(c) : scorch::app::train(c, flags->toml);
    if (profiler) scorch::app::finish_profile(*profiler, c.profile);
    return code;
  } catch (const std::bad_alloc&) {  // the file readers name their file (tensor/file_io.h); this is the rest
    std::fprintf(stderr, "mnist: out of memory (a smaller --batch or --width needs less)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mnist: %s\n", e.what());
    return 1;
  }
}
