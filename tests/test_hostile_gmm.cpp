// Hostile and careless input to the gmm app and the classes behind its figures (issue 23):
//   - strings that reach gnuplot (every path of a figure, titles, labels; gmm's --out, --profile and
//     --dump-graph) holding a quote, a newline, a backslash, $(...), a backtick, system(...): never run
//     as code (no PWNED file appears), and the figures are written, whole, at those paths;
//   - a gnuplot that fails, is missing, exits early or writes a truncated PNG (a fake one on PATH):
//     an error naming the figure, the previous file kept, no temporary file left;
//   - png_defect on every truncation of a real PNG, and on corrupted ones;
//   - gmm under a file size limit (ulimit -f, through bash) and on a full disk (a small tmpfs in a
//     private mount namespace, where one can be made): exit code 1, one line "gmm: <file>: ...",
//     no temporary file, no broken PNG;
//   - the temporary files a killed run leaves are removed when the next run starts.
// The gmm runs are tiny (kTiny): a few seconds each.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app_runner.h"
#include "apps/common/gnuplot.h"
#include "apps/common/png.h"
#include "temp_dir.h"
#include "tensor/file_io.h"

namespace {

namespace fs = std::filesystem;
using scorch::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::vector<std::string> kTiny = {"--quick", "--steps",  "2", "--n-steps", "2", "--steps-per-level",
                                        "1",       "--levels", "2", "--threads", "1"};

const char* const kFigures[] = {"fig1_samples.png",
                                "fig2_true_score.png",
                                "fig3_learned_score.png",
                                "fig4_langevin_true.png",
                                "fig5_langevin_learned.png",
                                "fig6_annealed_learned.png",
                                "loss.png"};

bool have_gnuplot() { return scorch::testing::run_command("command -v gnuplot").first == 0; }

struct Outcome {
  int code;  // -1 when a signal ended it
  std::string out, err;
};

// Runs argv[0] (from PATH) in `dir`, with no shell in between unless argv names one; stdout and
// stderr apart, read through one poll loop.
Outcome run_in(const fs::path& dir, const std::vector<std::string>& argv) {
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return {-1, "", "pipe failed"};
  std::vector<std::string> args = argv;
  std::vector<char*> cargs;  // built before fork: the child may only make async-signal-safe calls
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const std::string cwd = dir.string();
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    signal(SIGXFSZ, SIG_DFL);  // the app must ignore it itself
    if (chdir(cwd.c_str()) != 0) _exit(126);
    execvp(cargs[0], cargs.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  Outcome o{-1, "", ""};
  pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* into[2] = {&o.out, &o.err};
  char buf[4096];
  for (int open = 2; open > 0;) {
    if (poll(p, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || p[i].revents == 0) continue;
      const ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        into[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(p[i].fd);
        p[i].fd = -1;
        --open;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

// gmm with `flags`, kTiny and 100 particles unless `flags` say how many.
std::vector<std::string> gmm_argv(std::vector<std::string> flags) {
  if (std::find(flags.begin(), flags.end(), "--n-samples") == flags.end())
    flags.insert(flags.end(), {"--n-samples", "100"});
  flags.insert(flags.begin(), scorch::testing::app_binary("gmm"));
  flags.insert(flags.end(), kTiny.begin(), kTiny.end());
  return flags;
}

// The lines of stderr that are the app's own (not its progress bars).
std::vector<std::string> app_lines(const std::string& err) {
  std::vector<std::string> lines;
  for (size_t at = 0; at < err.size();) {
    const size_t end = std::min(err.find('\n', at), err.size());
    if (err.compare(at, 5, "gmm: ") == 0) lines.push_back(err.substr(at, end - at));
    at = end + 1;
  }
  return lines;
}

// Every file under `dir` whose name holds ".tmp", at any depth.
std::vector<std::string> temp_files(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) names.push_back(e.path().string());
  return names;
}

// A whole PNG of width x height (the IHDR's first 8 bytes of data, big-endian).
void expect_png(const fs::path& path, uint32_t width, uint32_t height) {
  ASSERT_TRUE(fs::exists(path)) << path;
  const std::string bytes = scorch::read_file(path.string());
  EXPECT_EQ(scorch::app::png_defect(bytes), "") << path;
  auto u32 = [&](size_t at) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
  };
  ASSERT_GE(bytes.size(), 24u) << path;
  EXPECT_EQ(u32(16), width) << path;
  EXPECT_EQ(u32(20), height) << path;
}

// ---------------------------------------------------------------------------------------------
// Strings that reach gnuplot. {S} stands for the sentinel file the payload would create if run.

struct Payload {
  const char* name;
  const char* text;
};
const Payload kPayloads[] = {
    {"Quote", "it's {S}"},
    {"GnuplotSystem", "x'; system('touch {S}'); print '"},
    {"Newline", "x'\nsystem('touch {S}')\nprint 'y"},
    {"Backslash", "x\\'; system('touch {S}'); print '\\"},
    {"Backtick", "x'.`touch {S}`.'"},
    {"ShellSubstitution", "x$(touch {S})'\"$(touch {S})\"`touch {S}`"},
    {"DoubleQuote", "x\"; system(\"touch {S}\"); print \""},
};

void PrintTo(const Payload& p, std::ostream* os) { *os << p.name; }

std::string with_sentinel(std::string text, const std::string& sentinel) {
  for (size_t at = text.find("{S}"); at != std::string::npos; at = text.find("{S}", at + sentinel.size()))
    text.replace(at, 3, sentinel);
  return text;
}

class HostileStrings : public ::testing::TestWithParam<Payload> {
 protected:
  TempDir tmp;
};

// The payload as the figure's folder, file name, title, axis labels and key entries.
TEST_P(HostileStrings, FigureWritesThePngAndRunsNothing) {
  if (!have_gnuplot()) GTEST_SKIP() << "no gnuplot";
  const fs::path sentinel = tmp.path() / "PWNED";
  const std::string payload = with_sentinel(GetParam().text, sentinel.string());
  const fs::path png = tmp.path() / payload / (payload + ".png");  // the sentinel's slashes make folders
  fs::create_directories(png.parent_path());
  scorch::app::Figure square(payload, {-1, 1}, {-1, 1}, payload, payload);
  square.points({0, 0, 0.5, 0.5}, payload, "#1f77b4");
  square.arrows({0, 0, 0.3, 0.3}, payload, "#d62728");
  ASSERT_NO_THROW(square.render(png.string()));
  expect_png(png, 900, 900);
  scorch::app::Figure lines(payload, {0, 1}, {0, 1}, payload, payload);
  lines.line({1, 1, 2, 0.5, 3, 0.25}, payload, "#08306b");
  lines.set_log_y();
  const fs::path loss = png.parent_path() / (payload + " loss.png");
  fs::create_directories(loss.parent_path());
  ASSERT_NO_THROW(lines.render(loss.string()));
  expect_png(loss, 1000, 600);
  EXPECT_FALSE(fs::exists(sentinel));
  EXPECT_FALSE(fs::exists("PWNED"));
  EXPECT_EQ(temp_files(tmp.path()), std::vector<std::string>{});
}

// gmm's path flags: --out (every figure), --profile and --dump-graph inside it, run in a scratch
// folder where the payload's relative "PWNED" would land.
TEST_P(HostileStrings, GmmWritesEveryFigureUnderTheOutputFolder) {
  if (!have_gnuplot()) GTEST_SKIP() << "no gnuplot";
  const std::string out = with_sentinel(GetParam().text, "PWNED");
  const Outcome o = run_in(tmp.path(), gmm_argv({"--out", out, "--profile", out + "/trace " + out + ".json",
                                                 "--dump-graph", out + "/graph " + out + ".dot"}));
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "");  // gnuplot's chatter no longer reaches stdout
  for (const char* name : kFigures)
    expect_png(tmp.path() / out / name, name == std::string("loss.png") ? 1000 : 900,
               name == std::string("loss.png") ? 600 : 900);
  EXPECT_TRUE(fs::exists(tmp.path() / out / ("trace " + out + ".json")));
  EXPECT_TRUE(fs::exists(tmp.path() / out / ("graph " + out + ".dot")));
  const nlohmann::json metrics = nlohmann::json::parse(scorch::read_file((tmp.path() / out / "metrics.json").string()));
  EXPECT_TRUE(metrics["field"]["relative_error"].is_number());
  EXPECT_FALSE(fs::exists(tmp.path() / "PWNED"));
  EXPECT_EQ(temp_files(tmp.path()), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(Payloads, HostileStrings, ::testing::ValuesIn(kPayloads),
                         [](const ::testing::TestParamInfo<Payload>& info) { return std::string(info.param.name); });

TEST(HostileFigure, ColorMustBeHex) {
  scorch::app::Figure f("t", {0, 1}, {0, 1});
  EXPECT_THROW(f.points({0, 0}, "p", "red'; system('touch PWNED'); print '"), std::invalid_argument);
  EXPECT_THROW(f.arrows({0, 0, 1, 1}, "a", "#12345"), std::invalid_argument);
  EXPECT_THROW(f.line({0, 0}, "l", "#12345g"), std::invalid_argument);
  EXPECT_NO_THROW(f.points({0, 0}, "p", "#A6c8e6"));
}

// ---------------------------------------------------------------------------------------------
// A fake gnuplot first on PATH: what render() makes of a gnuplot that misbehaves.

class FakeGnuplot : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* path = std::getenv("PATH");
    old_path_ = path ? path : "";
    fs::create_directories(bin());
    setenv("PATH", (bin().string() + ":" + old_path_).c_str(), 1);
    scorch::write_file_atomic(png().string(), "the previous figure");
  }
  void TearDown() override { setenv("PATH", old_path_.c_str(), 1); }

  fs::path bin() const { return tmp.path() / "bin"; }
  fs::path png() const { return tmp.path() / "fig.png"; }
  // Installs `gnuplot` as a shell script with this body.
  void install(const std::string& body) const {
    scorch::write_file_atomic((bin() / "gnuplot").string(), "#!/bin/sh\n" + body + "\n");
    fs::permissions(bin() / "gnuplot", fs::perms::owner_all);
  }
  // Renders a figure of `points` points; returns the error message ("" when none).
  std::string render(int points = 10) const {
    scorch::app::Figure f("t", {0, 1}, {0, 1});
    f.points(std::vector<double>(2 * points, 0.5), "p", "#000000");
    try {
      f.render(png().string());
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }
  void expect_previous_kept() const {
    EXPECT_EQ(scorch::read_file(png().string()), "the previous figure");
    EXPECT_EQ(temp_files(tmp.path()), std::vector<std::string>{});
  }

  TempDir tmp;
  std::string old_path_;
};

// A truncated PNG, gnuplot's exit status 0 (as on a full disk): rejected, the old figure kept.
TEST_F(FakeGnuplot, TruncatedPngIsRejected) {
  const fs::path real = tmp.path() / "real.png";
  scorch::app::write_png_gray(real.string(), std::vector<uint8_t>(64 * 64, 7), 64, 64);
  install("cat > /dev/null; head -c " + std::to_string(fs::file_size(real) / 2) + " '" + real.string() + "'; exit 0");
  EXPECT_THAT(render(), StartsWith(png().string() + ": gnuplot wrote no valid PNG (truncated in"));
  expect_previous_kept();
  install("cat > /dev/null; exit 0");  // nothing at all
  EXPECT_THAT(render(), StartsWith(png().string() + ": gnuplot wrote no valid PNG (empty, 0 bytes)"));
  expect_previous_kept();
}

TEST_F(FakeGnuplot, FailureIsOneLineWithGnuplotsError) {
  install(
      "cat > /dev/null; echo 'plot $d0 using 1:2' >&2; echo '     ^' >&2; "
      "echo '\"-\" line 12: undefined variable: foo' >&2; exit 1");
  EXPECT_EQ(render(), png().string() + ": gnuplot failed (exit status 1): \"-\" line 12: undefined variable: foo");
  expect_previous_kept();
}

// gnuplot gone before reading a large script: an error, not our death by SIGPIPE.
TEST_F(FakeGnuplot, EarlyExitIsAnError) {
  install("exit 3");
  EXPECT_EQ(render(200000), png().string() + ": gnuplot failed (exit status 3)");
  expect_previous_kept();
  install("kill -9 $$");
  EXPECT_EQ(render(200000), png().string() + ": gnuplot failed (killed by signal 9)");
  expect_previous_kept();
}

TEST_F(FakeGnuplot, MissingGnuplotSaysWhatToInstall) {
  setenv("PATH", bin().string().c_str(), 1);  // an empty folder
  EXPECT_EQ(render(), png().string() + ": cannot run gnuplot: not found (apt-get install gnuplot-nox)");
  expect_previous_kept();
}

// ---------------------------------------------------------------------------------------------
// png_defect.

std::string small_png() {
  TempDir tmp;
  std::vector<uint8_t> pixels(40 * 30);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 37);
  scorch::app::write_png_gray(tmp.file("a.png"), pixels, 40, 30, {{"note", "a tEXt chunk"}});
  return scorch::read_file(tmp.file("a.png"));
}

TEST(PngDefect, WholePngPasses) { EXPECT_EQ(scorch::app::png_defect(small_png()), ""); }

TEST(PngDefect, EveryTruncationFails) {
  const std::string png = small_png();
  for (size_t n = 0; n < png.size(); ++n) EXPECT_NE(scorch::app::png_defect(png.substr(0, n)), "") << n << " bytes";
  EXPECT_EQ(scorch::app::png_defect(""), "empty");
  EXPECT_EQ(scorch::app::png_defect(png.substr(0, 5)), "no PNG signature");
  EXPECT_EQ(scorch::app::png_defect(png.substr(0, 8)), "no chunk after the signature");
  EXPECT_EQ(scorch::app::png_defect(png.substr(0, 12)), "truncated in the header of chunk 0");
  EXPECT_EQ(scorch::app::png_defect(png.substr(0, 20)), "truncated in chunk 0 (IHDR)");
  EXPECT_EQ(scorch::app::png_defect(png.substr(0, png.size() - 12)), "ends without an IEND chunk");
}

TEST(PngDefect, CorruptionFails) {
  const std::string png = small_png();
  EXPECT_EQ(scorch::app::png_defect("GIF89a and more bytes"), "no PNG signature");
  EXPECT_EQ(scorch::app::png_defect(png + "junk"), "4 bytes after the IEND chunk");
  std::string flipped = png;
  flipped[40] ^= 1;  // inside a chunk's data
  EXPECT_THAT(scorch::app::png_defect(flipped), StartsWith("bad CRC in chunk"));
  std::string huge = png;
  huge[8] = '\xff';  // IHDR's length: 0xff00000d
  EXPECT_THAT(scorch::app::png_defect(huge), HasSubstr("claims 4278190093 bytes"));
  // The IHDR dropped: IDAT comes first.
  std::string no_header = png.substr(0, 8) + png.substr(8 + 25);
  EXPECT_THAT(scorch::app::png_defect(no_header), HasSubstr(", not IHDR"));
}

// ---------------------------------------------------------------------------------------------
// gmm against the file system.

// ulimit -f through bash; the limit's unit is 1024 bytes.
Outcome run_gmm_limited(const fs::path& dir, int kib, std::vector<std::string> flags) {
  std::vector<std::string> argv = {"bash", "-c", "ulimit -f " + std::to_string(kib) + " && exec \"$@\"", "bash"};
  const std::vector<std::string> gmm = gmm_argv(std::move(flags));
  argv.insert(argv.end(), gmm.begin(), gmm.end());
  return run_in(dir, argv);
}

void expect_file_too_large(const Outcome& o, const std::string& file) {
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_EQ(o.out, "");
  const std::vector<std::string> lines = app_lines(o.err);
  ASSERT_EQ(lines.size(), 1u) << o.err;
  EXPECT_THAT(lines[0], StartsWith("gmm: " + file + ": cannot write"));
  EXPECT_THAT(lines[0], HasSubstr("File too large"));
}

// The limit below the first array (1000 particles: 8128 bytes), written by gmm itself.
TEST(HostileGmm, FileSizeLimitOnAnArrayIsOneLine) {
  TempDir tmp;
  const Outcome o = run_gmm_limited(tmp.path(), 4, {"--out", "o", "--n-samples", "1000"});
  expect_file_too_large(o, "o/true_samples.npy");
  EXPECT_EQ(temp_files(tmp.path()), std::vector<std::string>{});
}

// The limit above the array (100 particles) and below the first figure: gmm writes the PNG too.
TEST(HostileGmm, FileSizeLimitOnAFigureIsOneLine) {
  if (!have_gnuplot()) GTEST_SKIP() << "no gnuplot";
  TempDir tmp;
  const Outcome o = run_gmm_limited(tmp.path(), 8, {"--out", "o"});
  expect_file_too_large(o, "o/fig1_samples.png");
  EXPECT_TRUE(fs::exists(tmp.path() / "o" / "true_samples.npy"));
  EXPECT_FALSE(fs::exists(tmp.path() / "o" / "fig1_samples.png"));
  EXPECT_EQ(temp_files(tmp.path()), std::vector<std::string>{});
}

// A real full disk: a 16 KiB tmpfs holds the first array, not the first figure. No broken PNG left.
TEST(HostileGmm, FullDiskIsOneLineAndLeavesNoBrokenPng) {
  if (!have_gnuplot()) GTEST_SKIP() << "no gnuplot";
  if (scorch::testing::run_command("unshare -rm true").first != 0)
    GTEST_SKIP() << "no private mount namespace (unshare -rm) here";
  TempDir tmp;
  const fs::path full = tmp.path() / "full", after = tmp.path() / "after";
  fs::create_directories(full);
  fs::create_directories(after);
  // In the namespace: mount, run gmm in `full`, copy what it left to `after` (the tmpfs goes with it).
  std::vector<std::string> argv = {"unshare",
                                   "-rm",
                                   "sh",
                                   "-c",
                                   "mount -t tmpfs -o size=16k tmpfs \"$0\" && cd \"$0\" && \"$@\"; code=$?; "
                                   "cp -a \"$0\"/. \"$0\"/../after; exit $code",
                                   full.string()};
  const std::vector<std::string> gmm = gmm_argv({"--out", "o"});
  argv.insert(argv.end(), gmm.begin(), gmm.end());
  const Outcome o = run_in(tmp.path(), argv);
  EXPECT_EQ(o.code, 1) << o.err;
  const std::vector<std::string> lines = app_lines(o.err);
  ASSERT_EQ(lines.size(), 1u) << o.err;
  EXPECT_THAT(lines[0], StartsWith("gmm: o/fig1_samples.png: cannot write"));
  EXPECT_THAT(lines[0], HasSubstr("No space left on device"));
  for (const auto& e : fs::recursive_directory_iterator(after))
    if (e.path().extension() == ".png") {
      EXPECT_EQ(scorch::app::png_defect(scorch::read_file(e.path().string())), "") << e.path();
    }
  EXPECT_EQ(temp_files(after), std::vector<std::string>{});
}

// A pid that no process has: a child's, reaped.
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

// What a SIGKILLed run leaves (write_file_atomic's "<file>.tmp.<pid>.<n>") goes at the next start;
// a live writer's file and files of other names stay.
TEST(HostileGmm, StaleTempFilesAreRemovedAtStart) {
  if (!have_gnuplot()) GTEST_SKIP() << "no gnuplot";
  TempDir tmp;
  const fs::path out = tmp.path() / "o";
  fs::create_directories(out);
  const std::string dead = std::to_string(dead_pid()), live = std::to_string(::getpid());
  const std::vector<std::string> stale = {"fig1_samples.png.tmp." + dead + ".0",  "loss.png.tmp." + dead + ".7",
                                          "model.safetensors.tmp." + dead + ".3", "metrics.json.tmp." + dead + ".15",
                                          "true_samples.npy.tmp." + dead + ".1",  "trace.json.tmp." + dead + ".2",
                                          "graph.dot.tmp." + dead + ".4"};
  const std::vector<std::string> kept = {"loss.png.tmp." + live + ".0", "notes.tmp." + dead + ".0",
                                         "fig1_samples.png.tmp." + dead};
  for (const std::string& name : stale) scorch::write_file_atomic((out / name).string(), "left by a killed run");
  for (const std::string& name : kept) scorch::write_file_atomic((out / name).string(), "not ours to remove");
  const Outcome o =
      run_in(tmp.path(), gmm_argv({"--out", "o", "--profile", "o/trace.json", "--dump-graph", "o/graph.dot"}));
  ASSERT_EQ(o.code, 0) << o.err;
  for (const std::string& name : stale) EXPECT_FALSE(fs::exists(out / name)) << name;
  for (const std::string& name : kept) EXPECT_TRUE(fs::exists(out / name)) << name;
}

}  // namespace
