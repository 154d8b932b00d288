#include "apps/mnist/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <toml++/toml.h>

#include "samplers/schedule.h"

namespace scorch::app {
namespace {

// A double as text that CLI11 reads back exactly. NOTE: CLI11 writes a value with operator<<, 6
// significant digits, so config.toml would hold --clip 1112341 as 1.11234e+06 (found by
// tests/fuzz/fuzz_mnist_config). This is the shortest form that reads back exactly; CLI11 reads through
// strtold and rounds twice, which turns about one shortest form in 10,000 (1.706777165336792e-07) into
// the next double: those get 17 digits.
std::string double_text(double value) {
  char text[32];
  *std::to_chars(text, text + sizeof text - 1, value).ptr = '\0';
  if (static_cast<double>(std::strtold(text, nullptr)) != value)
    *std::to_chars(text, text + sizeof text - 1, value, std::chars_format::general, 17).ptr = '\0';
  return text;
}

// A double setting, its value written by double_text.
CLI::Option* add_real(CLI::App& app, const std::string& name, double& value, const std::string& help) {
  return app.add_option(name, value, help)
      ->default_function([&value] { return double_text(value); })
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
  app.add_option("--dataset", c.dataset,
                 "mnist (run scripts/fetch_mnist.sh first) or fashion (apt-get install dataset-fashion-mnist)")
      ->check(CLI::IsMember({"mnist", "fashion"}))
      ->group("Data");
  app.add_option("--data-dir", c.data_dir,
                 "folder of the IDX files (empty: data/mnist or /usr/share/datasets/fashion-mnist)")
      ->group("Data");
  add_real(app, "--val-fraction", c.val_fraction, "share of the training file held out for validation (seeded split)")
      ->check(real_in(0.001, 0.5))
      ->group("Data");

  // The upper bounds of --width, --batch and --n-samples keep one flag from asking for more memory than the
  // machine has (the kernel kills the process; unet-small at width 1024 has 1.4 billion parameters).
  app.add_option("--model", c.model, "score network: unet-small or refinenet (NCSN)")
      ->check(CLI::IsMember({"unet-small", "refinenet"}))
      ->group("Model");
  app.add_option("--width", c.width, "unet-small's base width (a multiple of 8) or refinenet's ngf; 0: 32 or 16")
      ->check(int_in(0, 256))
      ->group("Model");
  add_real(app, "--sigma-max", c.sigma_max, "largest noise level of the geometric schedule")
      ->check(kNoiseLevel)
      ->group("Model");
  add_real(app, "--sigma-min", c.sigma_min, "smallest noise level")->check(kNoiseLevel)->group("Model");
  app.add_option("--levels", c.levels, "number of noise levels L")->check(int_in(2, 10000))->group("Model");

  app.add_option("--noise", c.noise,
                 "training noise levels: levels (one of the L schedule levels per image, NCSN) or log-uniform "
                 "(any sigma between sigma-min and sigma-max: what the ode and edm samplers evaluate)")
      ->check(CLI::IsMember({"levels", "log-uniform"}))
      ->group("Model");
  app.add_option("--batch", c.batch, "batch size (training; sampling under --inference_only)")
      ->check(int_in(1, 4096))
      ->group("Training");
  add_real(app, "--lr", c.lr, "Adam learning rate")->check(kPositive)->group("Training");
  app.add_option("--steps", c.steps, "training steps at most")->check(int_in(1, 1000000000))->group("Training");
  app.add_option("--epochs", c.epochs, "passes over the training split at most (0: no limit but --steps)")
      ->check(int_in(0, 1000000))
      ->group("Training");
  add_real(app, "--ema", c.ema, "decay of the weights' moving average, used for validation and sampling (1: off)")
      ->check(real_in(0, 1))
      ->group("Training");
  app.add_option("--ema-warmup", c.ema_warmup, "EMA decay min(ema, (1 + n) / (10 + n)) at step n (score_sde's default)")
      ->group("Training");
  add_real(app, "--clip", c.clip, "clip the gradients' global L2 norm to this (0: off)")
      ->check(real_in(0, 1e30))
      ->group("Training");
  app.add_option("--patience", c.patience, "stop after this many validations without improvement (0: never early)")
      ->check(int_in(0, 1000000))
      ->group("Training");
  add_real(app, "--min-delta", c.min_delta, "an improvement is a validation loss below best - min-delta")
      ->check(real_in(0, 1e30))
      ->group("Training");
  app.add_option("--val-interval", c.val_interval, "steps between validations and checkpoints")
      ->check(int_in(1, 100000000))
      ->group("Training");
  app.add_option("--seed", c.seed, "seed of the split, the batches, the noise and the initial weights")
      ->check(kSeed)
      ->group("Training");
  app.add_option("--device", c.device, "cpu, cuda or cuda:N: where the model trains and samples")
      ->check(kDevice)
      ->group("Training");
  add_switch(app, "--deterministic", c.deterministic,
             "CUDA: only kernels whose results repeat bit for bit from run "
             "to run (cuDNN's deterministic algorithms; slower)")
      ->group("Training");
  app.add_option("--threads", c.threads, "CPU threads (0: all cores)")->check(int_in(0, 4096))->group("Training");
  app.add_option("--weights-dir", c.weights_dir, "folder of best/last.safetensors, log.csv and config.toml")
      ->check(kNonEmpty)
      ->group("Training");
  add_switch(app, "--resume", c.resume,
             "continue from <weights-dir>/last.safetensors (reads <weights-dir>/config.toml "
             "when no --config is given)")
      ->group("Training");
  add_switch(app, "--overwrite", c.overwrite,
             "start a new run in a --weights-dir that holds one: its checkpoints are "
             "replaced (without this flag such a run is refused)")
      ->group("Training");

  add_switch(app, "--inference_only,--inference-only", c.inference_only,
             "sample from a trained model instead of training")
      ->group("Sampling");
  app.add_option("--weights", c.weights, "checkpoint to sample from (empty: <weights-dir>/best.safetensors)")
      ->group("Sampling");
  app.add_option("--samples-dir", c.samples_dir, "folder of samples.png, samples.npy, trajectory.png")
      ->check(kNonEmpty)
      ->group("Sampling");
  app.add_option("--sampler", c.sampler,
                 "annealed (NCSN's annealed Langevin), ode (probability flow), pc (predictor-corrector) or edm (Heun)")
      ->check(CLI::IsMember({"annealed", "ode", "pc", "edm"}))
      ->group("Sampling");
  app.add_option("--n-samples", c.n_samples, "images to draw")->check(int_in(1, 100000))->group("Sampling");
  app.add_option("--steps-per-level", c.steps_per_level, "annealed: Langevin steps T per noise level")
      ->check(int_in(1, 100000000))
      ->group("Sampling");
  add_real(app, "--step-lr", c.step_lr, "annealed: alpha_i = step_lr sigma_i^2 / sigma_L^2")
      ->check(kPositive)
      ->group("Sampling");
  app.add_option("--denoise", c.denoise, "annealed, ode, edm: end with the denoising step x + sigma_L^2 s(x, sigma_L)")
      ->group("Sampling");
  app.add_option("--ode-solver", c.ode_solver, "ode: euler, heun or rk45 (adaptive, --rtol/--atol)")
      ->check(CLI::IsMember({"euler", "heun", "rk45"}))
      ->group("Sampling");
  app.add_option("--sample-steps", c.sample_steps,
                 "noise levels of ode euler/heun, pc and edm (0: 100, 100, 18; refinenet: its own L levels)")
      ->check(int_in(0, 100000000))
      ->group("Sampling");
  add_real(app, "--rtol", c.rtol, "ode rk45: relative tolerance")->check(kPositive)->group("Sampling");
  add_real(app, "--atol", c.atol, "ode rk45: absolute tolerance")->check(kPositive)->group("Sampling");
  app.add_option("--predictor", c.predictor, "pc: reverse_diffusion or ode (an Euler step of the probability flow)")
      ->check(CLI::IsMember({"reverse_diffusion", "ode"}))
      ->group("Sampling");
  app.add_option("--corrector-steps", c.corrector_steps, "pc: Langevin corrector steps per level")
      ->check(int_in(0, 1000))
      ->group("Sampling");
  add_real(app, "--snr", c.snr, "pc: the corrector's signal-to-noise ratio")->check(kPositive)->group("Sampling");
  app.add_option("--warm-start", c.warm_start,
                 "ode, pc, edm: start with this many Langevin steps at sigma_max from U[0, 1] noise, as annealed does "
                 "(0: start from sigma_max z, the VE prior, which is far from the noised digits when sigma_max = 1)")
      ->check(int_in(0, 100000000))
      ->group("Sampling");
  add_real(app, "--rho", c.rho, "edm: exponent of the sigma schedule")->check(kPositive)->group("Sampling");

  app.add_option("--profile", c.profile,
                 "profile training (or sampling): write a Chrome trace to this file (open in https://ui.perfetto.dev) "
                 "and print a per-op summary to stderr")
      ->check(kOutputFile)
      ->group("Diagnostics")
      ->configurable(false);
  app.add_option("--dump-graph", c.dump_graph,
                 "training: write the autograd graph of the first step's loss as Graphviz DOT to this file "
                 "(render: dot -Tpng FILE -o graph.png)")
      ->check(kOutputFile)
      ->group("Diagnostics")
      ->configurable(false);
}

[[noreturn]] void usage_error(const std::string& msg) { throw UsageError(msg); }

void check(const MnistConfig& c) {
  device_from_flag(c.device);  // throws naming what is missing: no backend, no device
  if (c.sigma_min >= c.sigma_max) usage_error("--sigma-min: must be below --sigma-max");
  if (c.model == "unet-small" && model_width(c) % 8 != 0)
    usage_error("--width: unet-small's width must be a multiple of 8 (its GroupNorm groups), got " +
                std::to_string(c.width));
  if (c.model == "refinenet" && model_width(c) < 2) usage_error("--width: refinenet's ngf must be at least 2");
  if (c.model == "refinenet" && c.noise != "levels")
    usage_error("--noise: refinenet is conditioned on the L levels only");
  if (c.inference_only && !c.dump_graph.empty()) usage_error("--dump-graph: applies to training, not --inference_only");
  if (c.inference_only && c.resume) usage_error("--resume: continues training; it does not go with --inference_only");
  if (c.overwrite && (c.resume || c.inference_only))
    usage_error(std::string("--overwrite: starts a new training run; it does not go with ") +
                (c.resume ? "--resume" : "--inference_only"));
  if (c.sample_steps == 1) usage_error("--sample-steps: must be 0 (the sampler's default) or at least 2, got 1");
}

struct App : CLI::App {
  explicit App(MnistConfig& c)
      : CLI::App(
            "mnist: train a score model on MNIST (or Fashion-MNIST) with annealed denoising score matching,\n"
            "then sample it (--inference_only). Settings are flags or keys of a TOML --config file.",
            "mnist") {
    add_settings(*this, c);
  }
};

// --config is a flag of parse_mnist_flags only: mnist_toml and parse_mnist_toml read and write the settings.
CLI::Option* add_config_flag(CLI::App& app, std::string& file) {
  return app
      .add_option("--config", file,
                  "read settings from this TOML file (keys: the flags' long names, `lr = 0.001`; "
                  "flags on the command line win)")
      ->check(kNonEmpty)
      ->configurable(false);
}

// Whether --resume finds <weights-dir>/config.toml. NOTE: the throwing std::filesystem::exists ended the
// app with std::terminate for a folder name over 255 bytes (ENAMETOOLONG; found while writing tests/fuzz/fuzz_cli).
bool run_config_exists(const std::string& path) {
  std::error_code error;
  const bool exists = std::filesystem::exists(path, error);
  if (error) usage_error("--weights-dir: cannot look for " + path + ": " + error.message());
  return exists;
}

// The config file's text. NOTE: only a regular file is read. CLI11's reader read /dev/zero until memory
// ran out and waited forever on a FIFO; O_NONBLOCK opens a FIFO at once, so that fstat can refuse it.
std::string read_config_file(const std::string& path, const std::string& source) {
  constexpr off_t kMaxBytes = 1 << 20;  // a config file is about 1 KB: more is not one
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) usage_error(source + ": cannot read it: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) usage_error(source + ": cannot read it: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISDIR(st.st_mode)    ? "a folder"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a plain file";
    usage_error(source + ": not a regular file (" + kind + "); a config file is a TOML text file");
  }
  if (st.st_size > kMaxBytes)
    usage_error(source + ": " + std::to_string(st.st_size) +
                " bytes; a config file is at most 1 MiB (is it the right file?)");
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) usage_error(source + ": cannot read it: " + std::strerror(errno));
    if (n == 0) break;  // it shrank while we read
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  return text;
}

