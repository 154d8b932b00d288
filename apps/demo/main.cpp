// demo: fits a 2 -> 32 -> 1 tanh MLP to y = sin(3 x0) x1 on [-1, 1]^2 with scorch's autograd and
// plain gradient descent, printing the mean squared error as it falls.
//   h = tanh(x W1 + b1)     x [N, 2], W1 [2, 32], b1 [32]
//   p = h W2 + b2           W2 [32, 1], b2 [1] -> p [N, 1]
//   loss = mean((p - y)^2);  every parameter: w -= lr * dloss/dw
// Usage: demo [--steps 2000] [--lr 0.2] [--seed 0] [--samples 256] [--print-every 200]
// NOTE: plain gradient descent diverges here for lr above about 0.4.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace {

using namespace scorch;

struct Mlp {
  Tensor w1, b1, w2, b2;
  TensorList parameters() const { return {w1, b1, w2, b2}; }
  Tensor operator()(const Tensor& x) const { return matmul(tanh(matmul(x, w1) + b1), w2) + b2; }
};

// Weights ~ N(0, 1 / fan_in) (LeCun init, suited to tanh), biases 0.
Mlp init_mlp(int64_t hidden, Generator& gen) {
  Mlp m{randn({2, hidden}, gen) / std::sqrt(2.0), zeros({hidden}),
        randn({hidden, 1}, gen) / std::sqrt(static_cast<double>(hidden)), zeros({1})};
  for (Tensor p : m.parameters()) p.requires_grad_();  // handles: p shares its impl with m
  return m;
}

// Inputs uniform on [-1, 1]^2 and targets y = sin(3 x0) x1.
std::pair<Tensor, Tensor> make_data(int64_t n, Generator& gen) {
  const Tensor x = rand({n, 2}, gen) * 2.0 - 1.0;
  const Tensor x0 = narrow(x, 1, 0, 1), x1 = narrow(x, 1, 1, 1);
  return {x, sin(x0 * 3.0) * x1};
}

// A CLI11 validator: "--lr: must be > 0, got -1".
CLI::Validator positive() {
  return CLI::Validator(
      [](const std::string& s) {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        return *end == '\0' && v > 0 ? std::string() : "must be > 0, got " + s;
      },
      "> 0");
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 2000, print_every = 0;
  double lr = 0.2;
  uint64_t seed = 0;
  int64_t samples = 256;
  CLI::App app{"Fits a tiny MLP with scorch autograd and prints its loss falling."};
  app.add_option("--steps", steps, "gradient descent steps")->check(positive())->capture_default_str();
  app.add_option("--lr", lr, "learning rate")->check(positive())->capture_default_str();
  app.add_option("--seed", seed, "seed of the data and of the initial weights")->capture_default_str();
  app.add_option("--samples", samples, "training points")->check(positive())->capture_default_str();
  app.add_option("--print-every", print_every, "steps between loss lines (default steps / 10)");
  CLI11_PARSE(app, argc, argv);
  if (print_every <= 0) print_every = std::max(steps / 10, 1);

  Generator gen(seed);
  const auto [x, y] = make_data(samples, gen);
  Mlp model = init_mlp(32, gen);
  std::printf("fitting y = sin(3 x0) x1 with a 2-32-1 tanh MLP: %lld points, lr %g, seed %llu\n",
              static_cast<long long>(samples), lr, static_cast<unsigned long long>(seed));
  std::printf("variance of y: %.6f (the loss of predicting the mean)\n", square(y - y.mean()).mean().item());

  double first_loss = 0, loss_value = 0;
  for (int step = 0; step <= steps; ++step) {
    const Tensor loss = square(model(x) - y).mean();
    loss_value = loss.item();
    if (step == 0) first_loss = loss_value;
    if (step % print_every == 0 || step == steps) std::printf("step %5d  loss %.6f\n", step, loss_value);
    if (step == steps) break;
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor p : model.parameters()) {
      p.copy_(p - p.grad() * lr);
      p.zero_grad();
    }
  }
  std::printf("final loss %.6f (from %.6f)\n", loss_value, first_loss);
  if (!(loss_value < first_loss)) {
    std::fprintf(stderr, "demo: the loss did not fall (%.6f -> %.6f)\n", first_loss, loss_value);
    return 1;
  }
  return 0;
}
