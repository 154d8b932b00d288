// app_runner.h: for the tests that run an app's real binary (build/bin/<name>, next to the test binary).
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>

namespace scorch::testing {

inline std::string app_binary(const std::string& name) {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / name).string();
}

// `text` as one shell word: in single quotes, each ' written as '\'' (TMPDIR may hold spaces or quotes).
inline std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char ch : text) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}
inline std::string shell_quote(const std::filesystem::path& path) { return shell_quote(path.string()); }

// Runs a shell command; returns its exit code (-1 when it did not exit normally) and its stdout (stderr
// goes where the command sends it).
inline std::pair<int, std::string> run_command_stdout(const std::string& cmd) {
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, "popen failed: " + cmd};
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The same with stderr merged into the returned stdout.
inline std::pair<int, std::string> run_command(const std::string& cmd) { return run_command_stdout(cmd + " 2>&1"); }

}  // namespace scorch::testing