// A refused setting of a config file: the message names the file, the line and the key; `line` lets
// mnist_toml name the flag of a line it wrote.
struct SettingError : UsageError {
  SettingError(const std::string& source, int64_t line, const std::string& what)
      : UsageError(source + ", line " + std::to_string(line) + ": " + what), line(line) {}
  int64_t line;
};

// One `key = value` of a config file, its value as text, as the command line would give it (the options'
// validators check it); no value when the key holds an array, a table or a date (`kind` says which).
struct FileSetting {
  std::string key;
  std::optional<std::string> value;
  std::string kind;
  int64_t line;
};

std::string line_of(const std::string& text, int64_t line) {
  size_t begin = 0;
  for (int64_t i = 1; i < line; ++i) {
    const size_t end = text.find('\n', begin);
    if (end == std::string::npos) return "";
    begin = end + 1;
  }
  return text.substr(begin, text.find('\n', begin) - begin);
}

// The key that line `text` sets ("lr" of "lr = [1"), or "" where it has none.
std::string key_of_line(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t"), eq = text.find('=');
  if (begin == std::string::npos || eq == std::string::npos || eq <= begin) return "";
  std::string key = text.substr(begin, eq - begin);
  key.erase(key.find_last_not_of(" \t") + 1);
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '-' || ch == '_';
  });
  return bare ? key : "";
}

