// Determinism on the CPU (docs/determinism.md): the same seed and the same thread count give the same
// bits, run after run. End to end with the real binaries (each run in a folder of its own, with the same
// relative paths, so that the settings the apps record are the same strings):
//   mnist training   best/last.safetensors byte-identical but for the wall-clock field elapsed_s of
//                    their metadata; log.csv identical but for its two timing columns; config.toml
//   mnist sampling   samples.npy, samples.png and trajectory.png byte-identical, for every sampler
//   gmm              every file byte-identical, metrics.json but for its timings; and the same across
//                    --threads 1 and 2 (its ops split their work in thread-independent pieces)
// each at --threads 1 and at --threads 2. mnist's results do differ between 1 and 2 threads (conv2d's
// grouping of images follows the thread count; docs/determinism.md), so they are compared per count.
// And the samplers of samplers/ on a small unet-small: twice with the same seed, the same tensors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app_runner.h"
#include "nn/safetensors.h"
#include "nn/unet.h"
#include "samplers/langevin.h"
#include "samplers/ode.h"
#include "samplers/predictor_corrector.h"
#include "samplers/schedule.h"
#include "synthetic_digits.h"
#include "temp_dir.h"
#include "tensor/file_io.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using scorch::testing::TempDir;

std::string bytes_of(const fs::path& p) { return scorch::read_file(p.string()); }

// Runs `app args` in `dir` (created); fails the test on a non-zero exit.
void run_in(const fs::path& dir, const std::string& app, const std::string& args) {
  fs::create_directories(dir);
  const auto [code, log] =
      scorch::testing::run_command("cd " + scorch::testing::shell_quote(dir) + " && " +
                                   scorch::testing::shell_quote(scorch::testing::app_binary(app)) + " " + args);
  ASSERT_EQ(code, 0) << app << " " << args << "\n" << log;
}

// A safetensors file as (its header without metadata key `skip`, its data section): two files are
// byte-identical but for `skip` when both parts are equal.
std::pair<json, std::string> split_safetensors(const fs::path& p, const std::string& skip) {
  const std::string bytes = bytes_of(p);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), sizeof n);  // little-endian, as x86-64
  json header = json::parse(bytes.substr(8, n));
  header["__metadata__"].erase(skip);
  return {header, bytes.substr(8 + n)};
}

// log.csv without its timing columns (elapsed_s, samples_per_s).
std::string losses_of(const fs::path& log) {
  std::istringstream in(bytes_of(log));
  std::string line, out;
  while (std::getline(in, line)) {
    size_t cut = line.size();
    for (int k = 0; k < 2; ++k) cut = line.rfind(',', cut - 1);
    out += line.substr(0, cut) + "\n";
  }
  return out;
}

class Determinism : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* app : {"gmm", "mnist"})
      if (!fs::exists(scorch::testing::app_binary(app))) GTEST_SKIP() << app << " binary not built";
    scorch::testing::write_digits(tmp.path() / "digits", 100);
  }
  TempDir tmp;
};

TEST_F(Determinism, MnistTrainingTwiceGivesTheSameCheckpointsAndLog) {
  for (int threads : {1, 2}) {
    SCOPED_TRACE("--threads " + std::to_string(threads));
    const std::string args =
        "--data-dir ../digits --weights-dir w --width 8 --batch 8 --steps 6 --val-interval 2 --seed 5 "
        "--threads " +
        std::to_string(threads);
    const fs::path a = tmp.path() / ("train_a" + std::to_string(threads)),
                   b = tmp.path() / ("train_b" + std::to_string(threads));
    run_in(a, "mnist", args);
    run_in(b, "mnist", args);
    for (const char* file : {"best.safetensors", "last.safetensors"}) {
      const auto [header_a, data_a] = split_safetensors(a / "w" / file, "elapsed_s");
      const auto [header_b, data_b] = split_safetensors(b / "w" / file, "elapsed_s");
      EXPECT_EQ(header_a, header_b) << file;
      EXPECT_TRUE(data_a == data_b) << file << ": the tensors' bytes differ";
    }
    EXPECT_EQ(losses_of(a / "w" / "log.csv"), losses_of(b / "w" / "log.csv"));
    EXPECT_EQ(bytes_of(a / "w" / "config.toml"), bytes_of(b / "w" / "config.toml"));
  }
}

