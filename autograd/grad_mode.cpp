// grad_mode.cpp: the thread-local grad mode, and the check on in-place writes that autograd installs in
// the tensor layer (tensor.h's detail::write_check): fill_ and copy_ refuse to overwrite a tensor that
// requires grad while grad mode is on, since the graph may have saved it for a backward pass.
#include "autograd/grad_mode.h"

#include <stdexcept>
#include <string>

#include "tensor/tensor.h"

namespace scorch {
namespace {

thread_local bool grad_mode_enabled = true;

void check_write(std::string_view what, const Tensor& t) {
  if (t.requires_grad() && grad_mode_enabled)
    throw std::invalid_argument(std::string(what) + ": cannot modify a tensor that requires grad in place " +
                                describe(t) + "; wrap the update in NoGradGuard");
}

// Constant-initialized to null in tensor.cpp, so set before any dynamic initializer can call it.
[[maybe_unused]] const bool installed = [] {
  detail::write_check = &check_write;
  return true;
}();

}  // namespace

bool GradMode::is_enabled() { return grad_mode_enabled; }
void GradMode::set_enabled(bool enabled) { grad_mode_enabled = enabled; }

}  // namespace scorch
