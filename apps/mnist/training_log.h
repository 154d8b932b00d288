// training_log.h: the mnist app's log.csv, one row per validation.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace scorch::app {

// log.csv: one row per validation. Each row is written before that step's checkpoints: a process killed
// in between leaves a row past last.safetensors's step, which a resume drops and writes again (the
// other order would lose the row), so a resumed log has every row once.
struct LogRow {
  int64_t step;
  double epoch, train_loss, val_loss, best_val_loss, elapsed_s, samples_per_s;
};

class TrainingLog {
 public:
  static constexpr const char* kHeader = "step,epoch,train_loss,val_loss,best_val_loss,elapsed_s,samples_per_s";
  static constexpr int kColumns = 7;

  explicit TrainingLog(std::string path) : path_(std::move(path)) {}

  // A resumed run keeps the rows up to its checkpoint's step. The log is a record of the run, not its
  // state, so a damaged one does not stop the resume: the rows before the first line that is not a row
  // (or whose step does not follow the one before) are kept, the file as it was is saved next to it as
  // log.csv.damaged, and a warning names the line.
  void restore(int64_t up_to_step);
  // Appends the row and rewrites the file (atomically).
  void add(const LogRow& r);

 private:
  void set_aside(const std::string& text, int number, const std::string& line, const std::string& why);

  std::string path_;
  std::vector<std::string> lines_;
};

}  // namespace scorch::app
