// cli.h: what the apps' command lines share: the error for a bad flag value, CLI11 validators, the
// device, and the output folders. A validator's message is what follows "--flag: " in the app's one-line error (exit
// code 2); every value check here rejects what does not parse as a whole, NaN and infinities.
#pragma once
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include "cuda/device.h"
#include "tensor/file_io.h"

namespace scorch::app {

// A bad flag value; an app's main() prints its message on one line and exits with code 2.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

namespace cli_detail {

inline std::string quoted(const std::string& text) { return "'" + text + "'"; }

inline std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Reads the whole of `text` as a double into v; false when it is empty or anything is left over.
inline bool parse_double(const std::string& text, double& v) {
  char* end = nullptr;
  v = std::strtod(text.c_str(), &end);
  return !text.empty() && end != text.c_str() && *end == '\0';
}

}  // namespace cli_detail

// Text from a file or the command line, for a message: quoted, bytes other than printable ASCII as \xNN
// (a binary file's "line" must not garble the terminal or split the one-line error), cut after `shown`
// bytes: "'h=0si\x02\x00'...".
inline std::string quoted_escaped(const std::string& text, size_t shown = 60) {
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < shown; ++i) {
    const unsigned char ch = text[i];
    char hex[5];
    std::snprintf(hex, sizeof hex, "\\x%02x", ch);
    out += ch >= 0x20 && ch < 0x7f ? std::string(1, char(ch)) : std::string(hex);
  }
  return out + (text.size() > shown ? "'..." : "'");
}

// "must be a finite number > 0, got '-1'" (CLI11's PositiveNumber prints its range as 0 to 1.8e308 in
// full and takes inf).
inline const CLI::Validator kPositive(
    [](std::string& text) -> std::string {
      double v;
      if (!cli_detail::parse_double(text, v) || !(v > 0) || !std::isfinite(v))
        return "must be a finite number > 0, got " + cli_detail::quoted(text);
      return "";
    },
    "> 0");

// A finite number in [lo, hi]: "must be a number in [0.5, 1], got 'nan'" (CLI::Range lets NaN through
// and calls "abc" out of range).
inline CLI::Validator real_in(double lo, double hi) {
  const std::string range = "[" + cli_detail::format_number(lo) + ", " + cli_detail::format_number(hi) + "]";
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v;
        if (!cli_detail::parse_double(text, v) || !(v >= lo && v <= hi))
          return "must be a number in " + range + ", got " + cli_detail::quoted(text);
        return "";
      },
      "in " + range);
}

// A whole decimal integer in [lo, hi]: "must be an integer in [1, 100000000], got '1e3'".
inline CLI::Validator int_in(int64_t lo, int64_t hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        const bool whole = !text.empty() && !std::isspace(static_cast<unsigned char>(text[0])) && *end == '\0';
        if (!whole || errno == ERANGE || v < lo || v > hi)
          return "must be an integer in " + range + ", got " + cli_detail::quoted(text);
        return "";
      },
      "in " + range);
}

// A 64-bit seed: digits only (CLI11 would wrap "-1" around to 2^64 - 1 and read "" as 0).
inline const CLI::Validator kSeed(
    [](std::string& text) -> std::string {
      char* end = nullptr;
      errno = 0;
      std::strtoull(text.c_str(), &end, 10);
      const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
      if (!digits || errno == ERANGE)
        return "must be an integer in [0, 18446744073709551615], got " + cli_detail::quoted(text);
      return "";
    },
    "in [0, 2^64 - 1]");

// A noise level sigma. The models compute in float32: sigma^2 and 1 / sigma^2 must stay well inside its
// range (about 1e-38 to 3e38), or the first loss is inf or NaN.
inline const CLI::Validator kNoiseLevel = real_in(1e-10, 1e10);

inline const CLI::Validator kNonEmpty(
    [](std::string& text) -> std::string { return text.empty() ? "must not be empty" : ""; }, "");

