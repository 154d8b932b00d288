// The mnist app: its settings file, its data split and batch order, and the real binary end to end on a
// tiny synthetic dataset (IDX files written by the test) and a tiny unet-small: resume equals an
// uninterrupted run, Ctrl-C saves a checkpoint, and --inference_only
// writes valid PNG and .npy files. No MNIST download is needed.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "apps/common/png.h"
#include "apps/mnist/checkpoint.h"
#include "apps/mnist/config.h"
#include "apps/mnist/data.h"
#include "synthetic_mnist.h"
#include "temp_dir.h"
#include "nn/safetensors.h"
#include "tensor/idx.h"
#include "app_runner.h"
#include "tensor/npy.h"

namespace {

namespace fs = std::filesystem;
using scorch::Tensor;
using namespace scorch::app;
using scorch::testing::TempDir;
using scorch::testing::write_synthetic_mnist;

std::string mnist_binary() { return scorch::testing::shell_quote(scorch::testing::app_binary("mnist")); }
bool mnist_built() { return fs::exists(scorch::testing::app_binary("mnist")); }
using scorch::testing::run_command;
using scorch::testing::shell_quote;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Flags of a seconds-long training run: unet-small of width 8 on 200 synthetic images.
std::string tiny_run(const fs::path& data, const fs::path& weights, int steps) {
  return mnist_binary() + " --data-dir " + shell_quote(data) + " --weights-dir " + shell_quote(weights) +
         " --width 8 --batch 8 --val-interval 2 --threads 1 --seed 7 --steps " + std::to_string(steps);
}

// log.csv without its timing columns (elapsed_s, samples_per_s).
std::string losses_of(const fs::path& log) {
  std::istringstream in(slurp(log));
  std::string line, out;
  while (std::getline(in, line)) {
    size_t cut = line.size();
    for (int k = 0; k < 2; ++k) cut = line.rfind(',', cut - 1);
    out += line.substr(0, cut) + "\n";
  }
  return out;
}

TEST(MnistConfig, TomlRoundTrip) {
  MnistConfig c;
  c.dataset = "fashion";
  c.model = "refinenet";
  c.width = 24;
  c.lr = 3.5e-4;
  c.steps = 12345;
  c.seed = 99;
  c.sigma_min = 0.02;
  c.denoise = false;
  c.sampler = "pc";
  c.weights_dir = "some dir/with spaces";
  EXPECT_EQ(parse_mnist_toml(mnist_toml(c), "test"), c);
  EXPECT_EQ(parse_mnist_toml(mnist_toml(MnistConfig{}), "test"), MnistConfig{});
}

// CLI11 writes doubles with 6 significant digits: config.toml must hold every digit. TOML escapes any
// character, so '#' and line breaks are kept; a string that is not UTF-8 is refused, naming the flag,
// rather than saved as another.
TEST(MnistConfig, TomlKeepsEveryDigitAndRefusesWhatItCannotHold) {
  MnistConfig c;
  c.lr = 1.2345678901e-4;
  c.clip = 1112341;
  c.sigma_max = 1.0 / 3;
  c.sigma_min = 1.706777165336792e-07;         // its shortest form reads back as the next double through strtold
  c.inference_only = true;                     // a flag: CLI11 wrote its empty default string as false
  c.weights_dir = "runs/#1 \"x\"\tand\nmore";  // a comment sign, quotes, a tab, a line break
  c.seed = 18446744073709551615u;              // past a TOML integer: written as a string
  EXPECT_EQ(parse_mnist_toml(mnist_toml(c), "test"), c);
  c.weights_dir = "runs/\xff";  // Latin-1, not UTF-8
  try {
    mnist_toml(c);
    ADD_FAILURE() << "no error for a --weights-dir that is not UTF-8";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--weights-dir: 'runs/\\xff' cannot be saved in a config file"),
              std::string::npos)
        << e.what();
  }
}

TEST(MnistConfig, FlagsOverrideTheConfigFile) {
  TempDir tmp;
  MnistConfig file;
  file.lr = 5e-4;
  file.batch = 32;
  std::ofstream((tmp.path() / "run.toml").string()) << mnist_toml(file);
  const std::string config = (tmp.path() / "run.toml").string();
  const char* argv[] = {"mnist", "--config", config.c_str(), "--batch", "16"};
  const auto parsed = parse_mnist_flags(5, argv);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->config.lr, 5e-4);   // from the file
  EXPECT_EQ(parsed->config.batch, 16);  // the flag wins
  EXPECT_EQ(parse_mnist_toml(parsed->toml, "written back"), parsed->config);
}