// The settings of TOML text, in the order of their lines. A parse error names the key of its line where
// it has one; toml++'s words are kept but for two common slips that it words obscurely.
std::vector<FileSetting> read_settings(const std::string& text, const std::string& source) {
  toml::table table;
  try {
    table = toml::parse(std::string_view(text), std::string_view(source));
  } catch (const toml::parse_error& e) {
    const int64_t line = e.source().begin.line;
    const std::string line_text = line_of(text, line), key = key_of_line(line_text);
    const std::string description(e.description());
    std::string what = "not TOML: " + description;
    if (description.find("parsing string") != std::string::npos && e.source().begin.column > line_text.size())
      what = "the string is not closed before the end of the line (a quote is missing)";
    else if (description.find("cannot redefine existing") != std::string::npos)
      what = "set a second time (a key takes one value)";
    throw SettingError(source, line, (key.empty() ? "" : "key " + quoted_escaped(key) + ": ") + what);
  }
  std::vector<FileSetting> settings;
  for (auto&& [key, node] : table) {
    FileSetting s{std::string(key.str()), std::nullopt, "", static_cast<int64_t>(key.source().begin.line)};
    if (const auto* v = node.as_string())
      s.value = v->get();
    else if (const auto* v = node.as_integer())
      s.value = std::to_string(v->get());
    else if (const auto* v = node.as_floating_point())
      s.value = double_text(v->get());  // nan, inf: the validators refuse them
    else if (const auto* v = node.as_boolean())
      s.value = v->get() ? "true" : "false";
    else
      s.kind = node.is_array() ? "an array" : node.is_table() ? "a table" : "a date or time";
    settings.push_back(std::move(s));
  }
  std::stable_sort(settings.begin(), settings.end(),
                   [](const FileSetting& a, const FileSetting& b) { return a.line < b.line; });
  return settings;
}

