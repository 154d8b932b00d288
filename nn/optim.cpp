#include "nn/optim.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/optim_fns.h"
#include "tensor/parallel.h"

namespace scorch::nn {
namespace {

// `ok` false: "Adam: beta1 must be in [0, 1), got 1". Written so that NaN fails every check.
void check_option(bool ok, const std::string& op, const std::string& option, const std::string& expected, double v) {
  if (!ok) throw std::invalid_argument(op + ": " + option + " must be " + expected + ", got " + format_number(v));
}

void check_parameter(const std::string& op, size_t i, const Tensor& p) {
  const std::string what = op + ": parameter " + std::to_string(i) + " ";
  if (!p.defined()) throw std::invalid_argument(what + "is undefined");
  const std::string desc = what + describe(p);
  if (!p.is_leaf() || !p.requires_grad())
    throw std::invalid_argument(desc + " is not a leaf that requires grad (optimizers update leaves in place)");
  if (!is_floating(p.dtype())) throw std::invalid_argument(desc + " is not float32 or float64");
  if (!p.is_contiguous())
    throw std::invalid_argument(desc + " is not contiguous (the update kernels run over its raw data)");
}

// "adam.exp_avg.3". (Built with += : GCC 12 warns falsely on "." + std::to_string(i).)
std::string state_name(const std::string& prefix, const std::string& field, size_t i) {
  std::string name = prefix;
  name += '.';
  name += field;
  name += '.';
  name += std::to_string(i);
  return name;
}

// ---- Kernels: one pass over contiguous data per parameter (the element updates are optim_fns.h's). ----

// buf is null without momentum. The flags are loop invariant: the compiler unswitches on them.
template <typename T>
void sgd_update_range(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n,
                      const fns::SgdCoefficients<T> c) {
  for (int64_t i = 0; i < n; ++i) fns::sgd_element(p, g, buf, i, c);
}

// NOTE: std::sqrt vectorises only under -fno-math-errno (CMakeLists.txt); otherwise GCC keeps a scalar
// errno path per element.
template <typename T, bool kDecay>
void adam_update_range(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, int64_t n,
                       const fns::AdamCoefficients<T> c) {
  for (int64_t i = 0; i < n; ++i) fns::adam_element<T, kDecay>(p, g, m, v, i, c);
}

// Sum of squares in double. Eight independent partial sums let the compiler vectorise without
// reassociating, so the result is the same on every run (and the fma on every compiler).
template <typename T>
double sum_squares_range(const T* x, int64_t n) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] = std::fma(static_cast<double>(x[i + k]), static_cast<double>(x[i + k]), acc[k]);
  for (; i < n; ++i) acc[i % 8] = std::fma(static_cast<double>(x[i]), static_cast<double>(x[i]), acc[i % 8]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Blocks of a fixed size (not one per thread) keep the summation order independent of the thread count.
double sum_squares(const Tensor& t) {
  return dispatch_float("clip_grad_norm", t.dtype(), [&]<typename T>() {
    const T* x = t.data<T>();
    const int64_t n = t.numel(), block = kGrainElementwise, blocks = (n + block - 1) / block;
    if (blocks <= 1) return sum_squares_range(x, n);
    std::vector<double> partial(blocks);
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) partial[b] = sum_squares_range(x + b * block, std::min(block, n - b * block));
    });
    double total = 0;
    for (double s : partial) total += s;
    return total;
  });
}

template <typename T>
void scale_cpu(T* x, int64_t n, T factor) {
  parallel_for(n, kGrainElementwise, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) x[i] *= factor;
  });
}

template <typename T>
void ema_update_cpu(T* __restrict shadow, const T* __restrict param, int64_t n, T decay, T one_minus_decay) {
  parallel_for(n, kGrainElementwise, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) shadow[i] = fns::ema_value(shadow[i], param[i], decay, one_minus_decay);
  });
}

}  // namespace

