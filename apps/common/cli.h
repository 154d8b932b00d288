// cli.h: what the apps' command lines share: the error for a bad flag value and CLI11 validators.
#pragma once
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace scorch::app {

// A bad flag value; an app's main() prints its message on one line and exits with code 2.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// "must be > 0, got -1" (CLI11's PositiveNumber prints its range as 0 to 1.8e308 in full).
inline const CLI::Validator kPositive(
    [](std::string& text) -> std::string {
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !(v > 0) || !std::isfinite(v)) return "must be > 0, got " + text;
      return "";
    },
    "> 0");

}  // namespace scorch::app
