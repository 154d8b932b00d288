#include "apps/mnist/config.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "samplers/schedule.h"

namespace scorch::app {
namespace {


// A double setting. NOTE: CLI11 writes a value with operator<<, 6 significant digits, so config.toml
// would hold --clip 1112341 as 1.11234e+06 (found by tests/fuzz/fuzz_mnist_config). Here it is written
// in the shortest form that reads back exactly; CLI11 reads through strtold and rounds twice, which
// turns about one shortest form in 10,000 (1.706777165336792e-07) into the next double: those get 17
// digits.
CLI::Option* add_real(CLI::App& app, const std::string& name, double& value, const std::string& help) {
  return app.add_option(name, value, help)
      ->default_function([&value] {
        char text[32];
        *std::to_chars(text, text + sizeof text - 1, value).ptr = '\0';
        if (static_cast<double>(std::strtold(text, nullptr)) != value)
          *std::to_chars(text, text + sizeof text - 1, value, std::chars_format::general, 17).ptr = '\0';
        return std::string(text);
      })
      ->capture_default_str();
}

// A flag without a value. NOTE: CLI11 leaves a flag's default string empty and writes an empty one as
// false, so config.toml said inference_only=false for a config that read `inference_only` (found by
// tests/fuzz/fuzz_mnist_config); here it is written as the flag is set.
CLI::Option* add_switch(CLI::App& app, const std::string& names, bool& value, const std::string& help) {
  return app.add_flag(names, value, help)
      ->default_function([&value] { return std::string(value ? "true" : "false"); })
      ->capture_default_str();
}

// Every setting, as a flag of `app` bound to a field of `c` (the config file uses the same names).
void add_settings(CLI::App& app, MnistConfig& c) {
  app.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--dataset", c.dataset, "mnist (run scripts/fetch_mnist.sh first) or fashion (apt-get install dataset-fashion-mnist)")
      ->check(CLI::IsMember({"mnist", "fashion"}))->group("Data");
  app.add_option("--data-dir", c.data_dir, "folder of the IDX files (empty: data/mnist or /usr/share/datasets/fashion-mnist)")
      ->group("Data");
  add_real(app, "--val-fraction", c.val_fraction, "share of the training file held out for validation (seeded split)")
      ->check(real_in(0.001, 0.5))->group("Data");

  // The upper bounds of --width, --batch and --n-samples keep one flag from asking for more memory than the
  // machine has (the kernel kills the process; unet-small at width 1024 has 1.4 billion parameters).
  app.add_option("--model", c.model, "score network: unet-small or refinenet (NCSN)")
      ->check(CLI::IsMember({"unet-small", "refinenet"}))->group("Model");
  app.add_option("--width", c.width, "unet-small's base width (a multiple of 8) or refinenet's ngf; 0: 32 or 16")
      ->check(int_in(0, 256))->group("Model");
  add_real(app, "--sigma-max", c.sigma_max, "largest noise level of the geometric schedule")->check(kNoiseLevel)->group("Model");
  add_real(app, "--sigma-min", c.sigma_min, "smallest noise level")->check(kNoiseLevel)->group("Model");
  app.add_option("--levels", c.levels, "number of noise levels L")->check(int_in(2, 10000))->group("Model");

  app.add_option("--noise", c.noise,
                 "training noise levels: levels (one of the L schedule levels per image, NCSN) or log-uniform "
                 "(any sigma between sigma-min and sigma-max: what the ode and edm samplers evaluate)")
      ->check(CLI::IsMember({"levels", "log-uniform"}))->group("Model");
  app.add_option("--batch", c.batch, "batch size (training; sampling under --inference_only)")
      ->check(int_in(1, 4096))->group("Training");
  add_real(app, "--lr", c.lr, "Adam learning rate")->check(kPositive)->group("Training");
  app.add_option("--steps", c.steps, "training steps at most")->check(int_in(1, 1000000000))->group("Training");
  app.add_option("--epochs", c.epochs, "passes over the training split at most (0: no limit but --steps)")
      ->check(int_in(0, 1000000))->group("Training");
  add_real(app, "--ema", c.ema, "decay of the weights' moving average, used for validation and sampling (1: off)")
      ->check(real_in(0, 1))->group("Training");
  app.add_option("--ema-warmup", c.ema_warmup, "EMA decay min(ema, (1 + n) / (10 + n)) at step n (score_sde's default)")
      ->group("Training");
  add_real(app, "--clip", c.clip, "clip the gradients' global L2 norm to this (0: off)")->check(real_in(0, 1e30))
      ->group("Training");
  app.add_option("--patience", c.patience, "stop after this many validations without improvement (0: never early)")
      ->check(int_in(0, 1000000))->group("Training");
  add_real(app, "--min-delta", c.min_delta, "an improvement is a validation loss below best - min-delta")
      ->check(real_in(0, 1e30))->group("Training");
  app.add_option("--val-interval", c.val_interval, "steps between validations and checkpoints")
      ->check(int_in(1, 100000000))->group("Training");
  app.add_option("--seed", c.seed, "seed of the split, the batches, the noise and the initial weights")
      ->check(kSeed)->group("Training");
  app.add_option("--device", c.device, "cpu, cuda or cuda:N: where the model trains and samples")->check(kDevice)
      ->group("Training");
  add_switch(app, "--deterministic", c.deterministic, "CUDA: only kernels whose results repeat bit for bit from run "
             "to run (cuDNN's deterministic algorithms; slower)")->group("Training");
  app.add_option("--threads", c.threads, "CPU threads (0: all cores)")->check(int_in(0, 4096))->group("Training");
  app.add_option("--weights-dir", c.weights_dir, "folder of best/last.safetensors, log.csv and config.toml")
      ->check(kNonEmpty)->group("Training");
  add_switch(app, "--resume", c.resume, "continue from <weights-dir>/last.safetensors (reads <weights-dir>/config.toml "
             "when no --config is given)")->group("Training");
  add_switch(app, "--overwrite", c.overwrite, "start a new run in a --weights-dir that holds one: its checkpoints are "
             "replaced (without this flag such a run is refused)")->group("Training");

  add_switch(app, "--inference_only,--inference-only", c.inference_only, "sample from a trained model instead of training")
      ->group("Sampling");
  app.add_option("--weights", c.weights, "checkpoint to sample from (empty: <weights-dir>/best.safetensors)")->group("Sampling");
  app.add_option("--samples-dir", c.samples_dir, "folder of samples.png, samples.npy, trajectory.png")
      ->check(kNonEmpty)->group("Sampling");
  app.add_option("--sampler", c.sampler,
                 "annealed (NCSN's annealed Langevin), ode (probability flow), pc (predictor-corrector) or edm (Heun)")
      ->check(CLI::IsMember({"annealed", "ode", "pc", "edm"}))->group("Sampling");
  app.add_option("--n-samples", c.n_samples, "images to draw")->check(int_in(1, 100000))->group("Sampling");
  app.add_option("--steps-per-level", c.steps_per_level, "annealed: Langevin steps T per noise level")
      ->check(int_in(1, 100000000))->group("Sampling");
  add_real(app, "--step-lr", c.step_lr, "annealed: alpha_i = step_lr sigma_i^2 / sigma_L^2")->check(kPositive)->group("Sampling");
  app.add_option("--denoise", c.denoise, "annealed, ode, edm: end with the denoising step x + sigma_L^2 s(x, sigma_L)")
      ->group("Sampling");
  app.add_option("--ode-solver", c.ode_solver, "ode: euler, heun or rk45 (adaptive, --rtol/--atol)")
      ->check(CLI::IsMember({"euler", "heun", "rk45"}))->group("Sampling");
  app.add_option("--sample-steps", c.sample_steps, "noise levels of ode euler/heun, pc and edm (0: 100, 100, 18; refinenet: its own L levels)")
      ->check(int_in(0, 100000000))->group("Sampling");
  add_real(app, "--rtol", c.rtol, "ode rk45: relative tolerance")->check(kPositive)->group("Sampling");
  add_real(app, "--atol", c.atol, "ode rk45: absolute tolerance")->check(kPositive)->group("Sampling");
  app.add_option("--predictor", c.predictor, "pc: reverse_diffusion or ode (an Euler step of the probability flow)")
      ->check(CLI::IsMember({"reverse_diffusion", "ode"}))->group("Sampling");
  app.add_option("--corrector-steps", c.corrector_steps, "pc: Langevin corrector steps per level")
      ->check(int_in(0, 1000))->group("Sampling");
  add_real(app, "--snr", c.snr, "pc: the corrector's signal-to-noise ratio")->check(kPositive)->group("Sampling");
  app.add_option("--warm-start", c.warm_start,
                 "ode, pc, edm: start with this many Langevin steps at sigma_max from U[0, 1] noise, as annealed does "
                 "(0: start from sigma_max z, the VE prior, which is far from the noised digits when sigma_max = 1)")
      ->check(int_in(0, 100000000))->group("Sampling");
  add_real(app, "--rho", c.rho, "edm: exponent of the sigma schedule")->check(kPositive)->group("Sampling");

  app.add_option("--profile", c.profile,
                 "profile training (or sampling): write a Chrome trace to this file (open in https://ui.perfetto.dev) "
                 "and print a per-op summary to stderr")->check(kOutputFile)->group("Diagnostics")->configurable(false);
  app.add_option("--dump-graph", c.dump_graph,
                 "training: write the autograd graph of the first step's loss as Graphviz DOT to this file "
                 "(render: dot -Tpng FILE -o graph.png)")->check(kOutputFile)->group("Diagnostics")->configurable(false);
}

[[noreturn]] void usage_error(const std::string& msg) { throw UsageError(msg); }

// A setting's value for an error message: quoted, other bytes than printable ASCII as \xNN, cut short.
std::string quoted(const std::string& value) {
  constexpr size_t kShown = 60;
  std::string out = "'";
  for (size_t i = 0; i < value.size() && i < kShown; ++i) {
    const unsigned char ch = value[i];
    char hex[5];
    std::snprintf(hex, sizeof hex, "\\x%02x", ch);
    out += ch >= 0x20 && ch < 0x7f ? std::string(1, char(ch)) : std::string(hex);
  }
  return out + (value.size() > kShown ? "'..." : "'");
}

void check(const MnistConfig& c) {
  device_from_flag(c.device);  // throws naming what is missing: no backend, no device
  if (c.sigma_min >= c.sigma_max) usage_error("--sigma-min: must be below --sigma-max");
  if (c.model == "unet-small" && model_width(c) % 8 != 0)
    usage_error("--width: unet-small's width must be a multiple of 8 (its GroupNorm groups), got " + std::to_string(c.width));
  if (c.model == "refinenet" && model_width(c) < 2) usage_error("--width: refinenet's ngf must be at least 2");
  if (c.model == "refinenet" && c.noise != "levels") usage_error("--noise: refinenet is conditioned on the L levels only");
  if (c.inference_only && !c.dump_graph.empty()) usage_error("--dump-graph: applies to training, not --inference_only");
  if (c.inference_only && c.resume) usage_error("--resume: continues training; it does not go with --inference_only");
  if (c.overwrite && (c.resume || c.inference_only))
    usage_error(std::string("--overwrite: starts a new training run; it does not go with ") +
                (c.resume ? "--resume" : "--inference_only"));
  if (c.sample_steps == 1) usage_error("--sample-steps: must be 0 (the sampler's default) or at least 2, got 1");
}

// CLI11's message for a config file's problem, in our words where CLI11 speaks of INI. The key is shown
// printable and short: a binary file's "key" is a line of its bytes.
std::string config_error(const CLI::ParseError& e) {
  const std::string what = e.what(), extra = "INI was not able to parse ";
  if (!what.starts_with(extra)) return what;
  std::string key = what.substr(extra.size());
  if (key.size() > 40) key = key.substr(0, 40) + "...";
  for (char& ch : key)
    if (!std::isprint(static_cast<unsigned char>(ch))) ch = '?';
  return "unknown setting '" + key + "' (the keys are the flags' names)";
}

// CLI11's TOML reader, refusing a key with an empty list of values (`lr = []`, or an unterminated
// `lr = [1`). NOTE: CLI11 2.1.2 hands such a key to its option, which reads the first value of the empty
// list: out of bounds (found by tests/fuzz/fuzz_mnist_config).
struct ConfigReader : CLI::ConfigTOML {
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(input);
    for (const CLI::ConfigItem& item : items)
      if (item.inputs.empty() && item.name != "++" && item.name != "--")  // "++", "--": a section's start, end
        throw CLI::ConfigError(item.fullname() + ": no value (an empty list)");
    return items;
  }
};

// CLI11 reads a config file from disk only; this holds one in memory.
struct App : CLI::App {
  explicit App(MnistConfig& c)
      : CLI::App("mnist: train a score model on MNIST (or Fashion-MNIST) with annealed denoising score matching,\n"
                 "then sample it (--inference_only). Settings are flags or keys of a TOML --config file.",
                 "mnist") {
    add_settings(*this, c);
    allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error, not a silent default
    config_formatter(std::make_shared<ConfigReader>());
  }
};

// Whether --resume finds <weights-dir>/config.toml. NOTE: the throwing std::filesystem::exists ended the
// app with std::terminate for a folder name over 255 bytes (ENAMETOOLONG; found while writing tests/fuzz/fuzz_cli).
bool run_config_exists(const std::string& path) {
  std::error_code error;
  const bool exists = std::filesystem::exists(path, error);
  if (error) usage_error("--weights-dir: cannot look for " + path + ": " + error.message());
  return exists;
}

}  // namespace

