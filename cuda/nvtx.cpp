// nvtx.cpp: the NVTX ranges of autograd/profiler.h (NVTX 3, header-only, from the CUDA toolkit).
#include <nvtx3/nvToolsExt.h>

#include "autograd/profiler.h"

namespace scorch::detail {

void nvtx_push(const char* name) { nvtxRangePushA(name); }
void nvtx_pop() { nvtxRangePop(); }

}  // namespace scorch::detail
