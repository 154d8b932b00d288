// sample.cpp: the mnist app's sampling mode (app.h): --inference_only.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/common/png.h"
#include "apps/common/progress.h"
#include "apps/mnist/app.h"
#include "apps/mnist/checkpoint.h"
#include "apps/mnist/data.h"
#include "autograd/ops.h"
#include "autograd/profiler.h"
#include "samplers/langevin.h"
#include "samplers/ode.h"
#include "samplers/predictor_corrector.h"
#include "samplers/schedule.h"
#include "tensor/file_io.h"
#include "tensor/npy.h"
#include "tensor/parallel.h"

namespace scorch::app {
namespace {

using json = nlohmann::json;
constexpr int64_t kImageSize = kDigitSize;
constexpr int kTrajectoryRows = 8, kTrajectoryColumns = 11;

// The checkpoint's model with its averaged weights, rebuilt from the settings it was trained with.
struct Trained {
  MnistConfig config;
  std::shared_ptr<nn::ScoreModel> model;
  std::string path;
};

// Throws naming the first tensor of `weights` (prefix: "ema." or "model.", as in the file) that holds NaN
// or infinity: sampling with it would only write NaN images.
void check_finite(const std::map<std::string, Tensor>& weights, const std::string& prefix, const std::string& path) {
  for (const auto& [name, t] : weights) {
    const std::vector<double> v = t.values();
    const auto bad = std::count_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); });
    if (bad > 0)
      throw std::runtime_error(path + ": " + prefix + name + " holds " + std::to_string(bad) +
                               " NaN or infinite values of " + std::to_string(v.size()) +
                               "; the file is damaged or its training diverged");
  }
}

Trained load_trained(const MnistConfig& c) {
  Trained t;
  t.path = c.weights.empty() ? c.weights_dir + "/best.safetensors" : c.weights;
  if (!std::filesystem::exists(t.path))
    throw std::runtime_error(t.path + ": no such checkpoint; train first (build/bin/mnist) or pass --weights FILE");
  const Checkpoint ck = load_checkpoint(t.path);
  t.config = parse_mnist_toml(ck.config_toml, t.path + " (config)");
  Generator unused(0);
  t.model = make_mnist_model(t.config, unused);
  const std::map<std::string, Tensor>& weights = ck.ema.empty() ? ck.model : ck.ema;
  try {
    t.model->load_state_dict(weights, t.path);
  } catch (const std::invalid_argument& e) {
    // nn lists every mismatched tensor on a line of its own: report the first and how many more.
    std::istringstream lines(e.what());
    std::string head, first, rest;
    std::getline(lines, head);
    std::getline(lines, first);
    first.erase(0, first.find_first_not_of(' '));
    int more = 0;
    while (std::getline(lines, rest)) ++more;
    throw std::runtime_error(t.path + ": its tensors are not those of the model its settings name (" + t.config.model +
                             ", width " + std::to_string(model_width(t.config)) + "): " + first +
                             (more > 0 ? " (and " + std::to_string(more) + " more)" : ""));
  }
  check_finite(weights, ck.ema.empty() ? "model." : "ema.", t.path);
  t.model->eval();
  return t;
}

struct Sampler {
  std::string description;  // for the PNG's text chunk and sampling.json
  std::function<SampleResult(const ScoreFn&, int64_t n, bool trajectory, Generator&, const StepCallback&)> draw;
};