TEST(MnistConfig, BadValuesNameTheFlag) {
  const char* width[] = {"mnist", "--width", "12"};
  EXPECT_THROW(
      {
        try {
          parse_mnist_flags(3, width);
        } catch (const UsageError& e) {
          EXPECT_NE(std::string(e.what()).find("--width"), std::string::npos) << e.what();
          throw;
        }
      },
      UsageError);
  const char* sampler[] = {"mnist", "--sampler", "magic"};
  EXPECT_THROW(parse_mnist_flags(3, sampler), UsageError);
  const char* sigmas[] = {"mnist", "--sigma-min", "2"};
  EXPECT_THROW(parse_mnist_flags(3, sigmas), UsageError);
}

TEST(MnistData, SplitIsSeededDisjointAndComplete) {
  Digits all{{}, {}, 1000, 1, 1};
  for (int64_t i = 0; i < 1000; ++i) all.pixels.push_back(static_cast<uint8_t>(i % 256)), all.labels.push_back(i);
  const TrainValSplit a = split_digits(all, 0.1, 5), b = split_digits(all, 0.1, 5), c = split_digits(all, 0.1, 6);
  EXPECT_EQ(a.val.count, 100);
  EXPECT_EQ(a.train.count, 900);
  EXPECT_EQ(a.val.labels, b.val.labels);  // same seed, same split
  EXPECT_NE(a.val.labels, c.val.labels);
  std::vector<int64_t> seen = a.train.labels;  // the labels are the indices: every image exactly once
  seen.insert(seen.end(), a.val.labels.begin(), a.val.labels.end());
  std::sort(seen.begin(), seen.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(seen[i], i);
  EXPECT_THROW(split_digits(all, 0.0001, 5), std::invalid_argument);
}

TEST(MnistData, BatchesDependOnTheStepAlone) {
  BatchOrder sequential(100, 8, 3);
  std::vector<std::vector<int64_t>> seen;
  for (int64_t k = 0; k < 30; ++k) seen.push_back(sequential.indices(k));
  EXPECT_EQ(sequential.steps_per_epoch(), 12);
  BatchOrder jump(100, 8, 3);  // a resumed run starts mid-epoch
  EXPECT_EQ(jump.indices(27), seen[27]);
  EXPECT_EQ(jump.indices(13), seen[13]);
  std::vector<int64_t> epoch;  // one epoch visits distinct images
  for (int64_t k = 0; k < 12; ++k) epoch.insert(epoch.end(), seen[k].begin(), seen[k].end());
  std::sort(epoch.begin(), epoch.end());
  EXPECT_EQ(std::unique(epoch.begin(), epoch.end()), epoch.end());
  EXPECT_NE(seen[0], seen[12]);  // a new order each epoch
}

TEST(MnistData, DequantizationStaysInsideEachByteBin) {
  Digits d{{0, 255, 17, 128}, {0}, 1, 2, 2};
  scorch::Generator gen(1);
  const std::vector<double> x = dequantize(d, {0}, gen).values();
  for (int k = 0; k < 4; ++k) {
    EXPECT_GE(x[k] * 256, d.pixels[k]);
    EXPECT_LT(x[k] * 256, d.pixels[k] + 1);
  }
}

class MnistAppRun : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!mnist_built()) GTEST_SKIP() << "mnist binary not built";
    write_synthetic_mnist(tmp.path() / "data", 200);
  }
  TempDir tmp;
};

TEST_F(MnistAppRun, ResumeEqualsAnUninterruptedRun) {
  const auto [code, log] = run_command(tiny_run(tmp.path() / "data", tmp.path() / "whole", 6));
  ASSERT_EQ(code, 0) << log;
  const auto [code1, log1] = run_command(tiny_run(tmp.path() / "data", tmp.path() / "split", 4));
  ASSERT_EQ(code1, 0) << log1;
  const auto [code2, log2] = run_command(tiny_run(tmp.path() / "data", tmp.path() / "split", 6) + " --resume");
  ASSERT_EQ(code2, 0) << log2;
  EXPECT_NE(log2.find("resuming from"), std::string::npos) << log2;
  EXPECT_EQ(losses_of(tmp.path() / "split" / "log.csv"), losses_of(tmp.path() / "whole" / "log.csv"));
  // The final checkpoints hold the same weights, averages and Adam state, bit for bit.
  const Checkpoint a = load_checkpoint((tmp.path() / "whole" / "last.safetensors").string());
  const Checkpoint b = load_checkpoint((tmp.path() / "split" / "last.safetensors").string());
  EXPECT_EQ(a.progress.step, 6);
  EXPECT_EQ(a.progress.rng_offset, b.progress.rng_offset);
  for (auto group : {&Checkpoint::model, &Checkpoint::ema, &Checkpoint::optim}) {
    ASSERT_EQ((a.*group).size(), (b.*group).size());
    for (const auto& [name, t] : a.*group) EXPECT_EQ(t.values(), (b.*group).at(name).values()) << name;
  }
  // Resuming with a setting that changes the run is refused, naming the flag.
  const auto [code3, log3] =
      run_command(tiny_run(tmp.path() / "data", tmp.path() / "split", 8) + " --resume --batch 4");
  EXPECT_EQ(code3, 1);
  EXPECT_NE(log3.find("--batch"), std::string::npos) << log3;
}

