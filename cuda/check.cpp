// check.cpp: the exception behind SCORCH_CUDA_CHECK, SCORCH_CUBLAS_CHECK and SCORCH_CUDNN_CHECK.
#include "cuda/check.h"

#include <stdexcept>
#include <string>

namespace scorch::cuda::detail {

void throw_error(const char* library, const char* call, const char* file, int line, long code, const char* name,
                 const char* description) {
  std::string msg = std::string(library) + " error: " + call + " failed at " + file + ":" + std::to_string(line) + ": ";
  const std::string what = description ? description : "unknown error";
  if (name)
    msg += std::string(name) + " (" + what + ")";
  else
    msg += what + " (status " + std::to_string(code) + ")";
  throw std::runtime_error(msg);
}

}  // namespace scorch::cuda::detail
