// progress.h: a progress bar on stderr for training and sampling loops.
//
// On a terminal it redraws one line: "train  [#######.....]  3200/10000  loss 0.812  2150 it/s  ETA 3s".
// When stderr is not a terminal (CI, logs) it prints a plain line at every 10% instead.
#pragma once
#include <chrono>
#include <string>

namespace scorch::app {

class ProgressBar {
 public:
  // `first`: the step the loop starts from (a resumed run), so that it/s and ETA count this run's steps only.
  ProgressBar(std::string label, int64_t total, int64_t first = 0);
  // `info` is appended as is (e.g. "loss 0.812"); called every step, redraws at most ~20 times a second.
  void update(int64_t done, const std::string& info = "");
  void finish(const std::string& info = "");
  // Ends the line without claiming completion, so that an error message starts on its own line.
  void stop();

 private:
  std::string line(int64_t done, const std::string& info) const;

  std::string label_;
  int64_t total_, first_;
  bool tty_;
  int64_t next_plain_ = 0;  // next step at which a plain line is due
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace scorch::app
