#include "apps/mnist/checkpoint.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "nn/safetensors.h"
#include "tensor/file_io.h"

namespace scorch::app {
namespace {

constexpr const char* kFormat = "scorch-mnist-checkpoint/1";

std::string hex(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

const std::string& field(const nn::SafetensorsFile& f, const std::string& path, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end()) throw std::runtime_error(path + ": checkpoint metadata lacks '" + key + "'");
  return it->second;
}

[[noreturn]] void bad_value(const std::string& path, const std::string& key, const std::string& expected,
                            const std::string& text) {
  throw std::runtime_error(path + ": checkpoint metadata '" + key + "' must be " + expected + ", got '" + text + "'");
}

// A whole decimal integer in [lo, hi]: no sign but '-', no exponent, no fraction, no overflow. NOTE: never
// through a double: 1e300 cast to an integer is undefined behaviour.
template <typename Int>
Int integer(const nn::SafetensorsFile& f, const std::string& path, const std::string& key, Int lo, Int hi) {
  const std::string& text = field(f, path, key);
  Int v{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    bad_value(path, key, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", text);
  return v;
}

// A number as %a wrote it (strtod reads hex floats, inf and nan too); `ok` says which values are allowed.
template <typename Ok>
double number(const nn::SafetensorsFile& f, const std::string& path, const std::string& key,
              const std::string& expected, Ok ok) {
  const std::string& text = field(f, path, key);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0])) || *end != '\0' || !ok(v))
    bad_value(path, key, expected, text);
  return v;
}

bool is_finite(double v) { return std::isfinite(v); }

}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::EMA* ema, const nn::Optimizer& optim,
                     const TrainingProgress& p, const std::string& config_toml) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : model.state_dict()) tensors["model." + name] = t;
  if (ema)
    for (const auto& [name, t] : ema->state_dict()) tensors["ema." + name] = t;
  for (const auto& [name, t] : optim.state()) tensors["optim." + name] = t;
  nn::save_safetensors(path, tensors,
                       {{"format", kFormat},
                        {"config", config_toml},
                        {"step", std::to_string(p.step)},
                        {"rng_offset", std::to_string(p.rng_offset)},
                        {"best_val_loss", hex(p.best_val_loss)},
                        {"best_step", std::to_string(p.best_step)},
                        {"bad_evals", std::to_string(p.bad_evals)},
                        {"loss_sum", hex(p.loss_sum)},
                        {"loss_count", std::to_string(p.loss_count)},
                        {"ema_updates", std::to_string(p.ema_updates)},
                        {"elapsed_s", hex(p.elapsed_s)}});
}

Checkpoint load_checkpoint(const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error(path + ": no such checkpoint");
  return parse_checkpoint(read_file(path), path);
}

Checkpoint parse_checkpoint(std::string_view bytes, const std::string& path) {
  const nn::SafetensorsFile f = nn::parse_safetensors(bytes, path);
  auto format = f.metadata.find("format");
  if (format == f.metadata.end() || format->second != kFormat)
    throw std::runtime_error(path + ": not an mnist checkpoint (metadata format is '" +
                             (format == f.metadata.end() ? std::string("missing") : format->second) + "', expected '" +
                             kFormat + "')");
  Checkpoint c;
  c.path = path;
  for (const auto& [name, t] : f.tensors) {
    const size_t dot = name.find('.');
    const std::string prefix = name.substr(0, dot), rest = dot == std::string::npos ? "" : name.substr(dot + 1);
    if (prefix == "model")
      c.model[rest] = t;
    else if (prefix == "ema")
      c.ema[rest] = t;
    else if (prefix == "optim")
      c.optim[rest] = t;
    else
      throw std::runtime_error(path + ": unexpected tensor '" + name + "' (expected model.*, ema.* or optim.*)");
  }
  c.config_toml = field(f, path, "config");
  TrainingProgress& p = c.progress;
  constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
  p.step = integer<int64_t>(f, path, "step", 0, kMaxInt64);
  p.rng_offset = integer<uint64_t>(f, path, "rng_offset", 0, std::numeric_limits<uint64_t>::max());
  // +inf before the first validation; never NaN (no comparison would ever improve on it) or -inf.
  p.best_val_loss = number(f, path, "best_val_loss", "a number or inf (not nan or -inf)",
                           [](double v) { return v > -std::numeric_limits<double>::infinity(); });
  p.best_step = integer<int64_t>(f, path, "best_step", 0, p.step);
  p.bad_evals = integer<int>(f, path, "bad_evals", 0, std::numeric_limits<int>::max());
  p.loss_sum = number(f, path, "loss_sum", "a finite number", is_finite);
  p.loss_count = integer<int64_t>(f, path, "loss_count", 0, p.step);  // one loss a step at most
  p.ema_updates = integer<int64_t>(f, path, "ema_updates", 0, p.step);
  p.elapsed_s =
      number(f, path, "elapsed_s", "a finite number >= 0", [](double v) { return std::isfinite(v) && v >= 0; });
  return c;
}

}  // namespace scorch::app
