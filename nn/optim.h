// optim.h: optimizers with PyTorch's exact update rules (SGD, Adam), gradient clipping by global norm,
// and an exponential moving average (EMA) of a module's weights.
//
// Per parameter p with gradient g, t counting the steps in which p had a gradient (from 1):
//   SGD (torch.optim.SGD; PyTorch 1.13 torch/optim/sgd.py, _single_tensor_sgd), momentum mu:
//     g <- g + weight_decay p
//     b <- g                                  at t = 1: the buffer starts as the gradient, not zeros
//     b <- mu b + (1 - dampening) g           at t > 1
//     g <- g + mu b (nesterov), else g <- b   (only when mu != 0)
//     p <- p - lr g
//   Adam (torch.optim.Adam with amsgrad = maximize = False; torch/optim/adam.py, _single_tensor_adam):
//     g <- g + weight_decay p                 (L2 penalty in the gradient; not AdamW's decoupled decay)
//     m <- beta1 m + (1 - beta1) g            m, v start at zero
//     v <- beta2 v + (1 - beta2) g^2
//     p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//   Kingma & Ba, "Adam", ICLR 2015, Algorithm 1; eps is added after the bias-corrected square root, as in
//   PyTorch. At t = 1 the update is lr g / (|g| + eps): about lr times the sign of g.
// Each element goes through PyTorch's in-place ops in their order (scalars rounded to the parameter's dtype,
// fused multiply-adds where PyTorch's AVX2 kernels fuse), in one pass per parameter with no temporaries;
// bias corrections are in double. Results equal torch.optim's bit for bit on x86-64-v3 (checked against
// PyTorch 1.13, float32 and float64, 17,282 elements over 10 steps). NOTE: Adam's std::sqrt vectorises
// only under -fno-math-errno (set in CMakeLists.txt); without it GCC keeps a scalar errno path and the
// step is about 4x slower.
// As in PyTorch, a parameter whose .grad() is undefined is skipped: neither it nor its state (t, m, v,
// b) changes, so its first update later uses t = 1.
//
// clip_grad_norm (torch.nn.utils.clip_grad_norm_, L2): total = sqrt(sum over grads of sum g^2), then every
// grad is scaled in place by max_norm / (total + 1e-6) when that factor is below 1.
//
// EMA (as in score_sde_pytorch's models/ema.py): shadow <- decay shadow + (1 - decay) param after each
// update(); buffers are copied as they are. With warm-up (ema.py's use_num_updates, its default) the n-th
// update uses min(decay, (1 + n) / (10 + n)) instead, so that the random initial weights fade within a
// few hundred steps rather than weighing decay^n (5% after 3,000 steps at 0.999). Sampling uses the shadow weights,
// swapped in with scoped().
//
// Optimizer state for checkpoints: state() names every tensor "<optimizer>.<field>.<i>", i the index of
// the parameter in the list given at construction: "adam.step.3" (int64 scalar: t), "adam.exp_avg.3",
// "adam.exp_avg_sq.3", "sgd.step.3", "sgd.momentum_buffer.3". A parameter that never had a gradient
// (t = 0) has no entries, as in PyTorch's optimizer state_dict.
#pragma once
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace scorch::nn {

// The base of the optimizers: the parameters (contiguous float CPU leaves that require grad), the step
// count of each, and per-parameter state tensors ("slots": exp_avg, momentum_buffer, ...).
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Updates every parameter that has a gradient, in place, outside autograd.
  void step();
  // Resets every parameter's .grad() to undefined (PyTorch's set_to_none = True).
  void zero_grad();

  const TensorList& parameters() const { return params_; }
  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;  // for schedules; validated as at construction

  // A snapshot (copies) of the state, named as in the header comment.
  std::map<std::string, Tensor> state() const;
  // Restores a state() of an optimizer of the same kind over parameters of the same shapes. Checks all of
  // it first and throws std::invalid_argument naming every unexpected, missing or mis-shaped entry; on
  // success, parameters without entries start over (t = 0).
  void load_state(const std::map<std::string, Tensor>& state, const std::string& source = "optimizer state");

 protected:
  // `name` ("Adam") starts error messages; its lowercase form starts state names. Every slot is a
  // zero tensor shaped like its parameter, allocated here once.
  Optimizer(std::string name, TensorList params, std::vector<std::string> slot_names);

  // Updates parameter i in place from `grad` (contiguous, same shape and dtype). Grad mode is off and
  // step_count(i) already counts this step.
  virtual void update(size_t i, const Tensor& grad) = 0;

  const std::string& name() const { return name_; }
  int64_t step_count(size_t i) const { return steps_[i]; }
  const Tensor& slot(size_t k, size_t i) const { return slots_[k][i]; }

 private:
  std::string name_, prefix_;
  TensorList params_;
  std::vector<std::string> slot_names_;
  std::vector<TensorList> slots_;  // slots_[k][i]: slot k of parameter i
  std::vector<int64_t> steps_;
};

