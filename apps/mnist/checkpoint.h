// checkpoint.h: the mnist app's training checkpoints, one safetensors file each (nn/safetensors.h).
//
// Tensors, by prefix:
//   model.<name>   the trained weights (the model's state_dict names)
//   ema.<name>     their exponential moving average (absent when --ema 1); what sampling uses
//   optim.<name>   Adam's state (nn::Optimizer::state(): adam.step.3, adam.exp_avg.3, ...)
// Metadata (strings): format "scorch-mnist-checkpoint/1", config (the run's settings as TOML), step,
// rng_offset (the training generator's next counter block), best_val_loss, best_step, bad_evals
// (validations since the best), loss_sum / loss_count (training losses since the last validation),
// ema_updates, elapsed_s,
// written as C99 hex floats where a value must come back to the bit.
// Files are written atomically: a crash mid-write leaves the previous checkpoint in place.
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>

#include "nn/module.h"
#include "nn/optim.h"
#include "tensor/random.h"

namespace scorch::app {

// What a checkpoint holds beyond the tensors.
struct TrainingProgress {
  int64_t step = 0;  // steps done
  uint64_t rng_offset = 0;
  double best_val_loss = std::numeric_limits<double>::infinity();
  int64_t best_step = 0;
  int bad_evals = 0;
  double loss_sum = 0;
  int64_t loss_count = 0;
  int64_t ema_updates = 0;  // nn::EMA::updates(), for its warm-up
  double elapsed_s = 0;     // training wall time so far, over every run of a resumed training
};

struct Checkpoint {
  std::map<std::string, Tensor> model, ema, optim;
  TrainingProgress progress;
  std::string config_toml;
  std::string path;
};

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::EMA* ema, const nn::Optimizer& optim,
                     const TrainingProgress& progress, const std::string& config_toml);

// Reads and checks a checkpoint; throws std::runtime_error naming the file when it is missing, not a
// safetensors file, or not one of ours, or when a metadata number is out of range: integers must be
// whole decimals with step >= 0, best_step, loss_count and ema_updates in [0, step], bad_evals an int
// >= 0; best_val_loss not NaN or -inf, loss_sum finite, elapsed_s finite and >= 0.
Checkpoint load_checkpoint(const std::string& path);
// The same on the file's bytes (tests/fuzz/fuzz_checkpoint.cpp); `path` names it in errors.
Checkpoint parse_checkpoint(std::string_view bytes, const std::string& path);

}  // namespace scorch::app