std::vector<double> noise_levels(const MnistConfig& c) { return geometric_sigmas(c.sigma_max, c.sigma_min, c.levels); }

std::string default_data_dir(const std::string& dataset) {
  return dataset == "fashion" ? "/usr/share/datasets/fashion-mnist" : "data/mnist";
}

int model_width(const MnistConfig& c) { return c.width > 0 ? c.width : c.model == "refinenet" ? 16 : 32; }

// NOTE: CLI11's config format has no escapes, so some strings (a '#' starts a comment, a line break ends
// the value, a leading '[' starts an array) read back as something else. The text is read back here and
// a setting that would change is refused, naming its flag: config.toml is what --resume trusts.
std::string mnist_toml(const MnistConfig& config) {
  MnistConfig c = config, back;
  App app(c), reader(back);
  const std::string toml = "# mnist settings (read back with --config FILE)\n" + app.config_to_str(true, false);
  std::istringstream in(toml);
  try {
    reader.parse_from_stream(in);
  } catch (const CLI::ParseError& e) {
    usage_error(std::string("the settings do not read back from their config file: ") + e.what());
  }
  for (const CLI::Option* written : app.get_options()) {
    CLI::Option* read = reader.get_option(written->get_name());
    read->capture_default_str();  // the value read back, as `written` holds the value written
    if (written->get_configurable() && read->get_default_str() != written->get_default_str())
      usage_error(written->get_name() + ": " + quoted(written->get_default_str()) +
                  " cannot be saved in a config file: it reads back as " + quoted(read->get_default_str()));
  }
  return toml;
}

