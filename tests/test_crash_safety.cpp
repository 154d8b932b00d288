// Crash-safe training of the mnist app, on the real binary with a tiny unet-small and synthetic digits:
//   - SIGKILL at seeded random points (during steps, validations, checkpoint writes, startup), each
//     followed by --resume: after every kill last.safetensors loads and log.csv is a prefix of the
//     uninterrupted run's log covering the checkpoint; in the end weights, EMA and Adam state equal the
//     uninterrupted run's bit for bit and no temporary file is left;
//   - a full disk (RLIMIT_FSIZE, and ENOSPC on a small tmpfs where one can be mounted) while saving:
//     exit code 1, one line naming the file and the OS error, the previous checkpoint byte for byte.
// "Always" starts when the app reports its start ("mnist: unet-small (N parameters) on ..."), after
// loading the data and building the model: a fresh run writes its step-0 checkpoint just before, so
// that from then on --resume has a checkpoint to continue from.
//
// scripts/kill_resume.sh runs the kill test at a larger scale through these environment variables:
// SCORCH_KILL_SEED (1), SCORCH_KILLS (6), SCORCH_KILL_STEPS (40), SCORCH_KILL_VAL_INTERVAL (2),
// SCORCH_KILL_WIDTH (8), SCORCH_KILL_BATCH (8), SCORCH_KILL_THREADS (1), SCORCH_KILL_DATA (a folder
// of MNIST IDX files; default 200 synthetic digits).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "app_runner.h"
#include "apps/mnist/checkpoint.h"
#include "synthetic_mnist.h"
#include "temp_dir.h"
#include "tensor/file_io.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace scorch::app;
using scorch::testing::TempDir;
using ::testing::HasSubstr;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}
int env_int(const char* name, int fallback) { return std::stoi(env_or(name, std::to_string(fallback))); }

// The flags of one training run; the same for the reference and every killed or resumed run.
std::vector<std::string> run_flags(const fs::path& data, const fs::path& weights, int steps) {
  return {"--data-dir",     data.string(),
          "--weights-dir",  weights.string(),
          "--width",        env_or("SCORCH_KILL_WIDTH", "8"),
          "--batch",        env_or("SCORCH_KILL_BATCH", "8"),
          "--val-interval", env_or("SCORCH_KILL_VAL_INTERVAL", "2"),
          "--threads",      env_or("SCORCH_KILL_THREADS", "1"),
          "--seed",         "7",
          "--patience",     "0",
          "--steps",        std::to_string(steps)};
}

std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Starts the mnist binary with its stdout and stderr on `out_fd`. `fsize_limit` sets RLIMIT_FSIZE in
// the child; SIGXFSZ is left at its default (fatal) action, so the app must ignore it itself.
pid_t start_mnist(const std::vector<std::string>& flags, int out_fd, rlim_t fsize_limit = RLIM_INFINITY) {
  const std::string binary = scorch::testing::app_binary("mnist");
  std::vector<std::string> args = plus({binary}, flags);
  std::vector<char*> argv;  // built before fork: the child may only make async-signal-safe calls
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const rlimit limit{fsize_limit, fsize_limit};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, STDOUT_FILENO);
    dup2(out_fd, STDERR_FILENO);
    signal(SIGXFSZ, SIG_DFL);
    if (fsize_limit != RLIM_INFINITY && setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(126);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Runs mnist to its end; returns its exit code (-1 if a signal ended it) and output. The output goes
// through a pipe, which the file size limit does not cover.
std::pair<int, std::string> run_mnist(const std::vector<std::string>& flags, rlim_t fsize_limit = RLIM_INFINITY) {
  int fds[2];
  if (pipe(fds) != 0) return {-1, "pipe failed"};
  const pid_t pid = start_mnist(flags, fds[1], fsize_limit);
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;)
    if (n > 0)
      out.append(buf, static_cast<size_t>(n));
    else if (errno != EINTR)
      break;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The rows of log.csv without the timing columns (elapsed_s, samples_per_s), header dropped.
std::vector<std::string> log_rows(const fs::path& log) {
  std::istringstream in(scorch::read_file(log.string()));
  std::vector<std::string> rows;
  std::string line;
  for (std::getline(in, line); std::getline(in, line);) {
    size_t cut = line.size();
    for (int k = 0; k < 2; ++k) cut = line.rfind(',', cut - 1);
    rows.push_back(line.substr(0, cut));
  }
  return rows;
}
int64_t row_step(const std::string& row) { return std::stoll(row.substr(0, row.find(','))); }
size_t rows_now(const fs::path& log) { return fs::exists(log) ? log_rows(log).size() : 0; }

// The temporary files of write_file_atomic in `dir` whose names contain `part`.
std::vector<std::string> temp_files(const fs::path& dir, const std::string& part = ".tmp.") {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(part) != std::string::npos) names.push_back(e.path().filename().string());
  return names;
}