TEST_F(MnistAppRun, WritesCheckpointsLogAndConfig) {
  const auto [code, log] = run_command(tiny_run(tmp.path() / "data", tmp.path() / "w", 4));
  ASSERT_EQ(code, 0) << log;
  for (const char* name : {"best.safetensors", "last.safetensors", "log.csv", "config.toml"})
    EXPECT_TRUE(fs::exists(tmp.path() / "w" / name)) << name;
  const std::string csv = slurp(tmp.path() / "w" / "log.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "step,epoch,train_loss,val_loss,best_val_loss,elapsed_s,samples_per_s");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);  // header, step 2, step 4
  const MnistConfig saved = parse_mnist_toml(slurp(tmp.path() / "w" / "config.toml"), "config.toml");
  EXPECT_EQ(saved.width, 8);
  EXPECT_EQ(saved.seed, 7u);
  const Checkpoint ck = load_checkpoint((tmp.path() / "w" / "best.safetensors").string());
  EXPECT_EQ(parse_mnist_toml(ck.config_toml, "metadata"), saved);
  EXPECT_FALSE(ck.ema.empty());
  EXPECT_FALSE(ck.optim.empty());
}

TEST_F(MnistAppRun, EarlyStoppingStopsAfterPatienceEvaluations) {
  // A huge min-delta: no validation counts as an improvement after the first.
  const auto [code, log] =
      run_command(tiny_run(tmp.path() / "data", tmp.path() / "w", 100) + " --patience 2 --min-delta 1e9");
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("early stop at step 6"), std::string::npos) << log;
  EXPECT_EQ(load_checkpoint((tmp.path() / "w" / "last.safetensors").string()).progress.step, 6);
  EXPECT_EQ(load_checkpoint((tmp.path() / "w" / "best.safetensors").string()).progress.step, 2);
}

TEST_F(MnistAppRun, CtrlCSavesLastAndResumes) {
  const fs::path weights = tmp.path() / "w";
  const std::string cmd = tiny_run(tmp.path() / "data", weights, 100000) + " --val-interval 1";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >/dev/null 2>&1").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(weights / "last.safetensors") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const Checkpoint ck = load_checkpoint((weights / "last.safetensors").string());
  EXPECT_GE(ck.progress.step, 1);
  EXPECT_LT(ck.progress.step, 100000);
  const auto [code, log] = run_command(tiny_run(tmp.path() / "data", weights, ck.progress.step + 2) + " --resume");
  EXPECT_EQ(code, 0) << log;
  EXPECT_EQ(load_checkpoint((weights / "last.safetensors").string()).progress.step, ck.progress.step + 2);
}

TEST_F(MnistAppRun, InferenceOnlyWritesPngAndNpy) {
  const auto [code, log] = run_command(tiny_run(tmp.path() / "data", tmp.path() / "w", 2));
  ASSERT_EQ(code, 0) << log;
  const fs::path out = tmp.path() / "samples";
  const std::string sample = mnist_binary() + " --inference_only --weights-dir " + shell_quote(tmp.path() / "w") +
                             " --samples-dir " + shell_quote(out) +
                             " --n-samples 5 --batch 3 --steps-per-level 2 --seed 4";  // a later --samples-dir wins
  const auto [code2, log2] = run_command(sample);
  ASSERT_EQ(code2, 0) << log2;
  const Tensor x = scorch::load_npy((out / "samples.npy").string());
  EXPECT_EQ(x.shape(), (scorch::Shape{5, 1, 28, 28}));
  EXPECT_EQ(x.dtype(), scorch::kFloat32);
  for (double v : x.values()) ASSERT_TRUE(v >= 0 && v <= 1) << v;
  const GrayPng png = read_png_gray((out / "samples.png").string());
  EXPECT_EQ(png.image.width, 3 * 56 + 4 * 2);  // 3 columns of 56-pixel images (scale 2), 2-pixel padding
  EXPECT_EQ(png.text.at("seed"), "4");
  EXPECT_NE(png.text.at("sampler").find("annealed"), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "trajectory.png"));
  EXPECT_NO_THROW(read_png_gray((out / "trajectory.png").string()));
  // Same seed, same images.
  const auto [code3, log3] = run_command(sample + " --samples-dir " + shell_quote(tmp.path() / "again"));
  ASSERT_EQ(code3, 0) << log3;
  EXPECT_EQ(scorch::load_npy((tmp.path() / "again" / "samples.npy").string()).values(), x.values());
}

