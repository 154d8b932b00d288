#include "apps/common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace scorch::app {
namespace {

std::string format_seconds(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  return buf;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, int64_t first)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      first_(first),
      tty_(isatty(STDERR_FILENO)),
      next_plain_(first),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string ProgressBar::line(int64_t done, const std::string& info) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0.1 ? (done - first_) / elapsed : 0;  // none yet from the first instants
  const double eta = rate > 0 ? (total_ - done) / rate : 0;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * done / total_);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-18s [%s%s] %lld/%lld  %s  %.*f it/s  ETA %s", label_.c_str(),
                std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                static_cast<long long>(done), static_cast<long long>(total_), info.c_str(), rate < 10 ? 2 : 0, rate,
                rate > 0 ? format_seconds(eta).c_str() : "-");
  return buf;
}

void ProgressBar::update(int64_t done, const std::string& info) {
  if (tty_) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(50) && done < total_) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r%s\033[K", line(done, info).c_str());
  } else if (done >= next_plain_) {
    std::fprintf(stderr, "%s\n", line(done, info).c_str());
    next_plain_ = done + std::max<int64_t>(total_ / 10, 1);
  }
}

void ProgressBar::finish(const std::string& info) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "%s%s  done in %.2fs\n", tty_ ? "\r" : "", line(total_, info).c_str(), elapsed);
  if (tty_) std::fprintf(stderr, "\033[K");
}

void ProgressBar::stop() {
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace scorch::app