// Model, EMA and Adam state equal bit for bit (float32 and int64 values are exact as doubles), and the
// counters that make the rest of the run the same.
void expect_same_state(const Checkpoint& a, const Checkpoint& b) {
  EXPECT_EQ(a.progress.step, b.progress.step);
  EXPECT_EQ(a.progress.rng_offset, b.progress.rng_offset);
  EXPECT_EQ(a.progress.ema_updates, b.progress.ema_updates);
  EXPECT_EQ(a.progress.best_step, b.progress.best_step);
  EXPECT_EQ(a.progress.best_val_loss, b.progress.best_val_loss);
  for (auto group : {&Checkpoint::model, &Checkpoint::ema, &Checkpoint::optim}) {
    ASSERT_EQ((a.*group).size(), (b.*group).size());
    for (const auto& [name, t] : a.*group)
      EXPECT_EQ(t.values(), (b.*group).at(name).values()) << a.path << ": " << name;
  }
}

std::map<std::string, std::string> files_in(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    files[e.path().filename().string()] = scorch::read_file(e.path().string());
  return files;
}

std::string last_line(const std::string& out) {
  const size_t end = out.find_last_not_of('\n');
  return end == std::string::npos ? "" : out.substr(out.rfind('\n', end) + 1, end - out.rfind('\n', end));
}

// Whether the app's output has its startup line ("mnist: unet-small (N parameters) on ..., 1 threads").
bool started(const fs::path& output) {
  return scorch::read_file(output.string()).find(" threads\n") != std::string::npos;
}

// Waits (polling every millisecond, at most 2 minutes) until `ready` holds; false if the child exited first.
template <class Ready>
bool wait_until(pid_t pid, Ready ready) {
  for (const auto deadline = Clock::now() + std::chrono::minutes(2); Clock::now() < deadline;) {
    if (ready()) return true;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// Freezes the child (SIGSTOP) while it writes `file` (write_file_atomic), so that a kill then lands
// mid-write for certain: polls for its temporary file, stops the child, and checks that the file is
// still there (else the write ended meanwhile: SIGCONT, try the next one). Gives up after 4 writes (a
// fast disk may keep the windows too short to hit) and returns false, the child running.
bool stop_inside_a_write(pid_t pid, const fs::path& dir, const std::string& file) {
  const std::string mine = file + ".tmp." + std::to_string(pid) + ".";
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (!wait_until(pid, [&] { return !temp_files(dir, mine).empty(); })) return false;
    kill(pid, SIGSTOP);
    int status;
    waitpid(pid, &status, WUNTRACED);
    if (!temp_files(dir, mine).empty()) return true;
    kill(pid, SIGCONT);
  }
  return false;
}

class CrashSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(scorch::testing::app_binary("mnist"))) GTEST_SKIP() << "mnist binary not built";
    data = env_or("SCORCH_KILL_DATA", "");
    if (data.empty()) scorch::testing::write_synthetic_mnist(data = tmp.path() / "data", 200);
  }
  TempDir tmp;
  fs::path data;
};

