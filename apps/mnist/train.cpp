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
  InterruptGuard() : int_(std::signal(SIGINT, on_interrupt)), term_(std::signal(SIGTERM, on_interrupt)) { g_interrupted = 0; }
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

// log.csv: one row per validation. Each row is written before that step's checkpoints: a process killed
// in between leaves a row past last.safetensors's step, which a resume drops and writes again (the
// other order would lose the row), so a resumed log has every row once.
struct LogRow {
  int64_t step;
  double epoch, train_loss, val_loss, best_val_loss, elapsed_s, samples_per_s;
};

class TrainingLog {
 public:
  static constexpr const char* kHeader = "step,epoch,train_loss,val_loss,best_val_loss,elapsed_s,samples_per_s";
  static constexpr int kColumns = 7;

  explicit TrainingLog(std::string path) : path_(std::move(path)) {}

  // A resumed run keeps the rows up to its checkpoint's step. The log is a record of the run, not its
  // state, so a damaged one does not stop the resume: the rows before the first line that is not a row
  // (or whose step does not follow the one before) are kept, the file as it was is saved next to it as
  // log.csv.damaged, and a warning names the line.
  void restore(int64_t up_to_step) {
    if (!std::filesystem::exists(path_)) return;
    const std::string text = read_file(path_);
    std::istringstream in(text);
    std::string line;
    int64_t previous = -1;
    for (int number = 1; std::getline(in, line); ++number) {
      const std::string why = number == 1 ? (line == kHeader ? "" : std::string("is not the header ") + kHeader)
                                          : row_problem(line, previous);
      if (!why.empty()) return set_aside(text, number, line, why);
      if (number == 1) continue;
      if (previous > up_to_step) break;
      lines_.push_back(line);
    }
  }

  void add(const LogRow& r) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%lld,%.4f,%.9g,%.9g,%.9g,%.1f,%.1f", static_cast<long long>(r.step), r.epoch,
                  r.train_loss, r.val_loss, r.best_val_loss, r.elapsed_s, r.samples_per_s);
    lines_.emplace_back(buf);
    std::string text = std::string(kHeader) + "\n";
    for (const std::string& l : lines_) text += l + "\n";
    write_file_atomic(path_, text);
  }

 private:
  // Why `line` is not a row that follows step `previous` ("" when it is; `previous` becomes its step).
  static std::string row_problem(const std::string& line, int64_t& previous) {
    std::vector<std::string> fields;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    double v = 0;
    for (const std::string& cell : fields)
      if (!cli_detail::parse_double(cell, v)) return "is not " + std::to_string(kColumns) + " comma-separated numbers";
    if (fields.size() != kColumns) return "has " + std::to_string(fields.size()) + " values, not " + std::to_string(kColumns);
    char* end = nullptr;
    const long long step = std::strtoll(fields[0].c_str(), &end, 10);
    if (*end != '\0' || step <= previous) return "does not start with a step after " + std::to_string(previous);
    previous = step;
    return "";
  }

  void set_aside(const std::string& text, int number, const std::string& line, const std::string& why) {
    const std::string copy = path_ + ".damaged";
    write_file_atomic(copy, text);
    std::fprintf(stderr, "mnist: warning: %s line %d %s: %s; the %zu rows before it are kept, and the file as it was "
                 "is saved as %s (delete it once read)\n",
                 path_.c_str(), number, why.c_str(), quoted_escaped(line).c_str(), lines_.size(), copy.c_str());
  }

  std::string path_;
  std::vector<std::string> lines_;
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
std::runtime_error save_failed(const std::runtime_error& e, int64_t step, const std::string& last_path, int64_t saved_step) {
  return std::runtime_error("training stopped at step " + std::to_string(step) + ": " + e.what() + "; " + last_path +
                            " still holds step " + std::to_string(saved_step) + ", continue with --resume once it can be written");
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
  if (c.model == "unet-small") return std::make_shared<nn::UNetSmall>(gen, nn::UNetSmall::Options{.width = model_width(c)});
  if (c.model == "refinenet")
    return std::make_shared<nn::RefineNet>(
        gen, nn::RefineNet::Options{.ngf = model_width(c), .num_classes = c.levels, .sigmas = noise_levels(c)});
  throw std::invalid_argument("--model: unknown model '" + c.model + "' (known: unet-small, refinenet)");
}

