// config.h: the mnist app's settings, their flags (CLI11) and their config file.
//
// Every setting is a long flag and, under the same name, a key of a TOML config file (`--config FILE`,
// read with toml++; flags on the command line win over the file). Training writes the settings it ran with back to
// <weights-dir>/config.toml and into the checkpoints' metadata, so that
//   mnist --config model_weights/config.toml --resume      continues the run, and
//   mnist --inference_only                                   rebuilds the model the checkpoint holds.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/cli.h"

namespace scorch::app {

struct MnistConfig {
  // Data.
  std::string dataset = "mnist";  // mnist (data/mnist, scripts/fetch_mnist.sh) or fashion (Debian's package)
  std::string data_dir;           // empty: the dataset's default folder
  double val_fraction = 0.1;      // held out of the training file for validation, by a seeded split
  // Model and noise levels.
  std::string model = "unet-small";  // or refinenet
  int width = 0;                     // unet-small's base width / refinenet's ngf; 0: 32 / 16
  double sigma_max = 1.0, sigma_min = 0.01;
  int levels = 10;
  std::string noise = "levels";  // training noise levels: the schedule's (NCSN) or log-uniform between its ends
  // Training.
  int batch = 64;  // also the sampling batch under --inference_only
  double lr = 1e-3;
  int64_t steps = 3000;  // stop after this many steps (or earlier: --epochs, early stopping)
  int epochs = 0;        // > 0: also stop after this many passes over the training split
  double ema = 0.999;
  bool ema_warmup = true;  // score_sde's decay min(ema, (1 + n) / (10 + n)) at update n
  double clip = 1.0;       // global gradient-norm bound (0: off)
  int patience = 5;        // validations without improvement before stopping early (0: never stop early)
  double min_delta = 0.0;  // an improvement is a validation loss below best - min_delta
  int val_interval = 250;  // steps between validations (and checkpoints)
  uint64_t seed = 0;
  std::string device = "cpu";  // cpu, cuda or cuda:N
  bool deterministic = false;  // CUDA: run-to-run identical kernels only (cuda::set_deterministic)
  int threads = 0;             // 0: OpenMP's default (all cores)
  std::string weights_dir = "model_weights";
  bool resume = false;
  bool overwrite = false;  // a new run may replace the checkpoints of one in weights_dir
  // Sampling (--inference_only).
  bool inference_only = false;
  std::string weights;  // empty: <weights-dir>/best.safetensors
  std::string samples_dir = "model_samples";
  std::string sampler = "annealed";  // annealed, ode, pc, edm
  int n_samples = 64;
  int steps_per_level = 100;  // annealed Langevin T
  double step_lr = 2e-5;
  bool denoise = true;
  std::string ode_solver = "rk45";  // euler, heun, rk45
  int sample_steps = 0;             // noise levels of ode (euler, heun), pc and edm; 0: the sampler's default
  double rtol = 1e-5, atol = 1e-5;
  std::string predictor = "reverse_diffusion";  // or ode
  int corrector_steps = 1;
  double snr = 0.16;
  double rho = 7.0;      // EDM's schedule exponent
  int warm_start = 100;  // ode, pc, edm: Langevin steps at sigma_max from U[0, 1] first (0: start at sigma_max z)
  // Diagnostics of this run: flags only, not keys of the config file (nor saved with the settings).
  std::string profile;     // Chrome trace of training or sampling, and a per-op summary on stderr
  std::string dump_graph;  // training: the autograd graph of the first step's loss as Graphviz DOT

  bool operator==(const MnistConfig&) const = default;
};

struct ParsedFlags {
  MnistConfig config;
  std::string toml;  // every setting as a TOML config file (what --config reads back), with resume and
                     // inference_only off
};

// Parses argv (and the --config file); nullopt after printing --help; throws UsageError naming the flag,
// or the config file, its line and the key.
std::optional<ParsedFlags> parse_mnist_flags(int argc, const char* const* argv);

// The settings as TOML, and back: parse_mnist_toml(mnist_toml(c)) == c. mnist_toml throws UsageError
// naming the flag whose value TOML cannot hold (a string that is not UTF-8); parse_mnist_toml throws
// UsageError starting with `source`.
std::string mnist_toml(const MnistConfig& c);
MnistConfig parse_mnist_toml(const std::string& toml, const std::string& source);

std::vector<double> noise_levels(const MnistConfig& c);  // the geometric schedule, sigma_max first
std::string default_data_dir(const std::string& dataset);
int model_width(const MnistConfig& c);  // width with 0 resolved

}  // namespace scorch::app