TEST_F(CrashSafety, KilledAndResumedRunEqualsAnUninterruptedOne) {
  const int steps = env_int("SCORCH_KILL_STEPS", 40), kills = env_int("SCORCH_KILLS", 6);
  const fs::path ref = tmp.path() / "reference", w = tmp.path() / "killed";
  const auto t0 = Clock::now();
  const auto [code, out] = run_mnist(run_flags(data, ref, steps));
  ASSERT_EQ(code, 0) << out;
  const double ref_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::vector<std::string> ref_rows = log_rows(ref / "log.csv");

  // Kill k waits until log.csv has target[k] rows (a point in the run, sorted: the kills walk through
  // it). Then an even kill waits a further random delay of up to 1.5 validation intervals, landing
  // anywhere in a step, a validation or a write (a target reached before the run starts kills it
  // during startup); an odd one lands inside the next write of last.safetensors or log.csv, in turn
  // (best.safetensors is hit by chance). Targets stop at 60% of the rows, so the run cannot end first.
  std::mt19937_64 rng(static_cast<uint64_t>(env_int("SCORCH_KILL_SEED", 1)));
  std::vector<size_t> target(kills);
  for (size_t& t : target) t = std::uniform_int_distribution<size_t>(0, ref_rows.size() * 6 / 10)(rng);
  std::sort(target.begin(), target.end());
  const double interval_s = ref_seconds / static_cast<double>(ref_rows.size());
  std::printf("reference: %d steps, %zu validations, %.2f s; kills after row targets + up to %.0f ms\n", steps,
              ref_rows.size(), ref_seconds, 1.5e3 * interval_s);

  for (int k = 0; k < kills; ++k) {
    const fs::path log = tmp.path() / ("run" + std::to_string(k) + ".log");
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    std::vector<std::string> flags = run_flags(data, w, steps);
    if (k > 0) flags.push_back("--resume");
    const size_t rows_before = rows_now(w / "log.csv");
    const pid_t pid = start_mnist(flags, fd);
    close(fd);
    ASSERT_GT(pid, 0);
    // The first run is killed only once it has reported its start (the start of "always").
    const bool armed = wait_until(pid, [&] { return (k > 0 || started(log)) && rows_now(w / "log.csv") >= target[k]; });
    const double delay_s = std::uniform_real_distribution<double>(0, 1.5 * interval_s)(rng);
    const std::string file = k % 4 == 1 ? "last.safetensors" : "log.csv";
    std::string aim = "writing " + file;
    if (k % 2 == 1 && armed && !stop_inside_a_write(pid, w, file)) aim += " (missed)";
    if (k % 2 == 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(delay_s));
      aim = std::to_string(static_cast<int>(1e3 * delay_s)) + " ms later";
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(armed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "kill " << k + 1 << " did not land: the run ended first (or took over 2 minutes)\n"
        << scorch::read_file(log.string());

    // A loadable checkpoint; best too where there is one; a log with no row lost or repeated.
    const std::vector<std::string> left = temp_files(w);
    Checkpoint ck;
    ASSERT_NO_THROW(ck = load_checkpoint((w / "last.safetensors").string())) << "after kill " << k + 1;
    if (fs::exists(w / "best.safetensors")) {
      EXPECT_NO_THROW(load_checkpoint((w / "best.safetensors").string()));
    }
    const std::vector<std::string> rows =
        fs::exists(w / "log.csv") ? log_rows(w / "log.csv") : std::vector<std::string>{};
    ASSERT_LE(rows.size(), ref_rows.size());
    EXPECT_TRUE(std::equal(rows.begin(), rows.end(), ref_rows.begin())) << "log.csv is not a prefix of the reference's";
    const auto covered =
        std::count_if(ref_rows.begin(), ref_rows.end(), [&](auto& r) { return row_step(r) <= ck.progress.step; });
    EXPECT_GE(static_cast<int64_t>(rows.size()), covered) << "log.csv lost rows before step " << ck.progress.step;
    // Where it landed, as far as the files tell.
    const std::vector<std::string> writing = temp_files(w, ".tmp." + std::to_string(pid) + ".");
    const std::string where = !writing.empty()
                                  ? "while writing " + writing.front().substr(0, writing.front().find(".tmp."))
                              : !started(log) ? "while starting up"
                              : rows.size() > rows_before && row_step(rows.back()) > ck.progress.step
                                  ? "after log.csv, before last.safetensors"
                                  : "in a training step or validation";
    std::printf("kill %d (at row %2zu, %s): last.safetensors at step %2lld, %2zu log rows, %zu temp files: %s\n", k + 1,
                target[k], aim.c_str(), static_cast<long long>(ck.progress.step), rows.size(), left.size(),
                where.c_str());
  }
  const auto [code2, out2] = run_mnist(plus(run_flags(data, w, steps), {"--resume"}));
  ASSERT_EQ(code2, 0) << out2;
  std::printf("the whole test: %.2f s\n", std::chrono::duration<double>(Clock::now() - t0).count());

  expect_same_state(load_checkpoint((w / "last.safetensors").string()),
                    load_checkpoint((ref / "last.safetensors").string()));
  expect_same_state(load_checkpoint((w / "best.safetensors").string()),
                    load_checkpoint((ref / "best.safetensors").string()));
  EXPECT_EQ(log_rows(w / "log.csv"), ref_rows);
  EXPECT_EQ(temp_files(w), std::vector<std::string>{});  // the resumed runs removed what the kills left
}

// A save that fails for lack of room (here the file size limit, as `ulimit -f` sets it) stops training
// with exit code 1 and one line naming the file and the OS error; the files it was replacing keep their
// bytes and no temporary file stays. Once there is room, --resume continues as if nothing had happened.
TEST_F(CrashSafety, FileSizeLimitWhileSavingKeepsThePreviousCheckpoint) {
  const fs::path w = tmp.path() / "w", ref = tmp.path() / "reference";
  ASSERT_EQ(run_mnist(run_flags(data, w, 2)).first, 0);
  const auto before = files_in(w);
  const auto limit = static_cast<rlim_t>(fs::file_size(w / "last.safetensors") / 2);
  const auto [code, out] = run_mnist(plus(run_flags(data, w, 4), {"--resume"}), limit);
  EXPECT_EQ(code, 1) << out;
  const std::string error = last_line(out);  // the checkpoint of step 4 (best first, as it improved)
  EXPECT_THAT(error,
              HasSubstr("mnist: training stopped at step 4: " + (w / "best.safetensors").string() + ": cannot write"));
  EXPECT_THAT(error, HasSubstr("File too large"));
  EXPECT_THAT(error, HasSubstr("last.safetensors still holds step 2"));
  const auto after = files_in(w);  // config.toml holds the new --steps: it was written at startup
  for (const char* name : {"best.safetensors", "last.safetensors"}) EXPECT_EQ(after.at(name), before.at(name)) << name;
  EXPECT_EQ(temp_files(w), std::vector<std::string>{});

  // Too little room for config.toml, written first: the same, at startup.
  const auto [code2, out2] = run_mnist(plus(run_flags(data, w, 6), {"--resume"}), 16);
  EXPECT_EQ(code2, 1) << out2;
  EXPECT_THAT(last_line(out2), HasSubstr("mnist: " + (w / "config.toml").string() + ": cannot write"));
  EXPECT_THAT(last_line(out2), HasSubstr("File too large"));
  EXPECT_EQ(files_in(w), after);

  // log.csv got its step-4 row before the failed save; the resumed run writes it once.
  const auto [code3, out3] = run_mnist(plus(run_flags(data, w, 4), {"--resume"}));
  ASSERT_EQ(code3, 0) << out3;
  ASSERT_EQ(run_mnist(run_flags(data, ref, 4)).first, 0);
  EXPECT_EQ(log_rows(w / "log.csv"), log_rows(ref / "log.csv"));
  expect_same_state(load_checkpoint((w / "last.safetensors").string()),
                    load_checkpoint((ref / "last.safetensors").string()));
}

// The same with a real full disk (ENOSPC): a tmpfs with room for the run's files but not for another
// checkpoint, mounted in a private mount namespace (unshare -rm), where the system allows one.
TEST_F(CrashSafety, FullDiskWhileSavingKeepsThePreviousCheckpoint) {
  if (scorch::testing::run_command("unshare -rm true").first != 0)
    GTEST_SKIP() << "no private mount namespace (unshare -rm) here";
  const fs::path src = tmp.path() / "src", full = tmp.path() / "full", after = tmp.path() / "after";
  ASSERT_EQ(run_mnist(run_flags(data, src, 2)).first, 0);
  fs::create_directories(full);
  fs::create_directories(after);
  uintmax_t used = 0;
  for (const auto& e : fs::directory_iterator(src)) used += e.file_size();
  const uintmax_t size = (used + fs::file_size(src / "last.safetensors") / 2 + 65536) / 4096 * 4096;
  using scorch::testing::shell_quote;
  std::string mnist = shell_quote(scorch::testing::app_binary("mnist"));
  for (const std::string& flag : plus(run_flags(data, full, 4), {"--resume"})) mnist += " " + shell_quote(flag);
  const std::string script = "mount -t tmpfs -o size=" + std::to_string(size) + " tmpfs " + shell_quote(full) +
                             " && cp " + shell_quote(src) + "/* " + shell_quote(full) + " && { " + mnist +
                             "; echo exit code $?; cp " + shell_quote(full) + "/* " + shell_quote(after) + "; }";
  const auto [code, out] = scorch::testing::run_command("unshare -rm sh -c " + shell_quote(script));
  EXPECT_THAT(out, HasSubstr("exit code 1\n")) << out;
  const std::string error = out.substr(0, out.find("exit code"));
  EXPECT_THAT(last_line(error),
              HasSubstr("mnist: training stopped at step 4: " + (full / "best.safetensors").string()));
  EXPECT_THAT(last_line(error), HasSubstr("No space left on device"));
  EXPECT_THAT(last_line(error), HasSubstr("last.safetensors still holds step 2"));
  const auto before = files_in(src), now = files_in(after);
  for (const char* name : {"best.safetensors", "last.safetensors"}) EXPECT_EQ(now.at(name), before.at(name)) << name;
  EXPECT_EQ(temp_files(after), std::vector<std::string>{});  // copied from the full disk
}

// A run that stopped early and was killed before it could exit is finished: --resume leaves it alone
// rather than training past its early stop.
TEST_F(CrashSafety, ResumingAnEarlyStoppedRunChangesNothing) {
  const fs::path w = tmp.path() / "w";
  const std::vector<std::string> flags = plus(run_flags(data, w, 100), {"--patience", "2", "--min-delta", "1e9"});
  const auto [code, out] = run_mnist(flags);
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("early stop at step 6"));
  const auto before = files_in(w);
  const auto [code2, out2] = run_mnist(plus(flags, {"--resume"}));
  EXPECT_EQ(code2, 0) << out2;
  EXPECT_THAT(out2, HasSubstr("the run stopped early at step 6"));
  EXPECT_EQ(files_in(w), before);
}

