// train.cpp: the mnist app's training mode (app.h).
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/common/cli.h"
#include "apps/common/progress.h"
#include "apps/mnist/app.h"
#include "apps/mnist/checkpoint.h"
#include "apps/mnist/data.h"
#include "apps/mnist/training_log.h"
#include "autograd/graph_export.h"
#include "autograd/ops.h"
#include "autograd/profiler.h"
#include "nn/refinenet.h"
#include "nn/unet.h"
#include "samplers/objectives.h"
#include "tensor/file_io.h"
#include "tensor/parallel.h"

namespace scorch::app {
namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int) { g_interrupted = 1; }

// Ctrl-C (SIGINT) and SIGTERM set a flag that the loop checks after each step; the previous handlers
// come back when training ends.
class InterruptGuard {
 public:
  InterruptGuard() : int_(std::signal(SIGINT, on_interrupt)), term_(std::signal(SIGTERM, on_interrupt)) {
    g_interrupted = 0;
  }
  ~InterruptGuard() {
    std::signal(SIGINT, int_);
    std::signal(SIGTERM, term_);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  void (*int_)(int);
  void (*term_)(int);
};

// The validation split with draws fixed once (dequantization, sigma level, z), so that every evaluation
// scores the same noisy images and the values compare across steps and runs.
struct Validation {
  Tensor x, sigma, z;

  Validation(const Digits& val, const std::vector<double>& sigmas, uint64_t seed, Device device) {
    Generator gen(derive_seed(seed, 4));
    std::vector<int64_t> all(val.count);
    for (int64_t i = 0; i < val.count; ++i) all[i] = i;
    x = dequantize(val, all, gen);
    std::vector<double> s;
    for (double level : randint(0, static_cast<int64_t>(sigmas.size()), {val.count}, gen).values())
      s.push_back(sigmas[static_cast<size_t>(level)]);
    sigma = from_vector(s, {.dtype = kFloat32});
    z = randn(x.shape(), gen);
    x = x.to(device), sigma = sigma.to(device), z = z.to(device);
  }

  // The annealed DSM loss over the split, in chunks of `batch`; the mean over images.
  double loss(const ScoreFn& score, int64_t batch) const {
    NoGradGuard no_grad;
    const int64_t n = x.shape()[0];
    double total = 0;
    for (int64_t i = 0; i < n; i += batch) {
      const int64_t b = std::min(batch, n - i);
      total += denoising_score_loss(score, x.narrow(0, i, b), sigma.narrow(0, i, b), z.narrow(0, i, b)).item() * b;
    }
    return total / static_cast<double>(n);
  }
};

// A resumed run must be the same run: these settings decide the data, the model and the noise.
void check_resumable(const MnistConfig& now, const Checkpoint& ck) {
  const MnistConfig then = parse_mnist_toml(ck.config_toml, ck.path + " (config)");
  auto same = [&](const char* flag, auto a, auto b) {
    if (a != b) {
      std::ostringstream msg;
      msg << "--resume: " << flag << " is " << a << " but " << ck.path << " was trained with " << b
          << "; resuming would not continue the same run (drop the flag, or pass --config with the run's config.toml)";
      throw std::invalid_argument(msg.str());
    }
  };
  same("--dataset", now.dataset, then.dataset);
  same("--model", now.model, then.model);
  same("--width", model_width(now), model_width(then));
  same("--sigma-max", now.sigma_max, then.sigma_max);
  same("--sigma-min", now.sigma_min, then.sigma_min);
  same("--levels", now.levels, then.levels);
  same("--noise", now.noise, then.noise);
  same("--batch", now.batch, then.batch);
  same("--seed", now.seed, then.seed);
  same("--val-fraction", now.val_fraction, then.val_fraction);
}

// A failed write (disk full, quota, file size limit) stops training. It left the file it was replacing
// as it was, so the message says where the run can continue from.
std::runtime_error save_failed(const std::runtime_error& e, int64_t step, const std::string& last_path,
                               int64_t saved_step) {
  return std::runtime_error("training stopped at step " + std::to_string(step) + ": " + e.what() + "; " + last_path +
                            " still holds step " + std::to_string(saved_step) +
                            ", continue with --resume once it can be written");
}

// The first tensor of the model's state or the EMA's that holds a nan or inf ("" when none does): a
// checkpoint of such weights never replaces one of finite weights.
std::string first_nonfinite(const nn::Module& model, const std::optional<nn::EMA>& ema) {
  auto check = [](const std::map<std::string, Tensor>& state, const std::string& prefix) -> std::string {
    for (const auto& [name, t] : state)
      for (double v : t.values())
        if (!std::isfinite(v)) return prefix + " '" + name + "'";
    return "";
  };
  std::string bad = check(model.state_dict(), "the weight");
  if (bad.empty() && ema) bad = check(ema->state_dict(), "the EMA weight");
  return bad;
}

std::string nonfinite_message(const std::string& tensor) {
  return tensor.empty() ? "" : tensor + " holds values that are not finite";
}

// "nan", never "-nan"; otherwise %g.
std::string format_number(double v) { return std::isnan(v) ? "nan" : cli_detail::format_number(v); }

// What a run that stops without saving leaves: "DIR/last.safetensors still holds step 40, and
// DIR/best.safetensors step 30 (validation loss 0.61)".
std::string kept_checkpoints(const std::string& last_path, int64_t saved_step, const std::string& best_path,
                             const TrainingProgress& p) {
  std::string kept = last_path + " still holds step " + std::to_string(saved_step);
  if (std::isfinite(p.best_val_loss) && std::filesystem::exists(best_path))
    kept += ", and " + best_path + " step " + std::to_string(p.best_step) + " (validation loss " +
            format_number(p.best_val_loss) + ")";
  return kept;
}

std::string format_loss(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return std::isfinite(v) ? buf : "-";
}

}  // namespace