int train(const MnistConfig& c, const std::string& config_toml) {
  if (c.threads > 0) set_num_threads(c.threads);
  const auto t_start = Clock::now();
  make_output_dir("--weights-dir", c.weights_dir);
  // A new run would overwrite the checkpoints of the one trained there before: refused unless --overwrite.
  // With it, the old run's files stay until this run has written its first checkpoint (below): a typo in
  // --data-dir, or any other problem found while loading the data and building the model, leaves them.
  std::vector<std::string> replaced;
  if (!c.resume)
    for (const char* name : {"/last.safetensors", "/best.safetensors"}) {
      const std::string path = c.weights_dir + name;
      if (!std::filesystem::exists(path)) continue;
      if (!c.overwrite)
        throw std::runtime_error(path + " exists: continue that run with --resume, replace it with --overwrite, or train "
                                 "into another --weights-dir");
      replaced.push_back(path);
    }
  const std::string dir = c.data_dir.empty() ? default_data_dir(c.dataset) : c.data_dir;
  const TrainValSplit data = split_digits(load_digits(dir), c.val_fraction, c.seed);
  const std::vector<double> sigmas = noise_levels(c);

  Generator init(derive_seed(c.seed, 0));
  const std::shared_ptr<nn::ScoreModel> model = make_mnist_model(c, init);
  const Device device = device_from_flag(c.device);
  cuda::set_deterministic(c.deterministic);
  model->to(device);  // before the optimizer and the EMA make their state, on the model's device
  const ModelScore score(model);
  nn::Adam adam(model->parameters(), {.lr = c.lr});
  std::optional<nn::EMA> ema;
  if (c.ema < 1) ema.emplace(*model, c.ema, c.ema_warmup);
  BatchOrder order(data.train.count, c.batch, c.seed);
  Generator gen(derive_seed(c.seed, 3));  // dequantization and noise of the training batches
  const Validation validation(data.val, sigmas, c.seed, device);
  const int64_t last_step = c.epochs > 0 ? std::min(c.steps, c.epochs * order.steps_per_epoch()) : c.steps;
  const std::string best_path = c.weights_dir + "/best.safetensors", last_path = c.weights_dir + "/last.safetensors";
  const std::string log_path = c.weights_dir + "/log.csv", config_path = c.weights_dir + "/config.toml";
  // Temporary files of a killed run's atomic writes: gone, so that repeated crashes cannot fill the disk.
  for (const std::string& path : {best_path, last_path, log_path, config_path}) remove_stale_temp_files(path);
  TrainingLog log(log_path);

  TrainingProgress p;
  if (c.resume) {
    if (!std::filesystem::exists(last_path))
      throw std::runtime_error(last_path + ": no checkpoint to resume from; start the run without --resume");
    const Checkpoint ck = load_checkpoint(last_path);
    check_resumable(c, ck);
    model->load_state_dict(ck.model, last_path);
    if (ema) {
      ema->load_state_dict(ck.ema, last_path);
      ema->set_updates(ck.progress.ema_updates);
    }
    adam.load_state(ck.optim, last_path);
    p = ck.progress;
    gen.set_offset(p.rng_offset);
    log.restore(p.step);
    std::fprintf(stderr, "resuming from %s at step %lld\n", last_path.c_str(), static_cast<long long>(p.step));
    if (c.patience > 0 && p.bad_evals >= c.patience) {  // finished (perhaps killed before it could exit)
      std::fprintf(stderr, "the run stopped early at step %lld (no validation improvement in %d evaluations); "
                   "raise --patience to train on\n",
                   static_cast<long long>(p.step), p.bad_evals);
      return 0;
    }
  }
  int64_t saved_step = p.step;  // the step last.safetensors holds
  auto save = [&](const std::string& path) {
    p.rng_offset = gen.offset();
    p.ema_updates = ema ? ema->updates() : 0;
    save_checkpoint(path, *model, ema ? &*ema : nullptr, adam, p, config_toml);
    if (path == last_path) saved_step = p.step;
  };
  // Before the first save: a Ctrl-C that comes once last.safetensors exists always finds the handler
  // (it used to kill the process between the two, 1 run in 12 of MnistAppRun.CtrlCSavesLastAndResumes).
  InterruptGuard interrupt;
  // A fresh run saves its starting state before it reports its start: from then on, wherever the
  // process is killed, last.safetensors exists and --resume continues the run. Only then do the files of
  // the run it replaces go (its last.safetensors is already replaced), and config.toml follows, so that
  // the folder never pairs this run's checkpoint with the old run's best one or settings for long.
  if (!c.resume) {
    save(last_path);
    for (const std::string& path : replaced)
      if (path != last_path) std::filesystem::remove(path);
    if (!replaced.empty()) std::filesystem::remove(log_path);  // its rows are the old run's
  }
  write_file_atomic(config_path, config_toml);
  std::fprintf(stderr, "mnist: %s (%lld parameters) on %lld training / %lld validation images from %s, %s, %d threads\n",
               c.model.c_str(), static_cast<long long>(model->num_parameters()), static_cast<long long>(data.train.count),
               static_cast<long long>(data.val.count), dir.c_str(), device.str().c_str(), num_threads());
  const double elapsed_before = p.elapsed_s;
  auto elapsed = [&] { return elapsed_before + std::chrono::duration<double>(Clock::now() - t_start).count(); };
  ProgressBar bar("train", last_step, p.step);
  const auto loop_start = Clock::now();
  const int64_t first_step = p.step;
  double last_val = NAN;
  while (p.step < last_step) {
    std::optional<scorch::ProfileRange> step_range(std::in_place, "train_step");  // --profile; closed before validation
    const Tensor x = dequantize(data.train, order.indices(p.step), gen).to(device);
    Tensor loss = c.noise == "levels" ? annealed_dsm_loss(score, x, sigmas, gen)
                                      : log_uniform_dsm_loss(score, x, c.sigma_min, c.sigma_max, gen);
    if (p.step == first_step && !c.dump_graph.empty()) {
      dump_graph(loss, c.dump_graph, model->named_parameters());
      std::fprintf(stderr, "mnist: wrote the graph of step %lld's loss to %s\n", static_cast<long long>(p.step + 1),
                   c.dump_graph.c_str());
    }
    adam.zero_grad();
    loss.backward();
    const double l = loss.item();
    const double norm = c.clip > 0 ? nn::clip_grad_norm(adam.parameters(), c.clip) : 0.0;
    if (!std::isfinite(l) || !std::isfinite(norm)) {
      bar.stop();
      std::fprintf(stderr, "mnist: training stopped at step %lld: the loss is %s and the gradient norm %s (not finite). "
                   "Nothing was saved: %s; try a lower --lr or --clip.\n", static_cast<long long>(p.step + 1),
                   format_number(l).c_str(), format_number(norm).c_str(),
                   kept_checkpoints(last_path, saved_step, best_path, p).c_str());
      return 1;
    }
    adam.step();
    if (ema) ema->update(*model);
    step_range.reset();
    ++p.step;
    p.loss_sum += l;
    ++p.loss_count;

    if (p.step % c.val_interval == 0 || p.step == last_step) {
      scorch::ProfileRange range("validation_and_checkpoints");
      double val;
      {
        std::optional<nn::EMA::Swap> averaged;
        if (ema) averaged.emplace(ema->scoped(*model));
        val = validation.loss(score, 256);
      }
      last_val = val;
      const std::string bad = !std::isfinite(val) ? "the validation loss is " + format_number(val) + " (not finite)"
                              : nonfinite_message(first_nonfinite(*model, ema));
      if (!bad.empty()) {
        bar.stop();
        std::fprintf(stderr, "mnist: training stopped at step %lld: %s. Nothing was saved: %s; try a lower --lr or --clip.\n",
                     static_cast<long long>(p.step), bad.c_str(), kept_checkpoints(last_path, saved_step, best_path, p).c_str());
        return 1;
      }
      const bool better = val < p.best_val_loss - c.min_delta;
      if (better) p.best_val_loss = val, p.best_step = p.step, p.bad_evals = 0;
      else ++p.bad_evals;
      p.elapsed_s = elapsed();
      const double seconds = std::chrono::duration<double>(Clock::now() - loop_start).count();
      try {
        log.add({p.step, static_cast<double>(p.step) / order.steps_per_epoch(), p.loss_sum / p.loss_count, val,
                 p.best_val_loss, p.elapsed_s, (p.step - first_step) * c.batch / std::max(seconds, 1e-9)});
        p.loss_sum = 0, p.loss_count = 0;
        if (better) save(best_path);
        save(last_path);
      } catch (const std::runtime_error& e) {
        bar.stop();
        throw save_failed(e, p.step, last_path, saved_step);
      }
      if (c.patience > 0 && p.bad_evals >= c.patience) {
        bar.finish();
        std::fprintf(stderr, "early stop at step %lld: no validation improvement in %d evaluations (best %.5f at step %lld)\n",
                     static_cast<long long>(p.step), p.bad_evals, p.best_val_loss, static_cast<long long>(p.best_step));
        break;
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - loop_start).count();
    char info[128];
    std::snprintf(info, sizeof info, "loss %.4f  val %s  %.0f samples/s", l, format_loss(last_val).c_str(),
                  (p.step - first_step) * c.batch / std::max(seconds, 1e-9));
    bar.update(p.step, info);
    if (g_interrupted) {
      p.elapsed_s = elapsed();
      if (const std::string bad = nonfinite_message(first_nonfinite(*model, ema)); !bad.empty()) {
        bar.stop();
        std::fprintf(stderr, "interrupted at step %lld: not saved, %s; %s\n", static_cast<long long>(p.step), bad.c_str(),
                     kept_checkpoints(last_path, saved_step, best_path, p).c_str());
        return 130;
      }
      try {
        save(last_path);
      } catch (const std::runtime_error& e) {
        bar.stop();
        throw save_failed(e, p.step, last_path, saved_step);
      }
      bar.finish();
      std::fprintf(stderr, "interrupted at step %lld: saved %s; continue with --resume\n", static_cast<long long>(p.step),
                   last_path.c_str());
      return 130;
    }
  }
  if (p.step >= last_step) bar.finish();
  std::fprintf(stderr, "trained %lld steps in %.1fs (this run %.1fs); best validation loss %.5f at step %lld -> %s\n",
               static_cast<long long>(p.step), elapsed(), std::chrono::duration<double>(Clock::now() - t_start).count(),
               p.best_val_loss, static_cast<long long>(p.best_step), best_path.c_str());
  return 0;
}

}  // namespace scorch::app
