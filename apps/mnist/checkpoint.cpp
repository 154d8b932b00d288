#include "apps/mnist/checkpoint.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "nn/safetensors.h"

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

double number(const nn::SafetensorsFile& f, const std::string& path, const std::string& key) {
  const std::string& text = field(f, path, key);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') throw std::runtime_error(path + ": metadata '" + key + "' is not a number: '" + text + "'");
  return v;
}

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
  const nn::SafetensorsFile f = nn::load_safetensors(path);
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
    if (prefix == "model") c.model[rest] = t;
    else if (prefix == "ema") c.ema[rest] = t;
    else if (prefix == "optim") c.optim[rest] = t;
    else throw std::runtime_error(path + ": unexpected tensor '" + name + "' (expected model.*, ema.* or optim.*)");
  }
  c.config_toml = field(f, path, "config");
  TrainingProgress& p = c.progress;
  p.step = static_cast<int64_t>(number(f, path, "step"));
  p.rng_offset = std::strtoull(field(f, path, "rng_offset").c_str(), nullptr, 10);
  p.best_val_loss = number(f, path, "best_val_loss");
  p.best_step = static_cast<int64_t>(number(f, path, "best_step"));
  p.bad_evals = static_cast<int>(number(f, path, "bad_evals"));
  p.loss_sum = number(f, path, "loss_sum");
  p.loss_count = static_cast<int64_t>(number(f, path, "loss_count"));
  p.ema_updates = static_cast<int64_t>(number(f, path, "ema_updates"));
  p.elapsed_s = number(f, path, "elapsed_s");
  return c;
}

}  // namespace scorch::app