// ---- Optimizer ----

Optimizer::Optimizer(std::string name, TensorList params, std::vector<std::string> slot_names)
    : name_(std::move(name)), params_(std::move(params)), slot_names_(std::move(slot_names)) {
  for (char c : name_) prefix_ += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (params_.empty()) throw std::invalid_argument(name_ + ": got an empty parameter list");
  std::set<const TensorImpl*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    check_parameter(name_, i, params_[i]);
    if (!seen.insert(params_[i].impl()).second)
      throw std::invalid_argument(name_ + ": parameter " + std::to_string(i) + " appears twice in the list");
  }
  steps_.assign(params_.size(), 0);
  for (size_t k = 0; k < slot_names_.size(); ++k) {
    slots_.emplace_back();
    for (const Tensor& p : params_) slots_.back().push_back(zeros_like(p));
  }
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (g.shape() != p.shape() || g.dtype() != p.dtype() || g.device() != p.device())
      throw std::invalid_argument(name_ + ": parameter " + std::to_string(i) + " " + describe(p) + " has a gradient " +
                                  describe(g));
    for (size_t k = 0; k < slots_.size(); ++k)
      if (slots_[k][i].device() != p.device())
        throw std::invalid_argument(name_ + ": parameter " + std::to_string(i) + " " + describe(p) + " is on " +
                                    p.device().str() + " but its " + slot_names_[k] + " on " +
                                    slots_[k][i].device().str() + " (build the optimizer after moving the model)");
    ++steps_[i];
    // Grads from backward() are contiguous; one from a create_graph backward may be a view.
    update(i, g.is_contiguous() ? g : g.contiguous());
  }
}

void Optimizer::zero_grad() {
  for (const Tensor& p : params_) p.zero_grad();
}

std::map<std::string, Tensor> Optimizer::state() const {
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (steps_[i] == 0) continue;
    out.emplace(state_name(prefix_, "step", i), scalar_tensor(static_cast<double>(steps_[i]), {.dtype = kInt64}));
    for (size_t k = 0; k < slot_names_.size(); ++k)
      out.emplace(state_name(prefix_, slot_names_[k], i), slots_[k][i].clone());
  }
  return out;
}

namespace {
// Checks parameter i's entries in `state`: "<prefix>.step.<i>" and one per slot, all or none. Adds the
// names it looked for to `names`, sets `step` (0 when there are none), returns the problems found.
std::string check_entries(const std::map<std::string, Tensor>& state, const std::string& prefix,
                          const std::vector<std::string>& slot_names, size_t i, const Tensor& p,
                          std::set<std::string>& names, int64_t& step) {
  std::vector<std::string> fields{"step"}, missing;
  fields.insert(fields.end(), slot_names.begin(), slot_names.end());
  std::string problems;
  step = 0;
  for (const std::string& field : fields) {
    const std::string name = state_name(prefix, field, i);
    names.insert(name);
    auto it = state.find(name);
    if (it == state.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& t = it->second;
    if (field == "step") {
      const double value = t.defined() && t.numel() == 1 ? t.item() : 0;
      if (!(value >= 1 && value == std::floor(value) && value < 9e15))
        problems += "\n  " + name + " must hold one integer >= 1, got " + (t.defined() ? describe(t) : "undefined") +
                    (t.defined() && t.numel() == 1 ? " = " + format_number(value) : "");
      step = static_cast<int64_t>(value);
    } else if (!t.defined() || t.shape() != p.shape() || !is_floating(t.dtype())) {
      problems += "\n  " + name + " is " + (t.defined() ? describe(t) : "undefined") + ", parameter " +
                  std::to_string(i) + " is " + describe(p);
    }
  }
  if (missing.size() == fields.size()) return "";  // a parameter that never had a gradient
  for (const std::string& name : missing) problems += "\n  missing " + name;
  return problems;
}
}  // namespace

void Optimizer::load_state(const std::map<std::string, Tensor>& state, const std::string& source) {
  // Everything is checked before anything changes.
  std::string problems;
  std::set<std::string> names;
  std::vector<int64_t> steps(params_.size());
  for (size_t i = 0; i < params_.size(); ++i)
    problems += check_entries(state, prefix_, slot_names_, i, params_[i], names, steps[i]);
  for (const auto& [name, t] : state)
    if (!names.count(name)) problems += "\n  unexpected " + name;
  if (!problems.empty())
    throw std::invalid_argument(source + ": does not match the " + name_ + " optimizer over " +
                                std::to_string(params_.size()) + " parameters:" + problems);
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    steps_[i] = steps[i];
    for (size_t k = 0; k < slot_names_.size(); ++k) {
      if (steps[i] == 0)
        slots_[k][i].fill_(0);
      else
        slots_[k][i].copy_(state.at(state_name(prefix_, slot_names_[k], i)));
    }
  }
}