// The sampler the settings name. annealed starts from U[0, 1] noise (NCSN). The others integrate from
// sigma_max down, so they need a start drawn from the data noised at sigma_max. The variance-exploding
// prior sigma_max z is that only when sigma_max is large next to the distances between images; MNIST's
// sigma_max = 1 is not (digits lie about 10 apart), and a flow started there draws stroke fragments. So by
// default they start like annealed Langevin: --warm-start steps of Langevin at sigma_max from U[0, 1].
Sampler make_sampler(const MnistConfig& c, const MnistConfig& trained) {
  const std::vector<double> levels = noise_levels(trained);
  const double sigma_max = trained.sigma_max, sigma_min = trained.sigma_min;
  // RefineNet is conditioned on its L training levels only: its grids are those levels.
  const bool on_levels = trained.model == "refinenet";
  if (on_levels && (c.sampler == "edm" || (c.sampler == "ode" && c.ode_solver == "rk45")))
    throw UsageError("--sampler: refinenet only takes its " + std::to_string(levels.size()) +
                     " training noise levels; use annealed, pc, or ode with --ode-solver euler or heun");
  const std::vector<double> grid =
      on_levels ? levels : geometric_sigmas(sigma_max, sigma_min, c.sample_steps > 0 ? c.sample_steps : 100);
  const TensorOptions on{.device = device_from_flag(c.device)};  // the starting noise is drawn on the device
  auto uniform_noise = [on](int64_t n, Generator& gen) { return rand({n, 1, kImageSize, kImageSize}, gen, on); };
  const char* denoise = c.denoise ? "on" : "off";
  // The trajectory panel shows about kTrajectoryColumns snapshots: keep only those, not every step's batch.
  auto every = [](size_t steps) { return static_cast<int>(std::max<size_t>(1, steps / (kTrajectoryColumns - 1))); };
  char text[256];

  if (c.sampler == "annealed") {
    std::snprintf(text, sizeof text, "annealed Langevin, %zu levels x T = %d, step_lr %g, denoise %s", levels.size(),
                  c.steps_per_level, c.step_lr, denoise);
    return {text, [=](const ScoreFn& score, int64_t n, bool trajectory, Generator& gen, const StepCallback& on_step) {
              const AnnealedLangevinOptions o{.sigmas = levels,
                                              .steps_per_level = c.steps_per_level,
                                              .step_lr = c.step_lr,
                                              .denoise = c.denoise,
                                              .trajectory_every = trajectory ? c.steps_per_level : 0,
                                              .on_step = on_step};
              return annealed_langevin(score, uniform_noise(n, gen), o, gen);
            }};
  }

  // The integrators: `run` continues from x0, a draw of the data noised at sigma_max.
  using Run =
      std::function<SampleResult(const ScoreFn&, const Tensor& x0, bool trajectory, Generator&, const StepCallback&)>;
  auto from_sigma_max = [=](const Run& run) {
    return [=](const ScoreFn& score, int64_t n, bool trajectory, Generator& gen, const StepCallback& on_step) {
      if (c.warm_start == 0)
        return run(score, randn({n, 1, kImageSize, kImageSize}, gen, on) * sigma_max, trajectory, gen, on_step);
      // Annealed Langevin's first level: alpha_0 = step_lr (sigma_max / sigma_min)^2.
      const double ratio = sigma_max / sigma_min;
      const SampleResult warm = annealed_langevin(score, uniform_noise(n, gen),
                                                  {.sigmas = {sigma_max},
                                                   .steps_per_level = c.warm_start,
                                                   .step_lr = c.step_lr * ratio * ratio,
                                                   .denoise = false},
                                                  gen);
      SampleResult r = run(score, warm.x, trajectory, gen, on_step);
      r.score_evals += warm.score_evals;
      return r;
    };
  };
  char start[64];
  if (c.warm_start > 0)
    std::snprintf(start, sizeof start, "%d Langevin steps at sigma_max, then ", c.warm_start);
  else
    std::snprintf(start, sizeof start, "from sigma_max z, ");

  if (c.sampler == "ode") {
    if (c.ode_solver == "rk45")
      std::snprintf(text, sizeof text, "%sprobability-flow ODE, rk45 (rtol %g, atol %g), sigma %g -> %g, denoise %s",
                    start, c.rtol, c.atol, sigma_max, sigma_min, denoise);
    else
      std::snprintf(text, sizeof text, "%sprobability-flow ODE, %s on %zu levels, denoise %s", start,
                    c.ode_solver.c_str(), grid.size(), denoise);
    return {text, from_sigma_max([=](const ScoreFn& score, const Tensor& x0, bool trajectory, Generator&,
                                     const StepCallback& on_step) {
              return ode_sampler(
                  score, x0,
                  {.method = c.ode_solver,
                   .sigmas = grid,
                   .rtol = c.rtol,
                   .atol = c.atol,
                   .denoise = c.denoise,
                   .trajectory_every = trajectory ? (c.ode_solver == "rk45" ? 1 : every(grid.size())) : 0,
                   .on_step = on_step});
            })};
  }
  if (c.sampler == "pc") {
    std::snprintf(text, sizeof text, "%spredictor-corrector, %s + %d Langevin corrector step(s), snr %g, %zu levels",
                  start, c.predictor.c_str(), c.corrector_steps, c.snr, grid.size());
    return {text, from_sigma_max([=](const ScoreFn& score, const Tensor& x0, bool trajectory, Generator& gen,
                                     const StepCallback& on_step) {
              return pc_sampler(score, x0,
                                {.predictor = c.predictor,
                                 .corrector = c.corrector_steps > 0 ? "langevin" : "none",
                                 .sigmas = grid,
                                 .snr = c.snr,
                                 .corrector_steps = c.corrector_steps,
                                 .denoise = true,
                                 .trajectory_every = trajectory ? every(grid.size()) : 0,
                                 .on_step = on_step},
                                gen);
            })};
  }
  const int steps = c.sample_steps > 0 ? c.sample_steps : 18;
  std::snprintf(text, sizeof text, "%sEDM Heun, %d levels (rho %g), sigma %g -> %g, denoise %s", start, steps, c.rho,
                sigma_max, sigma_min, denoise);
  return {text, from_sigma_max([=](const ScoreFn& score, const Tensor& x0, bool trajectory, Generator&,
                                   const StepCallback& on_step) {
            return edm_sampler(score, x0,
                               {.sigma_max = sigma_max,
                                .sigma_min = sigma_min,
                                .steps = steps,
                                .rho = c.rho,
                                .denoise = c.denoise,
                                .trajectory_every = trajectory ? every(steps) : 0,
                                .on_step = on_step});
          })};
}