// Nothing saved is overwritten by a new run started in the same folder by mistake.
TEST_F(CrashSafety, ANewRunLeavesASavedOneAlone) {
  const fs::path w = tmp.path() / "w";
  ASSERT_EQ(run_mnist(run_flags(data, w, 2)).first, 0);
  const auto before = files_in(w);
  const auto [code, out] = run_mnist(run_flags(data, w, 4));
  EXPECT_EQ(code, 1) << out;
  EXPECT_EQ(last_line(out), "mnist: " + (w / "last.safetensors").string() +
                                " exists: continue that run with --resume, replace "
                                "it with --overwrite, or train into another --weights-dir");
  EXPECT_EQ(files_in(w), before);
  // --overwrite: the new run's checkpoints replace the old ones.
  const auto [code2, out2] = run_mnist(plus(run_flags(data, w, 4), {"--overwrite"}));
  ASSERT_EQ(code2, 0) << out2;
  EXPECT_EQ(load_checkpoint((w / "last.safetensors").string()).progress.step, 4);
  EXPECT_GT(load_checkpoint((w / "best.safetensors").string()).progress.step, 0);
}

// What a kill inside write_file_atomic leaves is removed by the next run, unless its writer still runs.
TEST(StaleTempFiles, RemovedWhenTheirProcessIsGone) {
  TempDir tmp;
  const pid_t dead = fork();  // a pid that no process has once the child is reaped
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  const std::string target = tmp.file("last.safetensors"), d = std::to_string(dead);
  const std::vector<std::string> removed = {"last.safetensors.tmp." + d + ".0", "last.safetensors.tmp." + d + ".17",
                                            "last.safetensors.tmp." + std::to_string(getpid()) + ".3"};
  const std::vector<std::string> kept = {"last.safetensors.tmp.1.0",  // pid 1 runs
                                         "last.safetensors.tmp." + d, "last.safetensors.tmp.x.0",
                                         "best.safetensors.tmp." + d + ".0", "last.safetensors"};
  for (const auto& names : {removed, kept})
    for (const std::string& name : names) scorch::write_file_atomic(tmp.file(name), "x");
  EXPECT_EQ(scorch::remove_stale_temp_files(target).size(), removed.size());
  std::vector<std::string> left = tmp.listing(), expected = kept;
  std::sort(left.begin(), left.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(left, expected);
}

}  // namespace