std::shared_ptr<nn::ScoreModel> make_mnist_model(const MnistConfig& c, Generator& gen) {
  if (c.model == "unet-small")
    return std::make_shared<nn::UNetSmall>(gen, nn::UNetSmall::Options{.width = model_width(c)});
  if (c.model == "refinenet")
    return std::make_shared<nn::RefineNet>(
        gen, nn::RefineNet::Options{.ngf = model_width(c), .num_classes = c.levels, .sigmas = noise_levels(c)});
  throw std::invalid_argument("--model: unknown model '" + c.model + "' (known: unet-small, refinenet)");
}

namespace {

// One training run, train()'s steps as methods: the constructor checks the folder and loads the data
// and the model; run() restores or starts the run, then steps, validates and saves until it ends.
class Trainer {
 public:
  Trainer(const MnistConfig& c, const std::string& config_toml);
  int run();  // the exit status

 private:
  std::optional<int> restore();   // --resume; an exit status when the run had already ended
  void start();                   // a fresh run's step-0 checkpoint, then the replaced run's files go
  std::optional<int> step();      // one training step; an exit status when the loss is not finite
  std::optional<int> validate();  // validation, log row, checkpoints; a status when the run must stop
  int interrupted();
  void write(const std::string& path);  // a checkpoint of the state now, to `path` (last or best)
  // write(), where a failed write stops the run with the step last.safetensors still holds.
  void save(const std::string& path);
  // The message and status of a run that stops without saving (a loss or weights that are not finite).
  int stop_unsaved(const std::string& what);
  double elapsed() const { return elapsed_before_ + std::chrono::duration<double>(Clock::now() - t_start_).count(); }
  double samples_per_s() const;

