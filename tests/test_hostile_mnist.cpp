// Hostile input to the mnist app (issue 23), end to end on the real binary with a tiny synthetic
// dataset (as tests/test_mnist_app.cpp): its config file is real TOML, read with toml++, and its
// checkpoints survive the mistakes a user makes: --overwrite with a typo keeps the old run, a diverging
// run never replaces a finite checkpoint, and what a killed run left is cleaned at the next start.
// The one-line messages themselves are rows of tests/test_bad_input.cpp.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "app_runner.h"
#include "apps/mnist/checkpoint.h"
#include "apps/mnist/config.h"
#include "synthetic_mnist.h"
#include "temp_dir.h"
#include "tensor/file_io.h"

namespace {

namespace fs = std::filesystem;
using namespace scorch::app;
using scorch::testing::run_command;
using scorch::testing::TempDir;
using scorch::testing::write_synthetic_mnist;

// parse_mnist_flags on `args` (after "mnist").
ParsedFlags parse(std::vector<std::string> args) {
  args.insert(args.begin(), "mnist");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  const auto parsed = parse_mnist_flags(static_cast<int>(argv.size()), argv.data());
  if (!parsed) throw std::logic_error("--help");
  return *parsed;
}

// The message of the UsageError that `f` throws, or "(no error)".
template <typename F>
std::string usage_error_of(F f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

// CLI11's reader took `samples-dir = "a#b"` as the folder `"a`: a '#' started a comment wherever it was.
TEST(MnistConfigFile, IsTomlWithItsStringsAndComments) {
  TempDir tmp;
  const std::string file = tmp.file("run.toml");
  scorch::write_file_atomic(file,
                            "# a comment\n"
                            "samples-dir = \"a#b\"  # the folder a#b\n"
                            "weights-dir = 'C:\\runs\\#1'\n"  // a literal string: no escapes
                            "data-dir = \"tab\\there \\\"quoted\\\" caf\\u00e9\"\n"
                            "lr = 2.5e-4\n"
                            "ema-warmup = false\n"
                            "inference_only = true\n");
  const MnistConfig c = parse({"--config", file}).config;
  EXPECT_EQ(c.samples_dir, "a#b");
  EXPECT_EQ(c.weights_dir, "C:\\runs\\#1");
  EXPECT_EQ(c.data_dir, "tab\there \"quoted\" caf\xc3\xa9");
  EXPECT_EQ(c.lr, 2.5e-4);
  EXPECT_FALSE(c.ema_warmup);
  EXPECT_TRUE(c.inference_only);
  // And what is written reads back as it was (config.toml is what --resume trusts).
  EXPECT_EQ(parse_mnist_toml(mnist_toml(c), "written"), c);
}

// Flags on the command line win over the file, whatever their order; the file wins over the defaults.
TEST(MnistConfigFile, FlagsOnTheCommandLineWin) {
  TempDir tmp;
  const std::string file = tmp.file("run.toml");
  scorch::write_file_atomic(file, "lr = 0.002\nbatch = 32\nsamples-dir = \"from_file\"\ndenoise = false\n");
  const MnistConfig c = parse({"--batch", "16", "--config", file, "--samples-dir", "from_flag"}).config;
  EXPECT_EQ(c.lr, 0.002);
  EXPECT_EQ(c.batch, 16);
  EXPECT_EQ(c.samples_dir, "from_flag");
  EXPECT_FALSE(c.denoise);
  // A bad value in the file is refused even where nothing overrides it, naming the line.
  scorch::write_file_atomic(file, "batch = 32\nlr = -1\n");
  EXPECT_NE(usage_error_of([&] {
              parse({"--config", file});
            }).find("run.toml, line 2: --lr: must be"),
            std::string::npos);
}

// --resume without --config reads the run's own <weights-dir>/config.toml; flags still win.
TEST(MnistConfigFile, ResumeReadsTheRunsConfig) {
  TempDir tmp;
  MnistConfig run;
  run.width = 16;
  run.lr = 3e-4;
  scorch::write_file_atomic(tmp.file("config.toml"), mnist_toml(run));
  const MnistConfig c = parse({"--weights-dir", tmp.path().string(), "--resume", "--lr", "1e-4"}).config;
  EXPECT_EQ(c.width, 16);
  EXPECT_EQ(c.lr, 1e-4);
  EXPECT_TRUE(c.resume);
}

// Never the defaults in place of a file that cannot be read.
TEST(MnistConfigFile, AnUnreadableFileIsRefused) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads a file of mode 000";
  TempDir tmp;
  const std::string file = tmp.file("secret.toml");
  scorch::write_file_atomic(file, "lr = 0.002\n");
  fs::permissions(file, fs::perms::none);
  EXPECT_NE(usage_error_of([&] {
              parse({"--config", file});
            }).find("secret.toml: cannot read it: Permission denied"),
            std::string::npos);
}

std::string mnist_binary() { return scorch::testing::app_binary("mnist"); }

// The real binary on 200 synthetic images: unet-small of width 8, a fraction of a second a run.
class HostileMnistRun : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(mnist_binary())) GTEST_SKIP() << "mnist binary not built";
    write_synthetic_mnist(tmp.path() / "data", 200);
  }
  // Training into `weights` (in the scratch folder) for `steps` steps, plus `more` flags.
  std::pair<int, std::string> train(const std::string& weights, int steps, const std::string& more = "") const {
    return run_command("cd " + scorch::testing::shell_quote(tmp.path()) + " && " + mnist_binary() +
                       " --data-dir data --weights-dir " + weights +
                       " --width 8 --batch 8 --val-interval 2 --threads 1 --seed 7 --steps " + std::to_string(steps) +
                       " " + more);
  }
  std::string bytes(const std::string& file) const { return scorch::read_file(tmp.file(file)); }
  TempDir tmp;
};

