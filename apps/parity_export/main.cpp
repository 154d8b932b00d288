// parity_export: writes one forward and backward of a score model for bench/torch/parity.py, which
// recomputes it in PyTorch and reports the largest differences (the protocol is in parity.py):
//   DIR/weights.safetensors  the model's initial parameters
//   DIR/inputs.safetensors   x [B, 1, 28, 28] ~ U[0, 1], sigma [B] from the MNIST schedule (unet-small) or
//                            labels [B] (refinenet), r ~ N(0, 1) shaped as the output; metadata model, ngf
//   DIR/outputs.safetensors  out, loss = sum(out * r), grad.<name> = d loss / d parameter
// Usage: parity_export --model unet-small|refinenet [--ngf 16] [--batch 4] [--seed 0] --out DIR
//        then /usr/bin/python3 bench/torch/parity.py DIR
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "autograd/ops.h"
#include "nn/refinenet.h"
#include "nn/safetensors.h"
#include "nn/unet.h"
#include "samplers/schedule.h"
#include "tensor/random.h"

namespace {

using namespace scorch;

struct Config {
  std::string model = "unet-small", out;
  int64_t ngf = 16, batch = 4;
  uint64_t seed = 0;
};

// The model, its conditioning input (sigma or labels) and its output on x.
struct Run {
  std::shared_ptr<nn::Module> model;
  Tensor condition, out;
};

Run forward(const Config& c, const Tensor& x, Generator& gen) {
  const std::vector<double> sigmas = geometric_sigmas(1.0, 0.01, 10);
  const Tensor labels = randint(0, static_cast<int64_t>(sigmas.size()), {c.batch}, gen);
  if (c.model == "unet-small") {
    auto model = std::make_shared<nn::UNetSmall>(gen, nn::UNetSmall::Options{});
    std::vector<double> sigma;
    for (double l : labels.values()) sigma.push_back(sigmas[static_cast<size_t>(l)]);
    const Tensor s = from_vector(sigma);
    return {model, s, model->forward(x, s)};
  }
  auto model = std::make_shared<nn::RefineNet>(gen, nn::RefineNet::Options{.ngf = c.ngf, .sigmas = sigmas});
  return {model, labels, model->forward_labels(x, labels)};
}

void run(const Config& c) {
  Generator gen(c.seed);
  const Tensor x = rand({c.batch, 1, 28, 28}, gen);
  const Run r = forward(c, x, gen);
  const Tensor weights = randn(r.out.shape(), gen);
  const Tensor loss = sum(mul(r.out, weights));
  loss.backward();

  std::filesystem::create_directories(c.out);
  nn::save_module(c.out + "/weights.safetensors", *r.model);
  const std::map<std::string, std::string> meta = {{"model", c.model}, {"ngf", std::to_string(c.ngf)}};
  nn::save_safetensors(c.out + "/inputs.safetensors",
                       {{"x", x}, {c.model == "unet-small" ? "sigma" : "labels", r.condition}, {"r", weights}}, meta);
  std::map<std::string, Tensor> outputs = {{"out", r.out.detach()}, {"loss", loss.detach()}};
  for (const auto& [name, p] : r.model->named_parameters()) outputs["grad." + name] = p.grad();
  nn::save_safetensors(c.out + "/outputs.safetensors", outputs, meta);
  std::cout << "parity_export: " << c.model << " (" << r.model->num_parameters() << " parameters), batch " << c.batch
            << ", loss " << loss.item() << " -> " << c.out << "\n"
            << "check with: /usr/bin/python3 bench/torch/parity.py " << c.out << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"parity_export: one forward + backward of a score model, for bench/torch/parity.py"};
  app.add_option("--model", c.model, "unet-small or refinenet")->check(CLI::IsMember({"unet-small", "refinenet"}));
  app.add_option("--ngf", c.ngf, "refinenet width")->check(CLI::PositiveNumber);
  app.add_option("--batch", c.batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--seed", c.seed, "seed of weights and inputs");
  app.add_option("--out", c.out, "output directory")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {  // one line naming the flag, exit code 2 (usage), as the other apps
    std::cerr << "parity_export: " << e.what() << "\n";
    return 2;
  }
  try {
    run(c);
  } catch (const std::exception& e) {
    std::cerr << "parity_export: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
