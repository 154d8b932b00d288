#include "apps/gmm/config.h"

#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace scorch::app {
namespace {

std::vector<std::vector<double>> parse_groups(const std::string& flag, const std::string& text) {
  std::vector<std::vector<double>> groups;
  std::stringstream groups_in(text);
  std::string group;
  while (std::getline(groups_in, group, ';')) {
    std::vector<double> values;
    std::stringstream values_in(group);
    std::string item;
    while (std::getline(values_in, item, ',')) {
      char* end = nullptr;
      const double v = std::strtod(item.c_str(), &end);
      if (item.empty() || *end != '\0' || !std::isfinite(v))
        throw std::invalid_argument(flag + ": '" + item + "' is not a number (in '" + text + "')");
      values.push_back(v);
    }
    groups.push_back(std::move(values));
  }
  if (groups.empty()) throw std::invalid_argument(flag + ": empty");
  return groups;
}

[[noreturn]] void usage_error(const std::string& msg) { throw UsageError(msg); }

// --field-sigma: a noise level, 0 (the clean data), or -1 for the level that suits the model.
const CLI::Validator kFieldSigma(
    [](std::string& text) -> std::string {
      double v;
      if (kNoiseLevel(text).empty() || (cli_detail::parse_double(text, v) && (v == 0 || v == -1))) return "";
      return "must be -1 (the model's default), 0 or a number in [1e-10, 1e+10], got '" + text + "'";
    },
    "-1, 0 or in [1e-10, 1e+10]");

}  // namespace

GaussianMixture make_mixture(const GmmConfig& c) {
  const auto weights = parse_groups("--weights", c.weights);
  if (weights.size() != 1)
    throw std::invalid_argument("--weights: expected one list like 0.8,0.2, got '" + c.weights + "'");
  const auto means = parse_groups("--means", c.means);
  const auto covs = parse_groups("--covariances", c.covariances);
  const size_t k = weights[0].size(), d = means[0].size();
  if (means.size() != k || covs.size() != k)
    throw std::invalid_argument("--means/--covariances: need " + std::to_string(k) +
                                " components (one per weight), got " + std::to_string(means.size()) + " and " +
                                std::to_string(covs.size()));
  if (d != 2) throw std::invalid_argument("--means: the gmm app is 2-D, got " + std::to_string(d) + "-d means");
  std::vector<std::vector<std::vector<double>>> cov(k);
  for (size_t i = 0; i < k; ++i) {
    if (means[i].size() != d || covs[i].size() != d * d)
      throw std::invalid_argument("--means/--covariances: component " + std::to_string(i) + " needs " +
                                  std::to_string(d) + " mean values and " + std::to_string(d * d) +
                                  " covariance values");
    for (size_t r = 0; r < d; ++r) cov[i].emplace_back(covs[i].begin() + r * d, covs[i].begin() + (r + 1) * d);
  }
  try {
    return GaussianMixture(weights[0], means, cov);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--weights/--means/--covariances: ") + e.what());
  }
}