  const MnistConfig& c_;
  const std::string& config_toml_;
  const Clock::time_point t_start_ = Clock::now();
  const std::string best_path_, last_path_, log_path_, config_path_;
  std::vector<std::string> replaced_;  // an old run's checkpoints that --overwrite replaces
  std::string data_dir_;
  TrainValSplit data_;
  std::vector<double> sigmas_;
  std::shared_ptr<nn::ScoreModel> model_;
  Device device_;
  std::optional<ModelScore> score_;
  std::optional<nn::Adam> adam_;
  std::optional<nn::EMA> ema_;
  std::optional<BatchOrder> order_;
  Generator gen_;  // dequantization and noise of the training batches
  std::optional<Validation> validation_;
  int64_t last_step_ = 0;
  TrainingLog log_;
  TrainingProgress p_;
  int64_t saved_step_ = 0;   // the step last.safetensors holds
  int64_t first_step_ = 0;   // this process's first
  bool early_stop_ = false;  // --patience evaluations without improvement
  double elapsed_before_ = 0, last_val_ = NAN;
  Clock::time_point loop_start_;
  std::optional<ProgressBar> bar_;
};

Trainer::Trainer(const MnistConfig& c, const std::string& config_toml)
    : c_(c),
      config_toml_(config_toml),
      best_path_(c.weights_dir + "/best.safetensors"),
      last_path_(c.weights_dir + "/last.safetensors"),
      log_path_(c.weights_dir + "/log.csv"),
      config_path_(c.weights_dir + "/config.toml"),
      gen_(derive_seed(c.seed, 3)),
      log_(log_path_) {
  make_output_dir("--weights-dir", c.weights_dir);
  // A new run would overwrite the checkpoints of the one trained there before: refused unless --overwrite.
  // With it, the old run's files stay until this run has written its first checkpoint (start()): a typo in
  // --data-dir, or any other problem found while loading the data and building the model, leaves them.
  if (!c.resume)
    for (const std::string& path : {last_path_, best_path_}) {
      if (!std::filesystem::exists(path)) continue;
      if (!c.overwrite)
        throw std::runtime_error(path +
                                 " exists: continue that run with --resume, replace it with --overwrite, or train "
                                 "into another --weights-dir");
      replaced_.push_back(path);
    }
  data_dir_ = c.data_dir.empty() ? default_data_dir(c.dataset) : c.data_dir;
  data_ = split_digits(load_digits(data_dir_), c.val_fraction, c.seed);
  sigmas_ = noise_levels(c);
  Generator init(derive_seed(c.seed, 0));
  model_ = make_mnist_model(c, init);
  device_ = device_from_flag(c.device);
  cuda::set_deterministic(c.deterministic);
  model_->to(device_);  // before the optimizer and the EMA make their state, on the model's device
  score_.emplace(model_);
  adam_.emplace(model_->parameters(), nn::AdamOptions{.lr = c.lr});
  if (c.ema < 1) ema_.emplace(*model_, c.ema, c.ema_warmup);
  order_.emplace(data_.train.count, c.batch, c.seed);
  validation_.emplace(data_.val, sigmas_, c.seed, device_);
  last_step_ = c.epochs > 0 ? std::min(c.steps, c.epochs * order_->steps_per_epoch()) : c.steps;
  // Temporary files of a killed run's atomic writes: gone, so that repeated crashes cannot fill the disk.
  for (const std::string& path : {best_path_, last_path_, log_path_, config_path_}) remove_stale_temp_files(path);
}

int Trainer::run() {
  if (c_.resume)
    if (const std::optional<int> ended = restore()) return *ended;
  saved_step_ = p_.step;
  // Before the first save: a Ctrl-C that comes once last.safetensors exists always finds the handler
  // (it used to kill the process between the two, 1 run in 12 of MnistAppRun.CtrlCSavesLastAndResumes).
  InterruptGuard interrupt;
  if (!c_.resume) start();
  write_file_atomic(config_path_, config_toml_);
  std::fprintf(
      stderr, "mnist: %s (%lld parameters) on %lld training / %lld validation images from %s, %s, %d threads\n",
      c_.model.c_str(), static_cast<long long>(model_->num_parameters()), static_cast<long long>(data_.train.count),
      static_cast<long long>(data_.val.count), data_dir_.c_str(), device_.str().c_str(), num_threads());
  elapsed_before_ = p_.elapsed_s;
  bar_.emplace("train", last_step_, p_.step);
  loop_start_ = Clock::now();
  first_step_ = p_.step;
  while (p_.step < last_step_ && !early_stop_) {
    if (const std::optional<int> stop = step()) return *stop;
    if (g_interrupted) return interrupted();
  }
  if (!early_stop_) bar_->finish();
  std::fprintf(stderr, "trained %lld steps in %.1fs (this run %.1fs); best validation loss %.5f at step %lld -> %s\n",
               static_cast<long long>(p_.step), elapsed(),
               std::chrono::duration<double>(Clock::now() - t_start_).count(), p_.best_val_loss,
               static_cast<long long>(p_.best_step), best_path_.c_str());
  return 0;
}

std::optional<int> Trainer::restore() {
  if (!std::filesystem::exists(last_path_))
    throw std::runtime_error(last_path_ + ": no checkpoint to resume from; start the run without --resume");
  const Checkpoint ck = load_checkpoint(last_path_);
  check_resumable(c_, ck);
  model_->load_state_dict(ck.model, last_path_);
  if (ema_) {
    ema_->load_state_dict(ck.ema, last_path_);
    ema_->set_updates(ck.progress.ema_updates);
  }
  adam_->load_state(ck.optim, last_path_);
  p_ = ck.progress;
  gen_.set_offset(p_.rng_offset);
  log_.restore(p_.step);
  std::fprintf(stderr, "resuming from %s at step %lld\n", last_path_.c_str(), static_cast<long long>(p_.step));
  if (c_.patience > 0 && p_.bad_evals >= c_.patience) {  // finished (perhaps killed before it could exit)
    std::fprintf(stderr,
                 "the run stopped early at step %lld (no validation improvement in %d evaluations); "
                 "raise --patience to train on\n",
                 static_cast<long long>(p_.step), p_.bad_evals);
    return 0;
  }
  return std::nullopt;
}

// A fresh run saves its starting state before it reports its start: from then on, wherever the process
// is killed, last.safetensors exists and --resume continues the run. Only then do the files of the run
// it replaces go (its last.safetensors is already replaced), and config.toml follows, so that the
// folder never pairs this run's checkpoint with the old run's best one or settings for long.
void Trainer::start() {
  write(last_path_);
  for (const std::string& path : replaced_)
    if (path != last_path_) std::filesystem::remove(path);
  if (!replaced_.empty()) std::filesystem::remove(log_path_);  // its rows are the old run's
}

std::optional<int> Trainer::step() {
  std::optional<scorch::ProfileRange> step_range(std::in_place, "train_step");  // --profile; closed before validation
  const Tensor x = dequantize(data_.train, order_->indices(p_.step), gen_).to(device_);
  Tensor loss = c_.noise == "levels" ? annealed_dsm_loss(*score_, x, sigmas_, gen_)
                                     : log_uniform_dsm_loss(*score_, x, c_.sigma_min, c_.sigma_max, gen_);
  if (p_.step == first_step_ && !c_.dump_graph.empty()) {
    dump_graph(loss, c_.dump_graph, model_->named_parameters());
    std::fprintf(stderr, "mnist: wrote the graph of step %lld's loss to %s\n", static_cast<long long>(p_.step + 1),
                 c_.dump_graph.c_str());
  }
  adam_->zero_grad();
  loss.backward();
  const double l = loss.item();
  const double norm = c_.clip > 0 ? nn::clip_grad_norm(adam_->parameters(), c_.clip) : 0.0;
  if (!std::isfinite(l) || !std::isfinite(norm))
    return stop_unsaved("training stopped at step " + std::to_string(p_.step + 1) + ": the loss is " +
                        format_number(l) + " and the gradient norm " + format_number(norm) + " (not finite)");
  adam_->step();
  if (ema_) ema_->update(*model_);
  step_range.reset();
  ++p_.step;
  p_.loss_sum += l;
  ++p_.loss_count;
  if (p_.step % c_.val_interval == 0 || p_.step == last_step_)
    if (const std::optional<int> stop = validate(); stop || early_stop_) return stop;
  char info[128];
  std::snprintf(info, sizeof info, "loss %.4f  val %s  %.0f samples/s", l, format_loss(last_val_).c_str(),
                samples_per_s());
  bar_->update(p_.step, info);
  return std::nullopt;
}

std::optional<int> Trainer::validate() {
  scorch::ProfileRange range("validation_and_checkpoints");
  double val;
  {
    std::optional<nn::EMA::Swap> averaged;
    if (ema_) averaged.emplace(ema_->scoped(*model_));
    val = validation_->loss(*score_, 256);
  }
  last_val_ = val;
  const std::string bad = !std::isfinite(val) ? "the validation loss is " + format_number(val) + " (not finite)"
                                              : nonfinite_message(first_nonfinite(*model_, ema_));
  if (!bad.empty()) return stop_unsaved("training stopped at step " + std::to_string(p_.step) + ": " + bad);
  const bool better = val < p_.best_val_loss - c_.min_delta;
  if (better)
    p_.best_val_loss = val, p_.best_step = p_.step, p_.bad_evals = 0;
  else
    ++p_.bad_evals;
  p_.elapsed_s = elapsed();
  try {
    log_.add({p_.step, static_cast<double>(p_.step) / order_->steps_per_epoch(), p_.loss_sum / p_.loss_count, val,
              p_.best_val_loss, p_.elapsed_s, samples_per_s()});
  } catch (const std::runtime_error& e) {
    bar_->stop();
    throw save_failed(e, p_.step, last_path_, saved_step_);
  }
  p_.loss_sum = 0, p_.loss_count = 0;
  if (better) save(best_path_);
  save(last_path_);
  if (c_.patience > 0 && p_.bad_evals >= c_.patience) {
    early_stop_ = true;
    bar_->stop();
    std::fprintf(stderr,
                 "early stop at step %lld: no validation improvement in %d evaluations (best %.5f at step %lld)\n",
                 static_cast<long long>(p_.step), p_.bad_evals, p_.best_val_loss, static_cast<long long>(p_.best_step));
  }
  return std::nullopt;
}

int Trainer::interrupted() {
  p_.elapsed_s = elapsed();
  if (const std::string bad = nonfinite_message(first_nonfinite(*model_, ema_)); !bad.empty()) {
    stop_unsaved("interrupted at step " + std::to_string(p_.step) + ": " + bad);
    return 130;
  }
  save(last_path_);
  bar_->finish();
  std::fprintf(stderr, "interrupted at step %lld: saved %s; continue with --resume\n", static_cast<long long>(p_.step),
               last_path_.c_str());
  return 130;
}

void Trainer::write(const std::string& path) {
  p_.rng_offset = gen_.offset();
  p_.ema_updates = ema_ ? ema_->updates() : 0;
  save_checkpoint(path, *model_, ema_ ? &*ema_ : nullptr, *adam_, p_, config_toml_);
  if (path == last_path_) saved_step_ = p_.step;
}

void Trainer::save(const std::string& path) {
  try {
    write(path);
  } catch (const std::runtime_error& e) {
    bar_->stop();
    throw save_failed(e, p_.step, last_path_, saved_step_);
  }
}

int Trainer::stop_unsaved(const std::string& what) {
  bar_->stop();
  std::fprintf(stderr, "mnist: %s. Nothing was saved: %s; try a lower --lr or --clip.\n", what.c_str(),
               kept_checkpoints(last_path_, saved_step_, best_path_, p_).c_str());
  return 1;
}

double Trainer::samples_per_s() const {
  const double seconds = std::chrono::duration<double>(Clock::now() - loop_start_).count();
  return static_cast<double>((p_.step - first_step_) * c_.batch) / std::max(seconds, 1e-9);
}

}  // namespace

int train(const MnistConfig& c, const std::string& config_toml) {
  if (c.threads > 0) set_num_threads(c.threads);
  return Trainer(c, config_toml).run();
}

}  // namespace scorch::app