// ---- SGD ----

namespace {
const SGDOptions& checked(const SGDOptions& o) {
  check_option(o.lr >= 0, "SGD", "lr", "given and >= 0", o.lr);
  check_option(o.momentum >= 0, "SGD", "momentum", ">= 0", o.momentum);
  check_option(std::isfinite(o.dampening), "SGD", "dampening", "finite", o.dampening);
  check_option(o.weight_decay >= 0, "SGD", "weight_decay", ">= 0", o.weight_decay);
  if (o.nesterov && !(o.momentum > 0 && o.dampening == 0))
    throw std::invalid_argument("SGD: nesterov needs momentum > 0 and dampening = 0, got momentum " +
                                format_number(o.momentum) + " and dampening " + format_number(o.dampening));
  return o;
}
}  // namespace

SGD::SGD(TensorList params, SGDOptions options)
    : Optimizer(
          "SGD", std::move(params),
          checked(options).momentum != 0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{}),
      options_(options) {}

void SGD::set_lr(double lr) {
  check_option(lr >= 0, "SGD", "lr", ">= 0", lr);
  options_.lr = lr;
}

void SGD::update(size_t i, const Tensor& grad) {
  const Tensor& p = parameters()[i];
  const bool momentum = options_.momentum != 0;
  dispatch_float("SGD", p.dtype(), [&]<typename T>() {
    const fns::SgdCoefficients<T> c{static_cast<T>(options_.weight_decay),
                                    static_cast<T>(options_.momentum),
                                    static_cast<T>(1 - options_.dampening),
                                    static_cast<T>(-options_.lr),
                                    options_.weight_decay != 0,
                                    step_count(i) == 1,
                                    options_.nesterov};
    if (!p.device().is_cpu()) return backend::sgd_update(p, grad, momentum ? slot(0, i) : Tensor(), c);
    T* pp = p.data<T>();
    const T* g = grad.data<T>();
    T* buf = momentum ? slot(0, i).data<T>() : nullptr;
    parallel_for(p.numel(), kGrainElementwise, [&](int64_t begin, int64_t end) {
      sgd_update_range(pp + begin, g + begin, buf ? buf + begin : nullptr, end - begin, c);
    });
  });
}

// ---- Adam ----

namespace {
const AdamOptions& checked(const AdamOptions& o) {
  check_option(o.lr >= 0, "Adam", "lr", ">= 0", o.lr);
  check_option(o.beta1 >= 0 && o.beta1 < 1, "Adam", "beta1", "in [0, 1)", o.beta1);
  check_option(o.beta2 >= 0 && o.beta2 < 1, "Adam", "beta2", "in [0, 1)", o.beta2);
  check_option(o.eps > 0, "Adam", "eps", "> 0", o.eps);
  check_option(o.weight_decay >= 0, "Adam", "weight_decay", ">= 0", o.weight_decay);
  return o;
}
}  // namespace