// Sets the options of `app` that the command line left unset from the config file's text: flags given
// on the command line win, as they did with CLI11's own reader. Throws SettingError naming `source`, the
// line and the key; a value's own problem is the option's validator message ("--lr: must be ...").
void apply_settings(CLI::App& app, const std::string& text, const std::string& source) {
  std::map<const CLI::Option*, int64_t> set_at;  // the line that set each option (a key has two names)
  for (const FileSetting& s : read_settings(text, source)) {
    const std::string key = quoted_escaped(s.key);
    auto refuse = [&](const std::string& what) { throw SettingError(source, s.line, what); };
    CLI::Option* option = app.get_option_no_throw("--" + s.key);
    if (option == nullptr) refuse("unknown key " + key + " (the keys are the flags' long names: lr, data-dir, ...)");
    if (!option->get_configurable())
      refuse("key " + key + ": " + option->get_name() +
             " is a flag of the command line only, not a setting of a config file");
    if (!s.value)
      refuse("key " + key + " holds " + s.kind + ": a setting takes one value (a number, a \"string\" or true/false)");
    if (auto first = set_at.find(option); first != set_at.end())
      refuse("key " + key + " sets " + option->get_name() + " again (line " + std::to_string(first->second) +
             " set it)");
    set_at[option] = s.line;
    if (option->count() > 0) continue;  // given on the command line
    try {
      option->add_result(*s.value);
      option->run_callback();
    } catch (const CLI::ParseError& e) {
      refuse(e.what());
    }
  }
}

