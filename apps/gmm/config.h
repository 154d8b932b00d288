// config.h: the gmm app's settings, their command-line flags and their checks.
#pragma once
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "samplers/gmm.h"

namespace scorch::app {

struct GmmConfig {
  std::string out = "runs/gmm";
  uint64_t seed = 0;
  // Mixture: components separated by ';', numbers by ','.
  std::string weights = "0.8,0.2";
  std::string means = "5,5;-5,-5";
  std::string covariances = "1,0,0,1;1,0,0,1";  // D x D row-major per component
  // Training.
  std::string model = "mlp";
  std::string objective = "annealed-dsm";
  int steps = 10000;
  int batch = 1024;
  double lr = 2e-3;
  std::string lr_schedule = "cosine";  // or constant
  double ema = 0.9995;                 // decay of the weights' moving average used for fields and sampling (1: off)
  double sigma_max = 10, sigma_min = 0.01;
  int levels = 10;
  double dsm_sigma = 0.1;  // --objective dsm: the one noise level
  // Sampling.
  std::string sampler = "annealed";
  int n_samples = 10000;
  double step_size = 0.1;  // plain Langevin eta
  int n_steps = 1000;      // plain Langevin steps
  int steps_per_level = 1000;
  double step_lr = 2e-5;
  double field_sigma = -1;     // noise level of the learned field and of plain Langevin with the model (-1: auto)
  std::string device = "cpu";  // cpu, cuda or cuda:N
  bool deterministic = false;  // CUDA: cuda::set_deterministic
  int threads = 0;             // 0: OpenMP's default (all cores, or OMP_NUM_THREADS)
  bool quick = false;
  std::string profile;     // Chrome trace of training and sampling (empty: no profiler)
  std::string dump_graph;  // DOT file for the autograd graph of the first step's loss (empty: none)
};

// Parses argv; nullopt after printing --help; throws UsageError naming the flag.
std::optional<GmmConfig> parse_gmm_flags(int argc, char** argv);

GaussianMixture make_mixture(const GmmConfig& c);  // throws std::invalid_argument naming the flag

}  // namespace scorch::app
