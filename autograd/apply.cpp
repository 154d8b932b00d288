#include "autograd/apply.h"

namespace scorch::detail {

void throw_mismatch(std::string_view op, std::string_view what, const TensorList& inputs) {
  std::string msg = std::string(op) + ": inputs must have the same " + std::string(what) + ", got";
  for (size_t i = 0; i < inputs.size(); ++i)
    msg += (i ? ", " : " ") + std::string(1, char('a' + i)) + " " + describe(inputs[i]);
  throw std::invalid_argument(msg);
}

}  // namespace scorch::detail