// A setting's value in TOML: strings in quotes with TOML's escapes (a '#' stays a '#'), true/false,
// numbers as CLI11 wrote them. A seed past 2^63 - 1, which a TOML integer cannot hold, is a string.
std::string toml_value(const CLI::Option& o) {
  const std::string text = o.get_default_str(), type = o.get_type_name();
  auto string = [](const std::string& s) {  // always "...", on one line (no literal or multi-line strings)
    std::ostringstream out;
    out << toml::toml_formatter{toml::value<std::string>(s), toml::format_flags::none};
    return out.str();
  };
  if (o.get_expected_min() == 0 || type.starts_with("BOOLEAN")) return text == "true" || text == "1" ? "true" : "false";
  if (type.starts_with("TEXT")) return string(text);
  if (type.starts_with("UINT") && std::strtoull(text.c_str(), nullptr, 10) > static_cast<uint64_t>(INT64_MAX))
    return string(text);
  return text;
}

}  // namespace

std::vector<double> noise_levels(const MnistConfig& c) { return geometric_sigmas(c.sigma_max, c.sigma_min, c.levels); }

std::string default_data_dir(const std::string& dataset) {
  return dataset == "fashion" ? "/usr/share/datasets/fashion-mnist" : "data/mnist";
}

int model_width(const MnistConfig& c) { return c.width > 0 ? c.width : c.model == "refinenet" ? 16 : 32; }

// NOTE: CLI11's config format has no escapes, so some strings (a '#' starts a comment, a line break ends
// Every setting on a line `key=value` (the key is the flag's first long name), then read back: a value
// that would come back as another is refused, naming its flag, since config.toml is what --resume trusts.
// TOML escapes every character, but a string must be UTF-8 (a folder name in Latin-1 is not).
std::string mnist_toml(const MnistConfig& config) {
  MnistConfig c = config, back;
  App app(c), reader(back);
  std::string toml = "# mnist settings (read back with --config FILE)\n";
  std::vector<CLI::Option*> written;  // line 2 + i holds written[i]
  for (CLI::Option* o : app.get_options()) {
    if (!o->get_configurable()) continue;
    o->capture_default_str();
    toml += o->get_lnames().front() + "=" + toml_value(*o) + "\n";
    written.push_back(o);
  }
  auto refuse = [](const CLI::Option& o, const std::string& why) {
    usage_error(o.get_name() + ": " + quoted_escaped(o.get_default_str()) +
                " cannot be saved in a config file: " + why);
  };
  try {
    apply_settings(reader, toml, "config.toml");
  } catch (const SettingError& e) {
    const auto i = static_cast<size_t>(e.line - 2);
    if (i < written.size()) refuse(*written[i], e.what());
    throw;
  }
  for (const CLI::Option* o : written) {
    CLI::Option* read = reader.get_option(o->get_name());
    read->capture_default_str();  // the value read back, as `o` holds the value written
    if (read->get_default_str() != o->get_default_str())
      refuse(*o, "it reads back as " + quoted_escaped(read->get_default_str()));
  }
  return toml;
}

MnistConfig parse_mnist_toml(const std::string& toml, const std::string& source) {
  MnistConfig c;
  App app(c);
  apply_settings(app, toml, source);
  try {
    mnist_toml(c);  // what parses must also save, for --resume
  } catch (const UsageError& e) {
    throw UsageError(source + ": " + e.what());
  }
  return c;
}

std::optional<ParsedFlags> parse_mnist_flags(int argc, const char* const* argv) {
  ParsedFlags parsed;
  App app(parsed.config);
  std::string config_file;
  add_config_flag(app, config_file);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    MnistConfig c;  // the defaults, not what the other flags set
    App help(c);
    add_config_flag(help, config_file);
    std::printf("%s", help.help().c_str());
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    usage_error(e.what());
  }
  // The file fills in what the command line left unset. --resume without --config: the run's own
  // settings, from the config.toml that training wrote.
  if (!config_file.empty()) {
    apply_settings(app, read_config_file(config_file, "--config " + config_file), "--config " + config_file);
  } else if (parsed.config.resume) {
    const std::string run_config = parsed.config.weights_dir + "/config.toml";
    if (run_config_exists(run_config)) apply_settings(app, read_config_file(run_config, run_config), run_config);
  }
  check(parsed.config);
  MnistConfig saved = parsed.config;  // the settings, without the one-off actions
  saved.resume = saved.inference_only = saved.overwrite = false;
  parsed.toml = mnist_toml(saved);
  return parsed;
}

}  // namespace scorch::app