// The temporary file "<name>.tmp.<pid>.<n>" of the trace's atomic write must fit NAME_MAX too: a name
// of 220 bytes is refused before any work (no weights folder), one of 219 is written.
TEST_F(HostileMnistRun, ProfileNameFitsItsTemporaryFile) {
  const size_t longest = 255 - scorch::kTempSuffixMax;  // NAME_MAX of the test's filesystem (ext4, tmpfs, overlayfs)
  const auto [code, log] = train("w", 1, "--profile " + std::string(longest + 1, 'p'));
  EXPECT_EQ(code, 2) << log;
  EXPECT_NE(log.find("--profile: the file name is 220 bytes; it must be at most 219"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(tmp.path() / "w"));
  const auto [code2, log2] = train("w", 1, "--profile " + std::string(longest, 'p'));
  EXPECT_EQ(code2, 0) << log2;
  EXPECT_TRUE(fs::exists(tmp.path() / std::string(longest, 'p')));
}

// --overwrite with a mistake in the other flags must not cost the old run: its files stay, byte for
// byte, until the new run has written its first checkpoint.
TEST_F(HostileMnistRun, OverwriteKeepsTheOldRunUntilTheNewOneHasACheckpoint) {
  ASSERT_EQ(train("w", 4).first, 0);
  const std::vector<std::string> files = {"w/last.safetensors", "w/best.safetensors", "w/log.csv", "w/config.toml"};
  std::vector<std::string> before;
  for (const std::string& f : files) before.push_back(bytes(f));
  for (const std::string& mistake : {std::string("--data-dir dta"), std::string("--batch 4000")}) {
    const auto [code, log] = train("w", 4, "--overwrite " + mistake);
    EXPECT_EQ(code, 1) << log;
    for (size_t i = 0; i < files.size(); ++i) EXPECT_EQ(bytes(files[i]), before[i]) << files[i] << " after " << mistake;
  }
  // A good run replaces them all: no row, checkpoint or setting of the old run is left.
  const auto [code, log] = train("w", 2, "--overwrite --seed 8");
  ASSERT_EQ(code, 0) << log;
  for (const char* f : {"w/last.safetensors", "w/best.safetensors"}) {
    const Checkpoint ck = load_checkpoint(tmp.file(f));
    EXPECT_EQ(ck.progress.step, 2) << f;
    EXPECT_EQ(parse_mnist_toml(ck.config_toml, f).seed, 8u) << f;
  }
  const std::string csv = bytes("w/log.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 2) << csv;  // the header and step 2
  EXPECT_NE(bytes("w/config.toml").find("seed=8\n"), std::string::npos);
}

// Every weight (and EMA average) of a checkpoint is finite: `ck`'s first one that is not, or "".
std::string first_nonfinite(const Checkpoint& ck) {
  for (auto group : {&Checkpoint::model, &Checkpoint::ema})
    for (const auto& [name, t] : ck.*group)
      for (double v : t.values())
        if (!std::isfinite(v)) return name;
  return "";
}

// --lr 1e6 diverges: whether the training loss, the validation loss or the weights go first, the run
// stops with a message, and last.safetensors and best.safetensors stay checkpoints of finite weights
// (the app no longer calls a checkpoint "good" that it saved after the loss went nan).
TEST_F(HostileMnistRun, ADivergingRunNeverReplacesAFiniteCheckpoint) {
  for (const std::string lr : {"1e6", "1e30"}) {
    SCOPED_TRACE("--lr " + lr);
    const auto [code, log] = train("w" + lr, 40, "--lr " + lr + " --clip 0 --val-interval 1");
    EXPECT_EQ(code, 1) << log;
    EXPECT_NE(log.find("(not finite). Nothing was saved: w" + lr + "/last.safetensors still holds step"),
              std::string::npos)
        << log;
    EXPECT_EQ(log.find("last good"), std::string::npos) << log;
    ASSERT_TRUE(fs::exists(tmp.file("w" + lr + "/last.safetensors")));  // the step-0 one at least
    for (const char* name : {"/last.safetensors", "/best.safetensors"}) {
      if (!fs::exists(tmp.file("w" + lr + name))) continue;  // no finite validation loss yet
      const Checkpoint ck = load_checkpoint(tmp.file("w" + lr + name));
      EXPECT_LT(ck.progress.step, 40) << name;
      EXPECT_EQ(first_nonfinite(ck), "") << name;
      EXPECT_TRUE(std::isfinite(ck.progress.best_val_loss) || ck.progress.step == 0) << name;
    }
  }
}

// A damaged log.csv (a truncated write by another tool, an edit, binary junk) does not block --resume:
// the rows before the damage are kept, the file is set aside as log.csv.damaged, and the warning names
// the line with its text escaped.
TEST_F(HostileMnistRun, ADamagedLogDoesNotBlockResume) {
  ASSERT_EQ(train("w", 4).first, 0);
  const std::string good = bytes("w/log.csv");  // header, step 2, step 4
  const std::string first_row = good.substr(0, good.find('\n', good.find('\n') + 1) + 1);
  const std::string damaged = first_row + "4,0.3,\x01\xff garbage\n";
  scorch::write_file_atomic(tmp.file("w/log.csv"), damaged);
  const auto [code, log] = train("w", 6, "--resume");
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("log.csv line 3 is not 7 comma-separated numbers: '4,0.3,\\x01\\xff garbage'"), std::string::npos)
      << log;
  EXPECT_NE(log.find("the 1 rows before it are kept"), std::string::npos) << log;
  EXPECT_EQ(bytes("w/log.csv.damaged"), damaged);
  const std::string csv = bytes("w/log.csv");
  EXPECT_EQ(csv.substr(0, first_row.size()), first_row);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3) << csv;  // the header, step 2 kept, step 6 new
  EXPECT_NE(csv.find("\n6,"), std::string::npos) << csv;
  // Steps out of order, a wrong header: the same.
  for (const std::string& text : {std::string("step,epoch\n"), first_row + "1,0,0,0,0,0,0\n"}) {
    scorch::write_file_atomic(tmp.file("w/log.csv"), text);
    const auto [code2, log2] = train("w", 8, "--resume");
    EXPECT_EQ(code2, 0) << log2;
    EXPECT_NE(log2.find("mnist: warning: "), std::string::npos) << log2;
    EXPECT_EQ(bytes("w/log.csv.damaged"), text);
  }
}