// [N, 1, H, W] clamped to [0, 1] (what the PNGs and samples.npy hold).
Tensor clamp01(const Tensor& x) { return clamp(x, 0.0, 1.0); }

// Rows: the first samples; columns: snapshots from the noise (left) to the final images (right).
GrayImage trajectory_panel(const std::vector<Tensor>& trajectory, const Tensor& final) {
  std::vector<Tensor> snapshots;
  const size_t n = trajectory.size();
  for (int k = 0; k + 1 < kTrajectoryColumns && n > 0; ++k)
    snapshots.push_back(trajectory[std::min(n - 1, k * n / (kTrajectoryColumns - 1))]);
  snapshots.push_back(final);
  const int64_t rows = std::min<int64_t>(kTrajectoryRows, final.shape()[0]);
  std::vector<Tensor> cells;
  for (int64_t r = 0; r < rows; ++r)
    for (const Tensor& s : snapshots) cells.push_back(s.narrow(0, r, 1));
  return image_grid(clamp01(concat(cells, 0)), static_cast<int>(snapshots.size()), 2, 2);
}

// What a sampling run writes into --samples-dir.
constexpr const char* kSampleFiles[] = {"samples.png", "samples.npy", "trajectory.png", "sampling.json"};

}  // namespace

int sample(const MnistConfig& c) {
  if (c.threads > 0) set_num_threads(c.threads);
  const Trained trained = load_trained(c);
  cuda::set_deterministic(c.deterministic);
  trained.model->to(device_from_flag(c.device));
  const ModelScore score(trained.model);
  const Sampler sampler = make_sampler(c, trained.config);
  make_output_dir("--samples-dir", c.samples_dir);
  for (const char* name : kSampleFiles) remove_stale_temp_files(c.samples_dir + "/" + name);
  std::fprintf(stderr, "mnist: sampling %d images from %s (%s, trained %s) with %s\n", c.n_samples,
               trained.path.c_str(), trained.config.model.c_str(), trained.config.dataset.c_str(),
               sampler.description.c_str());

  NoGradGuard no_grad;
  Generator gen(derive_seed(c.seed, 5));
  std::vector<Tensor> batches, trajectory;
  int64_t score_evals = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t done = 0; done < c.n_samples; done += c.batch) {
    const int64_t n = std::min<int64_t>(c.batch, c.n_samples - done);
    char label[64];
    std::snprintf(label, sizeof label, "sample %lld-%lld", static_cast<long long>(done),
                  static_cast<long long>(done + n));
    std::unique_ptr<ProgressBar> bar;
    scorch::ProfileRange range("sample_batch");
    SampleResult d = sampler.draw(score, n, done == 0, gen, [&](int64_t step, int64_t total) {
      if (!bar) bar = std::make_unique<ProgressBar>(label, total);
      bar->update(step);
    });
    if (bar) bar->finish();
    if (done == 0)
      for (const Tensor& t : d.trajectory) trajectory.push_back(t.cpu());
    score_evals = d.score_evals;
    batches.push_back(d.x.cpu());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Tensor x = concat(batches, 0);
  const std::vector<double> values = x.values();
  int64_t outside = 0, nonfinite = 0;
  for (double v : values) outside += !(v >= 0 && v <= 1), nonfinite += !std::isfinite(v);
  if (nonfinite > 0)  // clamped, they would pass for black or white pixels: write nothing
    throw std::runtime_error(
        std::to_string(nonfinite) + " of " + std::to_string(values.size()) +
        " sample values are not finite (the sampler diverged; try a smaller step); nothing written to " +
        c.samples_dir);
  const Tensor images = clamp01(x);

  const std::string dir = c.samples_dir;
  const std::map<std::string, std::string> text = {
      {"Software", "scorch mnist"},
      {"Source", trained.path},
      {"model", trained.config.model + " (width " + std::to_string(model_width(trained.config)) + ")"},
      {"dataset", trained.config.dataset},
      {"sampler", sampler.description},
      {"seed", std::to_string(c.seed)},
      {"score evaluations", std::to_string(score_evals) + " per batch"}};
  const int columns = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(c.n_samples))));
  write_png_gray(dir + "/samples.png", image_grid(images, columns, 2, 2), text);
  save_npy(dir + "/samples.npy", images);
  if (!trajectory.empty()) write_png_gray(dir + "/trajectory.png", trajectory_panel(trajectory, batches.front()), text);
  const json report = {{"weights", trained.path},
                       {"model", trained.config.model},
                       {"sampler", c.sampler},
                       {"description", sampler.description},
                       {"n_samples", c.n_samples},
                       {"batch", c.batch},
                       {"seed", c.seed},
                       {"threads", num_threads()},
                       {"seconds", seconds},
                       {"samples_per_s", c.n_samples / seconds},
                       {"score_evals_per_batch", score_evals},
                       {"fraction_outside_0_1", static_cast<double>(outside) / values.size()},
                       {"fraction_nonfinite", static_cast<double>(nonfinite) / values.size()}};
  write_file_atomic(dir + "/sampling.json", report.dump(2) + "\n");
  std::fprintf(stderr, "%d samples in %.1fs (%.2f samples/s, %lld score evaluations per batch) -> %s/samples.png\n",
               c.n_samples, seconds, c.n_samples / seconds, static_cast<long long>(score_evals), dir.c_str());
  return 0;
}

}  // namespace scorch::app
