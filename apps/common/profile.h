// profile.h: what the apps' --profile FILE does once the profiled work is over.
#pragma once
#include <string>

#include "autograd/profiler.h"

namespace scorch::app {

// Stops `profiler`, writes its Chrome trace to `path` and prints its summary to stderr, with the share
// of this machine's roofs (tensor/peak.h, measured here: about a second).
void finish_profile(Profiler& profiler, const std::string& path);

}  // namespace scorch::app
