#include "apps/common/profile.h"

#include <cstdio>

#include "tensor/peak.h"

namespace scorch::app {

void finish_profile(Profiler& profiler, const std::string& path) {
  profiler.stop();
  profiler.write_chrome_trace(path);
  std::fprintf(stderr,
               "profile: trace written to %s (open in https://ui.perfetto.dev); measuring this machine's roofs\n",
               path.c_str());
  const MachinePeak& peak = machine_peak();
  std::fprintf(stderr, "roofs: FMA %.0f GFLOP/s, STREAM triad %.1f GB/s\n%s", peak.fma_gflops, peak.stream_gbs,
               profiler.summary(&peak).c_str());
}

}  // namespace scorch::app
