// signals.h: process-wide signal settings every app makes first thing in main().
#pragma once
#include <csignal>

namespace scorch::app {

// Past a file size limit (ulimit -f) write(2) raises SIGXFSZ, which kills the process without a word
// and leaves its temporary file behind; ignored, write fails with EFBIG and write_file_atomic
// (tensor/file_io.h) reports it like a full disk, naming the file, and removes its temporary file.
inline void ignore_file_size_signal() { std::signal(SIGXFSZ, SIG_IGN); }

}  // namespace scorch::app