struct SGDOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();  // required, as in PyTorch
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening = 0
};

class SGD : public Optimizer {
 public:
  SGD(TensorList params, SGDOptions options);  // throws std::invalid_argument naming a bad option
  const SGDOptions& options() const { return options_; }
  double lr() const override { return options_.lr; }
  void set_lr(double lr) override;

 private:
  void update(size_t i, const Tensor& grad) override;
  SGDOptions options_;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
};

class Adam : public Optimizer {
 public:
  Adam(TensorList params, AdamOptions options = {});  // throws std::invalid_argument naming a bad option
  const AdamOptions& options() const { return options_; }
  double lr() const override { return options_.lr; }
  void set_lr(double lr) override;

 private:
  void update(size_t i, const Tensor& grad) override;
  AdamOptions options_;
};

// Scales all gradients so that their global L2 norm is at most max_norm (> 0); returns the norm before
// clipping. Squares are summed in double in a fixed order, so the result does not depend on the thread
// count. Parameters without a gradient are skipped. NOTE: a non-finite norm (an inf or NaN gradient) is
// returned as it is and nothing is scaled, where PyTorch would multiply every gradient by NaN; callers
// can test std::isfinite on the result to skip the step.
double clip_grad_norm(const TensorList& params, double max_norm);

// Shadow copies of a module's parameters and buffers.
class EMA {
 public:
  explicit EMA(const Module& module, double decay = 0.999, bool warmup = false);  // decay in (0, 1]

  // shadow <- decay shadow + (1 - decay) param; buffers copied. `module` must have the same parameter
  // names and shapes as the one given at construction.
  void update(const Module& module);
  // Copies the shadow weights (and buffers) into `module`.
  void copy_to(Module& module) const;

  // RAII: while it lives, `module` holds the EMA weights; at scope exit its own weights come back.
  //   { auto ema_weights = ema.scoped(model); sample(model); }  // training weights restored here
  // `module` must outlive the Swap.
  class Swap {
   public:
    Swap(const EMA& ema, Module& module);
    ~Swap();
    Swap(Swap&& other) noexcept;
    Swap(const Swap&) = delete;
    Swap& operator=(const Swap&) = delete;
    Swap& operator=(Swap&&) = delete;

   private:
    Module* module_;
    TensorList saved_;  // the module's own parameters, then buffers
  };
  [[nodiscard]] Swap scoped(Module& module) const { return Swap(*this, module); }

  double decay() const { return decay_; }
  // Updates so far (n of the warm-up); checkpoints save it and set it back on resume.
  int64_t updates() const { return updates_; }
  void set_updates(int64_t n) { updates_ = n; }
  // Named as the module's state_dict (so it loads into the model directly); shares memory with the EMA.
  std::map<std::string, Tensor> state_dict() const;
  // Copies values in; throws std::invalid_argument naming every missing, unexpected or mis-shaped entry
  // (and `file` when the values come from one), as Module::load_state_dict.
  void load_state_dict(const std::map<std::string, Tensor>& state, const std::string& file = "");

 private:
  NamedTensors params_, buffers_;  // shadows, in the module's order
  double decay_;
  bool warmup_;
  int64_t updates_ = 0;
};

}  // namespace scorch::nn
