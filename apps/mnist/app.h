// app.h: the mnist app's two modes (the executable's main() picks one) and what they share.
//
//   train   annealed DSM on the training split; Adam, gradient clipping, EMA; validation with fixed
//           draws every --val-interval steps into log.csv; best/last checkpoints; early stopping;
//           --resume; Ctrl-C saves last.safetensors and exits with 130.
//   sample  loads a checkpoint's EMA weights and draws images with the chosen sampler into
//           samples.png, samples.npy, trajectory.png and sampling.json.
#pragma once
#include <memory>
#include <string>

#include "apps/mnist/config.h"
#include "nn/score_models.h"

namespace scorch::app {

// The model the settings name (model, width, noise levels), initialised from `gen`.
std::shared_ptr<nn::ScoreModel> make_mnist_model(const MnistConfig& c, Generator& gen);

// Both return the process's exit status; errors throw.
int train(const MnistConfig& c, const std::string& config_toml);
int sample(const MnistConfig& c);

}  // namespace scorch::app