MnistConfig parse_mnist_toml(const std::string& toml, const std::string& source) {
  MnistConfig c;
  App app(c);
  std::istringstream in(toml);
  try {
    app.parse_from_stream(in);
    mnist_toml(c);  // what parses must also save, for --resume
  } catch (const CLI::ParseError& e) {
    throw UsageError(source + ": " + config_error(e));
  } catch (const UsageError& e) {
    throw UsageError(source + ": " + e.what());
  }
  return c;
}

std::optional<ParsedFlags> parse_mnist_flags(int argc, const char* const* argv) {
  auto parse = [&](const std::string& default_config) {
    ParsedFlags out;
    App app(out.config);
    CLI::Option* config = app.set_config("--config", default_config, "read settings from this TOML file (same keys as the flags)");
    try {
      app.parse(argc, argv);
    } catch (const CLI::ConfigError& e) {  // the file's own problems: name it
      throw UsageError("--config " + config->as<std::string>() + ": " + config_error(e));
    } catch (const CLI::FileError&) {
      throw UsageError("--config " + config->as<std::string>() + ": cannot read the file (missing?)");
    }
    return std::pair{out, config->count() > 0};
  };
  try {
    auto [parsed, has_config] = parse("");
    // --resume without --config: the run's own settings, from the config.toml that training wrote.
    const std::string run_config = parsed.config.weights_dir + "/config.toml";
    if (parsed.config.resume && !has_config && run_config_exists(run_config)) parsed = parse(run_config).first;
    check(parsed.config);
    MnistConfig saved = parsed.config;  // the settings, without the one-off actions
    saved.resume = saved.inference_only = saved.overwrite = false;
    parsed.toml = mnist_toml(saved);
    return parsed;
  } catch (const CLI::CallForHelp&) {
    MnistConfig c;
    App app(c);
    app.set_config("--config", "", "read settings from this TOML file (same keys as the flags)");
    std::printf("%s", app.help().c_str());
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    usage_error(e.what());
  }
}

}  // namespace scorch::app