Adam::Adam(TensorList params, AdamOptions options)
    : Optimizer("Adam", std::move(params), {"exp_avg", "exp_avg_sq"}), options_(checked(options)) {}

void Adam::set_lr(double lr) {
  check_option(lr >= 0, "Adam", "lr", ">= 0", lr);
  options_.lr = lr;
}

void Adam::update(size_t i, const Tensor& grad) {
  const Tensor& p = parameters()[i];
  const AdamOptions& o = options_;
  // In double, as PyTorch computes them in Python floats.
  const double t = static_cast<double>(step_count(i));
  const double bias_correction1 = 1 - std::pow(o.beta1, t);
  const double bias_correction2 = 1 - std::pow(o.beta2, t);
  const double step_size = o.lr / bias_correction1;
  dispatch_float("Adam", p.dtype(), [&]<typename T>() {
    const fns::AdamCoefficients<T> c{static_cast<T>(o.beta1),        static_cast<T>(1 - o.beta1),
                                     static_cast<T>(o.beta2),        static_cast<T>(1 - o.beta2),
                                     static_cast<T>(o.weight_decay), static_cast<T>(std::sqrt(bias_correction2)),
                                     static_cast<T>(o.eps),          static_cast<T>(-step_size)};
    const bool decay = o.weight_decay != 0;  // as PyTorch: no p term at all when 0 (0 * inf would be NaN)
    if (!p.device().is_cpu()) return backend::adam_update(p, grad, slot(0, i), slot(1, i), c, decay);
    T* pp = p.data<T>();
    const T* g = grad.data<T>();
    T* m = slot(0, i).data<T>();
    T* v = slot(1, i).data<T>();
    parallel_for(p.numel(), kGrainElementwise, [&](int64_t b, int64_t e) {
      if (decay)
        adam_update_range<T, true>(pp + b, g + b, m + b, v + b, e - b, c);
      else
        adam_update_range<T, false>(pp + b, g + b, m + b, v + b, e - b, c);
    });
  });
}

// ---- clip_grad_norm ----

double clip_grad_norm(const TensorList& params, double max_norm) {
  check_option(max_norm > 0, "clip_grad_norm", "max_norm", "> 0", max_norm);
  TensorList grads;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined() || !params[i].grad().defined()) continue;
    const Tensor& g = params[i].grad();
    // Scaled in place below, so a non-contiguous gradient (from a create_graph backward) is replaced first.
    if (!g.is_contiguous()) {
      NoGradGuard no_grad;
      params[i].set_grad(g.contiguous());
    }
    grads.push_back(params[i].grad());
  }
  double total = 0;
  for (const Tensor& g : grads) total += g.device().is_cpu() ? sum_squares(g) : sum(square(to(g, kFloat64))).item();
  const double norm = std::sqrt(total);
  const double factor = max_norm / (norm + 1e-6);
  if (!std::isfinite(norm) || factor >= 1) return norm;
  NoGradGuard no_grad;
  for (const Tensor& g : grads) {
    if (!g.device().is_cpu()) {  // one elementwise kernel, the factor rounded to g's dtype as on the CPU
      g.copy_(mul(g, full({}, factor, g.options())));
      continue;
    }
    dispatch_float("clip_grad_norm", g.dtype(),
                   [&]<typename T>() { scale_cpu(g.data<T>(), g.numel(), static_cast<T>(factor)); });
  }
  return norm;
}

// ---- EMA ----