TEST_F(MnistAppRun, RefineNetTrainsAndSamplesOnItsOwnLevels) {
  const auto [code, log] =
      run_command(tiny_run(tmp.path() / "data", tmp.path() / "w", 2) + " --model refinenet --width 4");
  ASSERT_EQ(code, 0) << log;
  const std::string sample = mnist_binary() + " --inference_only --weights-dir " + shell_quote(tmp.path() / "w") +
                             " --samples-dir " + shell_quote(tmp.path() / "s") + " --n-samples 2";
  const auto [code2, log2] = run_command(sample + " --sampler pc");  // 10 levels x (predictor + corrector)
  ASSERT_EQ(code2, 0) << log2;
  EXPECT_EQ(scorch::load_npy((tmp.path() / "s" / "samples.npy").string()).shape(), (scorch::Shape{2, 1, 28, 28}));
  const auto [code3, log3] = run_command(sample + " --sampler edm");  // needs sigmas between the levels
  EXPECT_EQ(code3, 1);
  EXPECT_NE(log3.find("refinenet only takes its 10 training noise levels"), std::string::npos) << log3;
}

TEST_F(MnistAppRun, InferenceOnlyNamesAMissingOrForeignCheckpoint) {
  const auto [code, log] =
      run_command(mnist_binary() + " --inference_only --weights-dir " + shell_quote(tmp.path() / "none"));
  EXPECT_EQ(code, 1);
  EXPECT_NE(log.find("best.safetensors: no such checkpoint"), std::string::npos) << log;
  const fs::path foreign = tmp.path() / "foreign.safetensors";
  scorch::nn::save_safetensors(foreign.string(), {{"w", scorch::zeros({2})}});
  const auto [code2, log2] = run_command(mnist_binary() + " --inference_only --weights " + shell_quote(foreign));
  EXPECT_EQ(code2, 1);
  EXPECT_NE(log2.find("not an mnist checkpoint"), std::string::npos) << log2;
}

TEST_F(MnistAppRun, ProfileAndDumpGraphOfATrainingRun) {
  const fs::path trace = tmp.path() / "trace.json", dot = tmp.path() / "graph.dot";
  const auto [code, log] = run_command(tiny_run(tmp.path() / "data", tmp.path() / "w", 3) + " --profile " +
                                       shell_quote(trace) + " --dump-graph " + shell_quote(dot));
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("% roof"), std::string::npos) << log;  // the summary, with this machine's roofs
  // One train_step range per step, with the convolutions of the model inside.
  const nlohmann::json events = nlohmann::json::parse(slurp(trace)).at("traceEvents");
  int steps = 0, convs = 0;
  for (const nlohmann::json& e : events) steps += e.at("name") == "train_step", convs += e.at("name") == "conv2d";
  EXPECT_EQ(steps, 3);
  EXPECT_GT(convs, 0);
  // The graph of the first step's loss, with the model's parameters named by their module path.
  const std::string graph = slurp(dot);
  EXPECT_EQ(graph.rfind("digraph", 0), 0u) << graph.substr(0, 80);
  EXPECT_NE(graph.find("conv2d"), std::string::npos);
  EXPECT_NE(graph.find(".weight"), std::string::npos);
  // Diagnostics are not settings: neither lands in the saved config.
  EXPECT_EQ(slurp(tmp.path() / "w" / "config.toml").find("profile"), std::string::npos);
  const auto [code2, log2] = run_command(mnist_binary() + " --inference_only --dump-graph " + shell_quote(dot));
  EXPECT_EQ(code2, 2);
  EXPECT_NE(log2.find("--dump-graph"), std::string::npos) << log2;
}

}  // namespace