namespace cli_detail {

// NAME_MAX of the filesystem that will hold `file`: pathconf(3) of its nearest folder that exists (the
// run creates the rest), else POSIX's NAME_MAX.
inline size_t name_max_for(const std::filesystem::path& file) {
  std::filesystem::path dir = file.parent_path();
  std::error_code ec;
  while (!dir.empty() && !std::filesystem::is_directory(dir, ec)) dir = dir.parent_path();
  const long limit = ::pathconf(dir.empty() ? "." : dir.c_str(), _PC_NAME_MAX);
  return limit > 0 ? static_cast<size_t>(limit) : NAME_MAX;
}

}  // namespace cli_detail

// A file that a run writes (--profile, --dump-graph): not a folder, and a name short enough for the
// temporary file of its atomic write. NOTE: "<name>.tmp.<pid>.<n>" is longer than the name itself, so a
// legal 250-byte name failed with ENAMETOOLONG only when the file was written, after the work. Its
// folder is created at the start of the run (prepare_output_file), so that a bad path fails at once too.
inline const CLI::Validator kOutputFile(
    [](std::string& text) -> std::string {
      std::error_code ec;
      if (std::filesystem::is_directory(text, ec)) return cli_detail::quoted(text) + " is a folder, not a file";
      const size_t name = std::filesystem::path(text).filename().string().size(),
                   limit = cli_detail::name_max_for(text);
      if (name + kTempSuffixMax > limit)
        return "the file name is " + std::to_string(name) + " bytes; it must be at most " +
               std::to_string(limit - std::min(limit, kTempSuffixMax)) + " (NAME_MAX " + std::to_string(limit) +
               " less " + std::to_string(kTempSuffixMax) +
               " for the suffix .tmp.<pid>.<n> of the temporary file it is written through)";
      return "";
    },
    "");

// --device: "cpu", "cuda" (cuda:0) or "cuda:N". The syntax is a CLI11 validator (kDevice); whether the
// device exists is known only at run time: device_from_flag throws UsageError naming what is missing
// ("--device cuda:0: this build has no CUDA backend", "... : no CUDA device").
inline const CLI::Validator kDevice(
    [](std::string& text) -> std::string {
      if (text == "cpu" || text == "cuda") return "";
      const std::string digits = text.rfind("cuda:", 0) == 0 ? text.substr(5) : "";
      const bool number = !digits.empty() && digits.size() <= 3 &&
                          std::all_of(digits.begin(), digits.end(), [](unsigned char ch) { return std::isdigit(ch); });
      if (number && std::stoi(digits) < 128) return "";
      return "must be cpu, cuda or cuda:N, got " + cli_detail::quoted(text);
    },
    "");
inline Device device_from_flag(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  const Device device = Device::cuda(text == "cuda" ? 0 : std::stoi(text.substr(5)));
  try {
    cuda::check_device("--device " + device.str(), device);
  } catch (const std::runtime_error& e) {
    throw UsageError(e.what());
  }
  return device;
}

namespace cli_detail {

inline void create_folder(const std::string& flag, const std::string& value, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw std::runtime_error(flag + " " + value + ": cannot create " +
                             (dir == value ? std::string("the folder") : "its folder " + dir.string()) + ": " +
                             (ec ? ec.message() : std::string("a file of that name is in the way")));
}

}  // namespace cli_detail

// Creates the output folder `dir` of `flag` (and its parents); throws std::runtime_error naming both
// when it cannot (a file in the way, no permission): "--out runs/x: cannot create the folder: Not a directory".
inline void make_output_dir(const std::string& flag, const std::string& dir) {
  cli_detail::create_folder(flag, dir, dir);
}

// The same for the folder of a file that `flag` names (nothing to do for a bare file name), and the
// temporary files a killed run's atomic writes of `file` left there go (remove_stale_temp_files).
inline void prepare_output_file(const std::string& flag, const std::string& file) {
  const std::filesystem::path dir = std::filesystem::path(file).parent_path();
  if (!dir.empty()) cli_detail::create_folder(flag, file, dir);
  remove_stale_temp_files(file);
}

}  // namespace scorch::app