namespace {
// Throws unless `module` has the parameters (names and shapes) that `shadow` copies.
void check_same_parameters(const std::string& op, const NamedTensors& shadow, const NamedTensors& module) {
  bool same = shadow.size() == module.size();
  for (size_t i = 0; same && i < shadow.size(); ++i)
    same = shadow[i].first == module[i].first && shadow[i].second.shape() == module[i].second.shape() &&
           shadow[i].second.dtype() == module[i].second.dtype();
  if (same) return;
  std::string mine, theirs;
  for (const auto& [name, t] : shadow) mine += " " + name + " " + describe(t) + ";";
  for (const auto& [name, t] : module) theirs += " " + name + " " + describe(t) + ";";
  throw std::invalid_argument(op + ": the module's parameters and buffers [" + theirs + " ] differ from the EMA's [" +
                              mine + " ]");
}

NamedTensors detached_copies(const NamedTensors& named) {
  NamedTensors out;
  for (const auto& [name, t] : named) out.emplace_back(name, t.detach().clone());
  return out;
}
}  // namespace

EMA::EMA(const Module& module, double decay, bool warmup)
    : params_(detached_copies(module.named_parameters())),
      buffers_(detached_copies(module.named_buffers())),
      decay_(decay),
      warmup_(warmup) {
  check_option(decay > 0 && decay <= 1, "EMA", "decay", "in (0, 1]", decay);
  for (const auto& [name, t] : params_) {
    if (!is_floating(t.dtype()))
      throw std::invalid_argument("EMA: parameter " + name + " " + describe(t) + " is not float");
  }
}

void EMA::update(const Module& module) {
  const NamedTensors params = module.named_parameters(), buffers = module.named_buffers();
  check_same_parameters("EMA::update", params_, params);
  check_same_parameters("EMA::update", buffers_, buffers);
  NoGradGuard no_grad;
  ++updates_;
  const double decay = warmup_ ? std::min(decay_, (1.0 + updates_) / (10.0 + updates_)) : decay_;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& shadow = params_[i].second;
    const Tensor p = params[i].second.contiguous();
    if (p.device() != shadow.device())
      throw std::invalid_argument("EMA::update: parameter " + params_[i].first + " is on " + p.device().str() +
                                  ", its average on " + shadow.device().str() +
                                  " (build the EMA after moving the model)");
    if (!p.device().is_cpu()) {
      backend::ema_update(shadow, p, decay);
      continue;
    }
    dispatch_float("EMA::update", shadow.dtype(), [&]<typename T>() {
      ema_update_cpu(shadow.data<T>(), p.data<T>(), shadow.numel(), static_cast<T>(decay), static_cast<T>(1 - decay));
    });
  }
  for (size_t i = 0; i < buffers.size(); ++i) buffers_[i].second.copy_(buffers[i].second);
}

void EMA::copy_to(Module& module) const {
  const NamedTensors params = module.named_parameters(), buffers = module.named_buffers();
  check_same_parameters("EMA::copy_to", params_, params);
  check_same_parameters("EMA::copy_to", buffers_, buffers);
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) params[i].second.copy_(params_[i].second);
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i].second.copy_(buffers_[i].second);
}

EMA::Swap::Swap(const EMA& ema, Module& module) : module_(&module) {
  for (const auto& [name, t] : module.named_parameters()) saved_.push_back(t.detach().clone());
  for (const auto& [name, t] : module.named_buffers()) saved_.push_back(t.detach().clone());
  ema.copy_to(module);  // checks that the module matches
}

EMA::Swap::Swap(Swap&& other) noexcept : module_(other.module_), saved_(std::move(other.saved_)) {
  other.module_ = nullptr;
}

EMA::Swap::~Swap() {
  if (!module_) return;
  NoGradGuard no_grad;
  size_t k = 0;
  for (const auto& [name, t] : module_->named_parameters()) t.copy_(saved_[k++]);
  for (const auto& [name, t] : module_->named_buffers()) t.copy_(saved_[k++]);
}

std::map<std::string, Tensor> EMA::state_dict() const {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : params_) out.emplace(name, t);
  for (const auto& [name, t] : buffers_) out.emplace(name, t);
  return out;
}

void EMA::load_state_dict(const std::map<std::string, Tensor>& state, const std::string& file) {
  load_named(state_dict(), state, file, "the EMA");
}

}  // namespace scorch::nn