// A pid no process has: that of a child, once reaped.
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

// What a SIGKILLed run leaves (write_file_atomic's "<file>.tmp.<pid>.<n>") goes at the next start, in
// the weights folder, the samples folder and beside --profile / --dump-graph files; a live writer's
// file and files of other names stay.
TEST_F(HostileMnistRun, StaleTempFilesAreRemovedAtStart) {
  fs::create_directories(tmp.path() / "w");
  fs::create_directories(tmp.path() / "s");
  const std::string dead = std::to_string(dead_pid()), live = std::to_string(::getpid());
  const std::vector<std::string> stale = {
      "w/last.safetensors.tmp." + dead + ".0", "w/log.csv.tmp." + dead + ".3",       "w/trace.json.tmp." + dead + ".1",
      "w/graph.dot.tmp." + dead + ".2",        "s/samples.png.tmp." + dead + ".0",   "s/samples.npy.tmp." + dead + ".1",
      "s/trajectory.png.tmp." + dead + ".2",   "s/sampling.json.tmp." + dead + ".3", "s/trace.json.tmp." + dead + ".4"};
  const std::vector<std::string> kept = {"w/best.safetensors.tmp." + live + ".0", "s/notes.tmp." + dead + ".0",
                                         "s/samples.png.tmp." + dead};
  for (const std::string& name : stale) scorch::write_file_atomic(tmp.file(name), "left by a killed run");
  for (const std::string& name : kept) scorch::write_file_atomic(tmp.file(name), "not ours to remove");
  const auto [code, log] = train("w", 2, "--profile w/trace.json --dump-graph w/graph.dot");
  ASSERT_EQ(code, 0) << log;
  const auto [code2, log2] = run_command("cd " + scorch::testing::shell_quote(tmp.path()) + " && " + mnist_binary() +
                                         " --inference_only --weights-dir w --samples-dir s --n-samples 2 "
                                         "--steps-per-level 1 --profile s/trace.json");
  ASSERT_EQ(code2, 0) << log2;
  for (const std::string& name : stale) EXPECT_FALSE(fs::exists(tmp.file(name))) << name;
  for (const std::string& name : kept) EXPECT_TRUE(fs::exists(tmp.file(name))) << name;
}

}  // namespace