TEST_F(Determinism, MnistEverySamplerTwiceGivesTheSameImages) {
  run_in(tmp.path() / "train", "mnist",
         "--data-dir ../digits --weights-dir w --width 8 --batch 8 --steps 2 --threads 1");
  const char* samplers[] = {"--sampler annealed --steps-per-level 2",
                            "--sampler ode --ode-solver euler --sample-steps 5",
                            "--sampler ode --ode-solver heun --sample-steps 5",
                            "--sampler ode --ode-solver rk45 --rtol 1e-3 --atol 1e-3",
                            "--sampler pc --predictor reverse_diffusion --sample-steps 5",
                            "--sampler pc --predictor ode --sample-steps 5",
                            "--sampler edm --sample-steps 5"};
  for (int threads : {1, 2})
    for (const char* sampler : samplers) {
      const std::string args = std::string("--inference_only --weights ../train/w/best.safetensors --samples-dir s ") +
                               "--n-samples 3 --batch 2 --warm-start 2 --seed 9 --threads " + std::to_string(threads) +
                               " " + sampler;
      SCOPED_TRACE(args);
      run_in(tmp.path() / "a", "mnist", args);
      run_in(tmp.path() / "b", "mnist", args);
      for (const char* file : {"samples.npy", "samples.png", "trajectory.png"})
        EXPECT_TRUE(bytes_of(tmp.path() / "a" / "s" / file) == bytes_of(tmp.path() / "b" / "s" / file))
            << file << " differs";
    }
}

TEST_F(Determinism, GmmTwiceAndAtOneOrTwoThreadsWritesTheSameFiles) {
  // Batch 1024 and 2,000 particles: large enough that the elementwise, reduction and matmul loops split
  // over the threads.
  const std::string args = "--out out --steps 20 --n-samples 2000 --n-steps 10 --steps-per-level 2 --seed 4 --threads ";
  const fs::path first = tmp.path() / "t1_a" / "out";
  for (const std::string run : {"t1_a", "t1_b", "t2_a", "t2_b"})
    run_in(tmp.path() / run, "gmm", args + run.substr(1, 1));
  for (const std::string run : {"t1_b", "t2_a", "t2_b"}) {
    SCOPED_TRACE(run);
    const fs::path out = tmp.path() / run / "out";
    size_t files = 0;
    for (const auto& entry : fs::directory_iterator(first)) {
      const std::string name = entry.path().filename().string();
      ++files;
      if (name == "metrics.json") continue;
      EXPECT_TRUE(bytes_of(entry.path()) == bytes_of(out / name)) << name << " differs";
    }
    EXPECT_EQ(files, static_cast<size_t>(std::distance(fs::directory_iterator(out), fs::directory_iterator{})));
    auto numbers = [](const fs::path& p) {  // metrics.json without wall times and the thread count
      json m = json::parse(bytes_of(p));
      m.erase("timing");
      m["config"].erase("threads");
      return m;
    };
    EXPECT_EQ(numbers(first / "metrics.json"), numbers(out / "metrics.json"));
  }
}

// The samplers themselves, on a unet-small of width 8: same seed, same tensors; at 1 and 2 threads.
TEST(SamplerDeterminism, SameSeedSameTensorsForEverySampler) {
  scorch::testing::ThreadCountGuard guard;
  scorch::Generator init(0);
  const scorch::ModelScore score(
      std::make_shared<scorch::nn::UNetSmall>(init, scorch::nn::UNetSmall::Options{.width = 8}));
  scorch::NoGradGuard no_grad;
  const std::vector<double> levels = scorch::geometric_sigmas(1.0, 0.01, 4);
  using Draw = std::function<scorch::SampleResult(const scorch::Tensor&, scorch::Generator&)>;
  const std::pair<const char*, Draw> samplers[] = {
      {"langevin",
       [&](auto& x0, auto& gen) { return langevin(score, x0, {.step_size = 1e-4, .n_steps = 4, .sigma = 0.1}, gen); }},
      {"annealed",
       [&](auto& x0, auto& gen) {
         return annealed_langevin(score, x0, {.sigmas = levels, .steps_per_level = 2}, gen);
       }},
      {"ode euler", [&](auto& x0, auto&) { return ode_sampler(score, x0, {.method = "euler", .sigmas = levels}); }},
      {"ode heun", [&](auto& x0, auto&) { return ode_sampler(score, x0, {.method = "heun", .sigmas = levels}); }},
      {"ode rk45",
       [&](auto& x0, auto&) { return ode_sampler(score, x0, {.method = "rk45", .rtol = 1e-2, .atol = 1e-2}); }},
      {"pc reverse_diffusion", [&](auto& x0, auto& gen) { return pc_sampler(score, x0, {.sigmas = levels}, gen); }},
      {"pc ode",
       [&](auto& x0, auto& gen) { return pc_sampler(score, x0, {.predictor = "ode", .sigmas = levels}, gen); }},
      {"edm with churn", [&](auto& x0, auto& gen) { return edm_sampler(score, x0, {.steps = 4, .s_churn = 10}, gen); }},
  };
  for (int threads : {1, 2}) {
    scorch::set_num_threads(threads);
    for (const auto& [name, draw] : samplers) {
      std::vector<std::vector<double>> runs;
      for (int run = 0; run < 2; ++run) {
        scorch::Generator gen(11);
        const scorch::Tensor x0 = scorch::rand({2, 1, 28, 28}, gen);
        runs.push_back(draw(x0, gen).x.values());
      }
      EXPECT_EQ(runs[0], runs[1]) << name << " at " << threads << " threads";
    }
  }
}

}  // namespace
