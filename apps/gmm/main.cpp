// gmm: the 2-D Gaussian-mixture experiment. Trains a score model on samples of a known mixture,
// compares its field with the exact score, and samples with Langevin and annealed Langevin using the
// exact and the learned score. Every figure is written with the data behind it; metrics.json sums up.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <optional>
#include <sstream>

#include "apps/common/gnuplot.h"
#include "apps/common/profile.h"
#include "apps/common/progress.h"
#include "apps/common/signals.h"
#include "apps/gmm/config.h"
#include "autograd/graph_export.h"
#include "autograd/ops.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "nn/score_models.h"
#include "samplers/langevin.h"
#include "samplers/metrics.h"
#include "samplers/objectives.h"
#include "samplers/schedule.h"
#include "tensor/file_io.h"
#include "tensor/npy.h"
#include "tensor/parallel.h"

namespace scorch::app {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr int kGrid = 41;           // field grid points per axis
constexpr int64_t kMmdRows = 2000;  // particles per set in the MMD (the O(n^2) kernel sums)

// Every file run() writes into --out: their temporary files left by a killed run are removed at start.
constexpr const char* kOutputs[] = {"true_samples.npy",
                                    "fig1_samples.png",
                                    "score_true.csv",
                                    "fig2_true_score.png",
                                    "loss.csv",
                                    "loss.png",
                                    "model.safetensors",
                                    "score_learned.csv",
                                    "fig3_learned_score.png",
                                    "langevin_true.npy",
                                    "fig4_langevin_true.png",
                                    "langevin_learned.npy",
                                    "fig5_langevin_learned.png",
                                    "annealed_learned.npy",
                                    "fig6_annealed_learned.png",
                                    "metrics.json"};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Plot {
  Range box;  // the same square on every figure
  // `name` must be one of kOutputs, so that a new output cannot miss the cleanup at start.
  std::string path(const GmmConfig& c, const std::string& name) const {
    if (std::find(std::begin(kOutputs), std::end(kOutputs), name) == std::end(kOutputs))
      throw std::logic_error("gmm: " + name + " is not in kOutputs");
    return c.out + "/" + name;
  }
};

// The square that holds every mode with 3 standard deviations to spare ([-8, 8] for the default).
Range plot_range(const GaussianMixture& gmm) {
  double lo = INFINITY, hi = -INFINITY;
  const int d = gmm.dim();
  for (int k = 0; k < gmm.components(); ++k)
    for (int i = 0; i < d; ++i) {
      const double sd = std::sqrt(gmm.covariances()[k][i * d + i]);
      lo = std::min(lo, gmm.means()[k][i] - 3 * sd);
      hi = std::max(hi, gmm.means()[k][i] + 3 * sd);
    }
  return {std::floor(lo), std::ceil(hi)};
}

Tensor grid_points(Range r) {
  std::vector<double> v;
  for (int i = 0; i < kGrid; ++i)
    for (int j = 0; j < kGrid; ++j) {
      v.push_back(r.lo + (r.hi - r.lo) * j / (kGrid - 1));
      v.push_back(r.lo + (r.hi - r.lo) * i / (kGrid - 1));
    }
  return from_vector(v, {kGrid * kGrid, 2}, {.dtype = kFloat64});
}

void write_field_csv(const std::string& path, const Tensor& grid, const Tensor& score) {
  const std::vector<double> g = grid.values(), s = score.values();
  std::ostringstream out;
  out << "x,y,sx,sy\n";
  for (size_t i = 0; i + 1 < g.size(); i += 2) out << g[i] << ',' << g[i + 1] << ',' << s[i] << ',' << s[i + 1] << '\n';
  write_file_atomic(path, out.str());
}

// Arrows every other grid point, length proportional to sqrt|s| (the longest 1.8 cells): a linear
// scale would shrink the arrows near the modes, where the field is weak, to dots.
std::vector<double> quiver_rows(const Tensor& grid, const Tensor& score, Range r) {
  const std::vector<double> g = grid.values(), s = score.values();
  double longest = 0;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    if (std::isfinite(s[i]) && std::isfinite(s[i + 1])) longest = std::max(longest, std::hypot(s[i], s[i + 1]));
  const double cell = (r.hi - r.lo) / (kGrid - 1);
  std::vector<double> rows;
  for (size_t i = 0; i + 1 < g.size(); i += 4) {
    const double norm = std::hypot(s[i], s[i + 1]);
    if (!std::isfinite(norm) || norm == 0 || longest == 0) continue;
    const double length = 1.8 * cell * std::sqrt(norm / longest);
    rows.insert(rows.end(), {g[i], g[i + 1], s[i] / norm * length, s[i + 1] / norm * length});
  }
  return rows;
}

void field_figure(const GmmConfig& c, const Plot& p, const std::string& name, const std::string& title,
                  const Tensor& grid, const Tensor& score, const std::string& color) {
  Figure f(title, p.box, p.box);
  f.arrows(quiver_rows(grid, score, p.box), "score, arrow length sqrt(|s|)", color);
  f.render(p.path(c, name));
}

void samples_figure(const GmmConfig& c, const Plot& p, const std::string& name, const std::string& title,
                    const Tensor& x, const std::string& color) {
  Figure f(title, p.box, p.box);
  f.points(x.values(), std::to_string(x.shape()[0]) + " particles", color);
  f.render(p.path(c, name));
}

json sample_metrics(const GaussianMixture& gmm, const Tensor& x, const Tensor& exact) {
  const ModeFractions f = mode_fractions(x, gmm.means());
  const int64_t rows = std::min<int64_t>({kMmdRows, x.shape()[0], exact.shape()[0]});
  return {{"mode_fraction", f.fraction},
          {"true_weight", gmm.weights()},
          {"nonfinite_fraction", f.nonfinite},
          {"mmd2", mmd2(x.narrow(0, 0, rows), exact.narrow(0, 0, rows))}};
}

struct Trained {
  std::shared_ptr<nn::ScoreModel> model;
  std::vector<double> losses;
};

// Trains on `device`: the mixture's samples are drawn on the CPU and copied there.
Trained train(const GmmConfig& c, const GaussianMixture& gmm, const std::vector<double>& sigmas, Generator& gen,
              Device device) {
  Trained t{nn::make_score_model(c.model, gen), {}};
  t.model->to(device);  // before the optimizer and the EMA make their state
  const ModelScore score(t.model);
  nn::Adam adam(t.model->parameters(), {.lr = c.lr});
  std::optional<nn::EMA> ema;
  if (c.ema < 1) ema.emplace(*t.model, c.ema);
  ProgressBar bar("train", c.steps);
  double smooth = NAN;
  for (int step = 1; step <= c.steps; ++step) {
    scorch::ProfileRange range("train_step");
    if (c.lr_schedule == "cosine") adam.set_lr(0.5 * c.lr * (1 + std::cos(std::numbers::pi * (step - 1) / c.steps)));
    const Tensor x = gmm.sample(c.batch, gen).to(device);
    Tensor loss = c.objective == "dsm"            ? dsm_loss(score, x, c.dsm_sigma, gen)
                  : c.objective == "annealed-dsm" ? annealed_dsm_loss(score, x, sigmas, gen)
                                                  : sliced_score_matching_loss(score, x, c.field_sigma, gen);
    if (step == 1 && !c.dump_graph.empty()) dump_graph(loss, c.dump_graph, t.model->named_parameters());
    adam.zero_grad();
    loss.backward();
    adam.step();
    if (ema) ema->update(*t.model);
    const double l = loss.item();
    if (!std::isfinite(l))
      throw std::runtime_error("training diverged: loss " + std::to_string(l) + " at step " + std::to_string(step));
    t.losses.push_back(l);
    smooth = std::isnan(smooth) ? l : 0.98 * smooth + 0.02 * l;
    char info[64];
    std::snprintf(info, sizeof info, "loss %.4f", smooth);
    bar.update(step, info);
  }
  bar.finish();
  if (ema) ema->copy_to(*t.model);  // fields, samples and model.safetensors use the averaged weights
  return t;
}

void write_losses(const GmmConfig& c, const Plot& p, const std::vector<double>& losses) {
  std::ostringstream csv;
  csv << "step,loss\n";
  for (size_t i = 0; i < losses.size(); ++i) csv << i + 1 << ',' << losses[i] << '\n';
  write_file_atomic(p.path(c, "loss.csv"), csv.str());
  // Every step (thinned to ~2000 points) and the mean of each window of 1% of the steps.
  const size_t every = std::max<size_t>(1, losses.size() / 2000), window = std::max<size_t>(1, losses.size() / 100);
  std::vector<double> raw, smooth;
  double sum = 0;
  for (size_t i = 0; i < losses.size(); ++i) {
    if (i % every == 0) raw.insert(raw.end(), {double(i + 1), losses[i]});
    sum += losses[i];
    if ((i + 1) % window == 0) smooth.insert(smooth.end(), {double(i + 1) - window / 2.0, sum / window}), sum = 0;
  }
  Figure f("training loss (" + c.objective + ", " + c.model + ")", {0, 1}, {0, 1}, "step", "loss");
  f.line(raw, "loss per step", "#a6c8e6");
  f.line(smooth, "mean over " + std::to_string(window) + " steps", "#08306b");
  if (c.objective != "ssm") f.set_log_y();  // ssm's loss is negative at its optimum
  f.render(p.path(c, "loss.png"));
}

// A progress bar fed by the sampler's per-step callback.
StepCallback progress(ProgressBar& bar) {
  return [&bar](int64_t done, int64_t) { bar.update(done); };
}

// The samplers run where their particles start (`device`: the model's; the exact score is the CPU's);
// the result comes back to the CPU for the figures and metrics.
SampleResult on_cpu(SampleResult r) {
  r.x = r.x.cpu();
  for (Tensor& t : r.trajectory) t = t.cpu();
  return r;
}

SampleResult sample_annealed(const std::string& label, const ScoreFn& score, const GmmConfig& c,
                             const std::vector<double>& sigmas, Generator& gen, Device device) {
  const Tensor x0 = randn({c.n_samples, 2}, gen, {.device = device}) * sigmas.front();
  ProgressBar bar(label, static_cast<int64_t>(sigmas.size()) * c.steps_per_level);
  SampleResult r = annealed_langevin(
      score, x0,
      {.sigmas = sigmas, .steps_per_level = c.steps_per_level, .step_lr = c.step_lr, .on_step = progress(bar)}, gen);
  bar.finish();
  return on_cpu(std::move(r));
}

SampleResult sample_plain(const std::string& label, const ScoreFn& score, const GmmConfig& c, Range box, double sigma,
                          Generator& gen, Device device) {
  const Tensor x0 =
      rand({c.n_samples, 2}, gen, {.device = device}) * (box.hi - box.lo) + box.lo;  // uniform over the plot
  ProgressBar bar(label, c.n_steps);
  SampleResult r = langevin(
      score, x0, {.step_size = c.step_size, .n_steps = c.n_steps, .sigma = sigma, .on_step = progress(bar)}, gen);
  bar.finish();
  return on_cpu(std::move(r));
}

// A score evaluated on `device` for inputs anywhere, its result where the input was: the learned
// field on the CPU's grid.
class ScoreOn final : public ScoreFn {
 public:
  ScoreOn(const ScoreFn& inner, Device device) : inner_(inner), device_(device) {}
  Tensor score(const Tensor& x, const Tensor& sigma) const override {
    return inner_.score(x.to(device_), sigma.to(device_)).to(x.device());
  }

