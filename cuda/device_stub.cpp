// The CPU-only build: no CUDA backend, no device.
#include "cuda/device.h"

namespace scorch::cuda {
bool is_built() { return false; }
int device_count() { return 0; }
}  // namespace scorch::cuda
