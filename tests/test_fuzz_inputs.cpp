// The fuzz targets' committed inputs (tests/fuzz/): every seed of corpus/<target>/ is a valid input
// and still parses (and round-trips, as the targets check), and every input in regressions/<target>/,
// each of which once crashed a parser or broke a round trip, now throws a clear error naming the file
// and what is wrong, or, if it is valid, parses and round-trips. A new regression file must be listed
// in kRegressions with the error it expects.
#include <gmock/gmock.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "apps/gmm/config.h"
#include "apps/mnist/checkpoint.h"
#include "apps/mnist/config.h"
#include "nn/safetensors.h"
#include "tensor/file_io.h"
#include "tensor/idx.h"
#include "tensor/npy.h"
#include "test_util.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;
using app::MnistConfig;
using app::UsageError;
using ::testing::HasSubstr;

const fs::path kFuzzDir = fs::path(SCORCH_SOURCE_DIR) / "tests" / "fuzz";

// The files of tests/fuzz/<kind>/<target>, sorted; none when the folder does not exist.
std::vector<fs::path> files_of(const std::string& kind, const std::string& target) {
  std::vector<fs::path> files;
  if (fs::is_directory(kFuzzDir / kind / target))
    for (const auto& entry : fs::directory_iterator(kFuzzDir / kind / target)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// fuzz_cli's argv: "app", then the words of `text` split at spaces, tabs and newlines.
std::vector<std::string> argv_words(std::string_view text) {
  std::vector<std::string> words = {"app"};
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = std::min(text.find_first_of(" \t\n", pos), text.size());
    if (end > pos) words.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return words;
}

// parse_mnist_flags or parse_gmm_flags on the words of `text`; --help output is swallowed.
template <typename Parse>
auto parse_words(const std::string& text, Parse parse) {
  std::vector<std::string> words = argv_words(text);
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  ::testing::internal::CaptureStdout();
  struct Release {
    ~Release() { ::testing::internal::GetCapturedStdout(); }
  } release;
  return parse(static_cast<int>(words.size()), argv.data());
}

std::string npy_round_trip(const Tensor& t) { return npy_bytes(parse_npy(npy_bytes(t), "written.npy")); }

TEST(FuzzCorpus, EveryTargetHasSeeds) {
  for (const char* target :
       {"fuzz_idx", "fuzz_npy", "fuzz_safetensors", "fuzz_checkpoint", "fuzz_mnist_config", "fuzz_cli"})
    EXPECT_GE(files_of("corpus", target).size(), 4u) << target;
}

TEST(FuzzCorpus, IdxSeedsParse) {
  for (const fs::path& f : files_of("corpus", "fuzz_idx")) EXPECT_NO_THROW(read_idx(f.string())) << f;
}

TEST(FuzzCorpus, NpySeedsParseAndRoundTrip) {
  for (const fs::path& f : files_of("corpus", "fuzz_npy")) {
    Tensor t;
    ASSERT_NO_THROW(t = load_npy(f.string())) << f;
    EXPECT_EQ(npy_round_trip(t), npy_bytes(t)) << f;
  }
}

TEST(FuzzCorpus, SafetensorsSeedsParse) {
  for (const fs::path& f : files_of("corpus", "fuzz_safetensors"))
    EXPECT_NO_THROW(nn::load_safetensors(f.string())) << f;
}

TEST(FuzzCorpus, CheckpointSeedsParse) {
  for (const fs::path& f : files_of("corpus", "fuzz_checkpoint"))
    EXPECT_NO_THROW(app::load_checkpoint(f.string())) << f;
}

TEST(FuzzCorpus, MnistConfigSeedsParseAndRoundTrip) {
  for (const fs::path& f : files_of("corpus", "fuzz_mnist_config")) {
    MnistConfig c;
    ASSERT_NO_THROW(c = app::parse_mnist_toml(read_file(f.string()), f.string())) << f;
    EXPECT_EQ(app::parse_mnist_toml(app::mnist_toml(c), "written.toml"), c) << f;
  }
}

// gmm_* seeds are gmm command lines, mnist_* mnist ones; "help" asks both for --help, "empty" is both defaults.
TEST(FuzzCorpus, CliSeedsParse) {
  for (const fs::path& f : files_of("corpus", "fuzz_cli")) {
    const std::string name = f.filename().string(), text = read_file(f.string());
    const bool gmm = !name.starts_with("mnist_"), mnist = !name.starts_with("gmm_"), help = name == "help";
    if (gmm) {
      EXPECT_EQ(parse_words(text, app::parse_gmm_flags).has_value(), !help) << f;
    }
    if (mnist) {
      EXPECT_EQ(parse_words(text, app::parse_mnist_flags).has_value(), !help) << f;
    }
  }
}

// What parsing `path` as `target` does: the message of the error the target expects, or "(no exception)".
std::string error_of_target(const std::string& target, const fs::path& path) {
  const std::string name = path.string(), text = read_file(name);
  if (target == "fuzz_idx") return testing::error_of<std::runtime_error>([&] { read_idx(name); });
  if (target == "fuzz_npy") return testing::error_of<std::runtime_error>([&] { load_npy(name); });
  if (target == "fuzz_safetensors") return testing::error_of<std::runtime_error>([&] { nn::load_safetensors(name); });
  if (target == "fuzz_checkpoint") return testing::error_of<std::runtime_error>([&] { app::load_checkpoint(name); });
  if (target == "fuzz_mnist_config") return testing::error_of<UsageError>([&] { app::parse_mnist_toml(text, name); });
  if (target == "fuzz_cli")
    return testing::error_of<UsageError>([&] { parse_words(text, app::parse_mnist_flags); }) + " | " +
           testing::error_of<UsageError>([&] { parse_words(text, app::parse_gmm_flags); });
  return "(unknown target " + target + ")";
}

struct Regression {
  std::string target, file;
  std::vector<std::string> expected;  // substrings of the error besides the file's path; none: a valid
                                      // input (it broke a round trip), which must parse and round-trip
};

const std::vector<Regression> kRegressions = {
    // The header `77e777`, a number too large for a double: nlohmann::json threw out_of_range, not the
    // parse_error that was caught, and it escaped load_safetensors.
    {"fuzz_safetensors", "number_overflow.safetensors", {"the header is not valid JSON", "number overflow"}},
    // 50,000 nested '[' (issue 23): printing the value for the error recursed until the stack overflowed.
    {"fuzz_safetensors", "nested_50000.safetensors", {"the header: nested deeper than 64 levels"}},
    // Metadata numbers cast unchecked (issue 23): --resume segfaulted in dequantize(), or a negative
    // EMA count made garbage EMA weights.
    {"fuzz_checkpoint", "step_negative.safetensors", {"'step' must be an integer in [0, ", "got '-5'"}},
    {"fuzz_checkpoint", "step_1e300.safetensors", {"'step' must be an integer in [0, ", "got '1e300'"}},
    {"fuzz_checkpoint", "step_nan.safetensors", {"'step' must be an integer in [0, ", "got 'nan'"}},
    {"fuzz_checkpoint",
     "ema_updates_negative.safetensors",
     {"'ema_updates' must be an integer in [0, 20]", "got '-3'"}},
    {"fuzz_checkpoint", "best_val_loss_nan.safetensors", {"'best_val_loss' must be a number or inf", "got 'nan'"}},
    // `weights=[h`, a list never closed: CLI11 2.1.2 read the first value of an empty list (UBSan). toml++
    // refuses the line.
    {"fuzz_mnist_config", "empty_list.toml", {"line 1: key 'weights': not TOML"}},
    // A list opened in weights-dir's value swallowed the lines after it in CLI11's reader: the path read
    // held line breaks and NUL bytes, so the settings no longer round-tripped. toml++ stops at the first
    // line (bytes that are not UTF-8), and from the second line on at the unclosed list.
    {"fuzz_mnist_config", "list_across_lines.toml", {"line 1: key 'mfalse': not TOML", "invalid utf-8"}},
    {"fuzz_mnist_config", "list_across_lines_from_line_2.toml", {"line 1: key 'weights-dir': not TOML"}},
    // `clip=1112341` was written back as clip=1.11234e+06 (CLI11 writes 6 significant digits).
    {"fuzz_mnist_config", "clip_seven_digits.toml", {}},
    // nan passed CLI::Range(0, 1), and nan != nan broke the round trip (real_in refuses it now).
    {"fuzz_mnist_config", "ema_nan.toml", {"--ema: must be a number in [0, 1], got 'nan'"}},
    // A bare `inference_only` (the flag set) was written back as inference_only=false: CLI11 writes a
    // flag's empty default string as false, whatever the flag's value. TOML has no bare keys: refused.
    {"fuzz_mnist_config", "bare_flag.toml", {"line 1: not TOML"}},
    // `--resume --weights-dir aaa...` (300 bytes): std::filesystem::exists threw ENAMETOOLONG through
    // parse_mnist_flags. parse_gmm_flags has no --resume.
    {"fuzz_cli", "weights_dir_name_too_long", {"--weights-dir: cannot look for", "File name too long"}},
};

TEST(FuzzRegressions, EachInputThrowsItsClearError) {
  for (const Regression& r : kRegressions) {
    const fs::path path = kFuzzDir / "regressions" / r.target / r.file;
    ASSERT_TRUE(fs::exists(path)) << path;
    if (r.expected.empty()) continue;
    const std::string error = error_of_target(r.target, path);
    if (r.target != "fuzz_cli") {  // a command line names no file
      EXPECT_THAT(error, HasSubstr(path.string())) << r.file;
    }
    for (const std::string& part : r.expected) EXPECT_THAT(error, HasSubstr(part)) << r.file;
  }
}

TEST(FuzzRegressions, ValidInputsRoundTrip) {
  for (const Regression& r : kRegressions) {
    if (!r.expected.empty()) continue;
    const std::string path = (kFuzzDir / "regressions" / r.target / r.file).string();
    ASSERT_EQ(r.target, "fuzz_mnist_config") << "no round trip to check for " << r.target;
    MnistConfig c;
    ASSERT_NO_THROW(c = app::parse_mnist_toml(read_file(path), path)) << path;
    EXPECT_EQ(app::parse_mnist_toml(app::mnist_toml(c), "written.toml"), c) << path;
  }
}

TEST(FuzzRegressions, EveryInputIsListed) {
  std::set<std::string> listed;
  for (const Regression& r : kRegressions) listed.insert(r.target + "/" + r.file);
  for (const auto& dir : fs::directory_iterator(kFuzzDir / "regressions"))
    for (const fs::path& f : files_of("regressions", dir.path().filename()))
      EXPECT_TRUE(listed.count(dir.path().filename().string() + "/" + f.filename().string()))
          << f << " is not in kRegressions";
}

}  // namespace
}  // namespace scorch