 private:
  const ScoreFn& inner_;
  Device device_;
};

// The learned field's relative error where the mixture's density is above 1e-3 of its maximum on the
// grid: at the plotted noise level and, for the conditional model, at every level of the schedule.
json field_metrics(const GmmConfig& c, const GaussianMixture& gmm, const Plot& p, const std::vector<double>& sigmas,
                   const Tensor& grid, const ScoreFn& learned, const Tensor& field_learned, const Tensor& field_true) {
  const std::vector<double> density = gmm.density(grid);
  const double top = *std::max_element(density.begin(), density.end());
  std::vector<bool> mask(density.size());
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = density[i] > 1e-3 * top;
  json m = {{"sigma", c.field_sigma},
            {"relative_error", field_error(field_learned, field_true, mask)},
            {"grid", {kGrid, kGrid}},
            {"range", {p.box.lo, p.box.hi}},
            {"density_threshold", 1e-3}};
  if (c.model == "mlp") {
    json by_sigma = json::array();
    for (double s : sigmas) {
      const Tensor truth = gmm.score(grid, scalar_tensor(s, {.dtype = kFloat64}));
      const Tensor model = learned(grid.to(kFloat32), full({kGrid * kGrid}, s)).to(kFloat64);
      by_sigma.push_back({{"sigma", s}, {"relative_error", field_error(model, truth, mask)}});
    }
    m["by_sigma"] = by_sigma;
  }
  return m;
}

json config_json(const GmmConfig& c, const std::vector<double>& sigmas) {
  return {{"seed", c.seed},
          {"model", c.model},
          {"objective", c.objective},
          {"steps", c.steps},
          {"batch", c.batch},
          {"lr", c.lr},
          {"lr_schedule", c.lr_schedule},
          {"ema", c.ema},
          {"sigmas", sigmas},
          {"sampler", c.sampler},
          {"n_samples", c.n_samples},
          {"step_size", c.step_size},
          {"n_steps", c.n_steps},
          {"steps_per_level", c.steps_per_level},
          {"step_lr", c.step_lr},
          {"weights", c.weights},
          {"means", c.means},
          {"covariances", c.covariances},
          {"threads", num_threads()}};
}

// Wall time of each phase, into metrics.json's "timing".
class PhaseTimer {
 public:
  explicit PhaseTimer(json& timing) : timing_(timing) {}
  void next(const std::string& finished) {
    timing_[finished + "_s"] = seconds_since(t_);
    t_ = Clock::now();
  }

