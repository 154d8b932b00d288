// fuzz_checkpoint: parse_checkpoint (apps/mnist/checkpoint.h) on any bytes: the safetensors container
// and then every number of the mnist checkpoint's metadata, each range-checked. A std::runtime_error
// starting with the file name is the expected answer to bad input; a crash, a sanitizer report (an
// out-of-range double cast to an integer is undefined behaviour) or another exception is a bug. What
// parses must hold numbers that a resumed run can use.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "apps/mnist/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz.safetensors";
  try {
    const scorch::app::Checkpoint c =
        scorch::app::parse_checkpoint(std::string_view(reinterpret_cast<const char*>(data), size), name);
    const scorch::app::TrainingProgress& p = c.progress;
    if (p.step < 0 || p.best_step < 0 || p.best_step > p.step || p.ema_updates < 0 || p.ema_updates > p.step ||
        p.loss_count < 0 || p.loss_count > p.step || p.bad_evals < 0 || std::isnan(p.best_val_loss) ||
        !std::isfinite(p.loss_sum) || !std::isfinite(p.elapsed_s) || p.elapsed_s < 0) {
      std::fprintf(stderr, "fuzz_checkpoint: out-of-range progress accepted (step %lld)\n",
                   static_cast<long long>(p.step));
      std::abort();
    }
  } catch (const std::runtime_error& e) {
    if (std::string_view(e.what()).substr(0, name.size()) != name) {
      std::fprintf(stderr, "fuzz_checkpoint: error does not start with the file name: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
