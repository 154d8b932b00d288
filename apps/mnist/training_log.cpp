// training_log.cpp: log.csv (training_log.h).
#include "apps/mnist/training_log.h"

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "apps/common/cli.h"
#include "tensor/file_io.h"

namespace scorch::app {
namespace {

// Why `line` is not a row that follows step `previous` ("" when it is; `previous` becomes its step).
std::string row_problem(const std::string& line, int64_t& previous) {
  constexpr int kColumns = TrainingLog::kColumns;
  std::vector<std::string> fields;
  std::istringstream cells(line);
  for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
  double v = 0;
  for (const std::string& cell : fields)
    if (!cli_detail::parse_double(cell, v)) return "is not " + std::to_string(kColumns) + " comma-separated numbers";
  if (fields.size() != kColumns)
    return "has " + std::to_string(fields.size()) + " values, not " + std::to_string(kColumns);
  char* end = nullptr;
  const long long step = std::strtoll(fields[0].c_str(), &end, 10);
  if (*end != '\0' || step <= previous) return "does not start with a step after " + std::to_string(previous);
  previous = step;
  return "";
}

}  // namespace

void TrainingLog::restore(int64_t up_to_step) {
  if (!std::filesystem::exists(path_)) return;
  const std::string text = read_file(path_);
  std::istringstream in(text);
  std::string line;
  int64_t previous = -1;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string why = number == 1 ? (line == kHeader ? "" : std::string("is not the header ") + kHeader)
                                        : row_problem(line, previous);
    if (!why.empty()) return set_aside(text, number, line, why);
    if (number == 1) continue;
    if (previous > up_to_step) break;
    lines_.push_back(line);
  }
}

void TrainingLog::add(const LogRow& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%lld,%.4f,%.9g,%.9g,%.9g,%.1f,%.1f", static_cast<long long>(r.step), r.epoch,
                r.train_loss, r.val_loss, r.best_val_loss, r.elapsed_s, r.samples_per_s);
  lines_.emplace_back(buf);
  std::string text = std::string(kHeader) + "\n";
  for (const std::string& l : lines_) text += l + "\n";
  write_file_atomic(path_, text);
}

void TrainingLog::set_aside(const std::string& text, int number, const std::string& line, const std::string& why) {
  const std::string copy = path_ + ".damaged";
  write_file_atomic(copy, text);
  std::fprintf(stderr,
               "mnist: warning: %s line %d %s: %s; the %zu rows before it are kept, and the file as it was "
               "is saved as %s (delete it once read)\n",
               path_.c_str(), number, why.c_str(), quoted_escaped(line).c_str(), lines_.size(), copy.c_str());
}

}  // namespace scorch::app