 private:
  json& timing_;
  Clock::time_point t_ = Clock::now();
};

int run(const GmmConfig& c) {
  const auto t_start = Clock::now();
  if (c.threads > 0) set_num_threads(c.threads);
  const Device device = device_from_flag(c.device);  // training, the learned field and its samplers
  cuda::set_deterministic(c.deterministic);
  make_output_dir("--out", c.out);
  if (!c.profile.empty()) prepare_output_file("--profile", c.profile);
  if (!c.dump_graph.empty()) prepare_output_file("--dump-graph", c.dump_graph);
  const GaussianMixture gmm = make_mixture(c);
  const Plot p{plot_range(gmm)};
  // Temporary files of a killed run's atomic writes: gone, so that repeated crashes cannot fill the disk.
  for (const char* name : kOutputs) remove_stale_temp_files(p.path(c, name));
  const std::vector<double> sigmas = geometric_sigmas(c.sigma_max, c.sigma_min, c.levels);
  Generator gen(c.seed);
  json timing, metrics;
  PhaseTimer phase(timing);
  char sig[32];
  std::snprintf(sig, sizeof sig, "%g", c.field_sigma);
  std::optional<Profiler> profiler;  // --profile: training and sampling, written at the end
  if (!c.profile.empty()) profiler.emplace();

  const Tensor exact = gmm.sample(c.n_samples, gen), exact2 = gmm.sample(c.n_samples, gen);
  save_npy(p.path(c, "true_samples.npy"), exact);
  samples_figure(c, p, "fig1_samples.png", "samples of the mixture", exact, "#1f77b4");
  const Tensor grid = grid_points(p.box);
  const Tensor field_true = gmm.score(grid, scalar_tensor(c.field_sigma, {.dtype = kFloat64}));
  write_field_csv(p.path(c, "score_true.csv"), grid, field_true);
  field_figure(c, p, "fig2_true_score.png", std::string("exact score of p, noise sigma = ") + sig, grid, field_true,
               "#1f77b4");
  phase.next("data");

  const Trained trained = [&] {
    scorch::ProfileRange range("train");
    return train(c, gmm, sigmas, gen, device);
  }();
  write_losses(c, p, trained.losses);
  nn::save_module(p.path(c, "model.safetensors"), *trained.model,
                  {{"model", c.model},
                   {"objective", c.objective},
                   {"steps", std::to_string(c.steps)},
                   {"seed", std::to_string(c.seed)}});
  phase.next("train");

  NoGradGuard no_grad;
  const ModelScore learned(trained.model);
  const ScoreOn learned_anywhere(learned, device);
  const Tensor field_learned = learned_anywhere(grid.to(kFloat32), full({kGrid * kGrid}, c.field_sigma)).to(kFloat64);
  write_field_csv(p.path(c, "score_learned.csv"), grid, field_learned);
  field_figure(c, p, "fig3_learned_score.png", "learned score (" + c.model + ", " + c.objective + "), sigma = " + sig,
               grid, field_learned, "#d62728");
  metrics["field"] = field_metrics(c, gmm, p, sigmas, grid, learned_anywhere, field_learned, field_true);
  phase.next("field");

  // Each sample set: its particles as .npy, its figure, its metrics against the exact samples.
  auto keep = [&](const std::string& name, const SampleResult& r, const std::string& figure, const std::string& title,
                  const std::string& color) {
    save_npy(p.path(c, name + ".npy"), r.x.to(kFloat32));
    samples_figure(c, p, figure, title, r.x, color);
    metrics["samples"][name] = sample_metrics(gmm, r.x, exact);
    phase.next(name);
  };
  // Each sampler run inside a profiler range of its own name.
  auto ranged = [](const std::string& name, auto&& sample) {
    scorch::ProfileRange range(name);
    return sample();
  };
  keep(
      "langevin_true",
      ranged("langevin_true", [&] { return sample_plain("langevin (exact)", gmm, c, p.box, 0.0, gen, Device::cpu()); }),
      "fig4_langevin_true.png", "Langevin, exact score (uniform start)", "#2ca02c");
  keep("langevin_learned",
       ranged("langevin_learned",
              [&] { return sample_plain("langevin (learned)", learned, c, p.box, c.field_sigma, gen, device); }),
       "fig5_langevin_learned.png", std::string("Langevin, learned score at sigma = ") + sig, "#ff7f0e");
  keep("annealed_learned",
       ranged("annealed_learned",
              [&] { return sample_annealed("annealed (learned)", learned, c, sigmas, gen, device); }),
       "fig6_annealed_learned.png", "annealed Langevin, learned score", "#9467bd");
  // The sampler's own bias, with the exact score: metrics only.
  const SampleResult annealed_true =
      ranged("annealed_true", [&] { return sample_annealed("annealed (exact)", gmm, c, sigmas, gen, Device::cpu()); });
  metrics["samples"]["annealed_true"] = sample_metrics(gmm, annealed_true.x, exact);
  phase.next("annealed_true");
  if (profiler) finish_profile(*profiler, c.profile);

  const int64_t rows = std::min<int64_t>(kMmdRows, c.n_samples);
  metrics["mmd2_noise_floor"] = mmd2(exact.narrow(0, 0, rows), exact2.narrow(0, 0, rows));
  metrics["mmd"] = {{"rows", rows}, {"bandwidths", kMmdBandwidths}};
  metrics["headline"] = metrics["samples"][c.sampler == "annealed" ? "annealed_learned" : "langevin_learned"];
  metrics["final_loss"] = trained.losses.back();
  timing["total_s"] = seconds_since(t_start);
  metrics["timing"] = timing;
  metrics["config"] = config_json(c, sigmas);
  write_file_atomic(p.path(c, "metrics.json"), metrics.dump(2) + "\n");
  std::fprintf(stderr, "heavy-mode share %.3f (annealed, learned), field error %.3f, total %.1fs -> %s\n",
               metrics["samples"]["annealed_learned"]["mode_fraction"][0].get<double>(),
               metrics["field"]["relative_error"].get<double>(), timing["total_s"].get<double>(), c.out.c_str());
  return 0;
}

}  // namespace
}  // namespace scorch::app

int main(int argc, char** argv) {
  scorch::app::ignore_file_size_signal();  // ulimit -f: an error naming the file, not a silent death
  std::optional<scorch::app::GmmConfig> config;
  try {
    config = scorch::app::parse_gmm_flags(argc, argv);
  } catch (const scorch::app::UsageError& e) {
    std::fprintf(stderr, "gmm: %s\n", e.what());
    return 2;
  }
  if (!config) return 0;  // --help
  try {
    return scorch::app::run(*config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gmm: %s\n", e.what());
    return 1;
  }
}