std::optional<GmmConfig> parse_gmm_flags(int argc, char** argv) {
  GmmConfig c;
  CLI::App app{
      "gmm: learn the score of a 2-D Gaussian mixture and sample it with Langevin dynamics.\n"
      "Writes figures (PNG), their data (.npy, .csv), model.safetensors and metrics.json into --out."};
  app.option_defaults()->always_capture_default();
  app.add_option("--out", c.out, "output directory")->check(kNonEmpty);
  app.add_option("--seed", c.seed, "seed of every random draw (same seed and --threads, same run: docs/determinism.md)")
      ->check(kSeed);
  app.add_option("--weights", c.weights, "mixture weights, comma-separated (normalised)");
  app.add_option("--means", c.means, "component means: 'x,y;x,y;...'");
  app.add_option("--covariances", c.covariances, "component covariances, row-major 2x2: 'a,b,c,d;...'");
  app.add_option("--model", c.model, "score network: mlp (noise-conditional) or mlp-uncond")
      ->check(CLI::IsMember({"mlp", "mlp-uncond"}));
  app.add_option(
         "--objective", c.objective,
         "dsm (one noise level --dsm-sigma), annealed-dsm (NCSN, lambda = sigma^2) or ssm (sliced, variance reduced)")
      ->check(CLI::IsMember({"dsm", "annealed-dsm", "ssm"}));
  // The upper bounds of --batch and --n-samples keep one flag from asking for more memory than the machine
  // has (the kernel would kill the process): a hidden layer of 1,000,000 particles is already 512 MB.
  app.add_option("--steps", c.steps, "training steps")->check(int_in(1, 100000000));
  app.add_option("--batch", c.batch, "training batch size")->check(int_in(1, 100000));
  app.add_option("--lr", c.lr, "Adam learning rate (peak of the schedule)")->check(kPositive);
  app.add_option("--lr-schedule", c.lr_schedule, "constant, or cosine decay to 0 over --steps")
      ->check(CLI::IsMember({"constant", "cosine"}));
  app.add_option("--ema", c.ema, "decay of the exponential moving average of the weights used after training (1: off)")
      ->check(real_in(0.5, 1));
  app.add_option("--sigma-max", c.sigma_max, "largest noise level of the geometric schedule")->check(kNoiseLevel);
  app.add_option("--sigma-min", c.sigma_min, "smallest noise level")->check(kNoiseLevel);
  app.add_option("--levels", c.levels, "number of noise levels L")->check(int_in(2, 100000));
  app.add_option("--dsm-sigma", c.dsm_sigma, "noise level of --objective dsm")->check(kNoiseLevel);
  CLI::Option* sampler =
      app.add_option("--sampler", c.sampler,
                     "sampler of the headline result with the learned score: annealed (default for mlp) or langevin "
                     "(default for mlp-uncond, whose score ignores the noise level)")
          ->check(CLI::IsMember({"annealed", "langevin"}));
  app.add_option("--n-samples", c.n_samples, "particles per sample set")->check(int_in(2, 1000000));
  app.add_option("--step-size", c.step_size, "plain Langevin step size eta")->check(kPositive);
  app.add_option("--n-steps", c.n_steps, "plain Langevin steps")->check(int_in(0, 100000000));
  app.add_option("--steps-per-level", c.steps_per_level, "annealed Langevin steps T per noise level")
      ->check(int_in(0, 100000000));
  app.add_option("--step-lr", c.step_lr, "annealed Langevin step_lr: alpha_i = step_lr sigma_i^2 / sigma_L^2")
      ->check(kPositive);
  app.add_option("--field-sigma", c.field_sigma,
                 "noise level at which the learned field is drawn and plain Langevin uses the model "
                 "(-1: 0.5 for mlp with annealed-dsm, --dsm-sigma for dsm, 0 for unconditional models)")
      ->check(kFieldSigma);
  app.add_option("--device", c.device,
                 "cpu, cuda or cuda:N: where the model trains and its samplers run (the exact "
                 "score's samplers stay on the CPU)")
      ->check(kDevice);
  app.add_flag("--deterministic", c.deterministic,
               "CUDA: only kernels whose results repeat bit for bit from run to run");
  app.add_option("--threads", c.threads, "CPU threads (0: all cores, or OMP_NUM_THREADS)")->check(int_in(0, 4096));
  app.add_option("--profile", c.profile,
                 "profile training and sampling: write a Chrome trace (open in https://ui.perfetto.dev) to this "
                 "file and print a per-op summary to stderr")
      ->check(kOutputFile);
  app.add_flag("--quick", c.quick, "a seconds-long run for tests: 200 steps, 1000 particles, short chains");
  app.add_option("--dump-graph", c.dump_graph,
                 "write the autograd graph of the first training step's loss as Graphviz DOT to this file "
                 "(render: dot -Tpng FILE -o graph.png)")
      ->check(kOutputFile);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    usage_error(e.what());
  }
  device_from_flag(c.device);  // throws naming what is missing: no backend, no device
  if (c.sigma_min >= c.sigma_max) usage_error("--sigma-min: must be below --sigma-max");
  try {
    make_mixture(c);
  } catch (const std::invalid_argument& e) {
    usage_error(e.what());
  }
  if (c.quick) {
    c.steps = std::min(c.steps, 200);
    c.n_samples = std::min(c.n_samples, 1000);
    c.n_steps = std::min(c.n_steps, 100);
    c.steps_per_level = std::min(c.steps_per_level, 10);
  }
  if (sampler->count() == 0 && c.model == "mlp-uncond") c.sampler = "langevin";
  if (c.field_sigma < 0)
    c.field_sigma = c.model == "mlp-uncond" ? 0.0
                    : c.objective == "dsm"  ? c.dsm_sigma
                    : c.objective == "ssm"  ? c.sigma_min
                                            : 0.5;
  return c;
}

}  // namespace scorch::app
