// nvtx.cpp: the trace ranges of tensor/backend.h as NVTX ranges (NVTX 3, header-only, from the CUDA
// toolkit), which Nsight Systems shows on the CPU timeline above the kernels they launched.
#include <nvtx3/nvToolsExt.h>

#include "tensor/backend.h"

namespace scorch::backend {

void range_push(const char* name) { nvtxRangePushA(name); }
void range_pop() { nvtxRangePop(); }

}  // namespace scorch::backend
