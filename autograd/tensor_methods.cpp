// tensor_methods.cpp: Tensor's shorthand methods, each forwarding to the op of the same name.
#include "autograd/ops.h"

namespace scorch {

Tensor Tensor::reshape(const Shape& s) const { return scorch::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return scorch::view(*this, s); }
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return scorch::permute(*this, dims); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return scorch::transpose(*this, d0, d1); }
Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  return scorch::slice(*this, d, start, end, step);
}
Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  return scorch::narrow(*this, d, start, length);
}
Tensor Tensor::expand(const Shape& s) const { return scorch::expand(*this, s); }
Tensor Tensor::unsqueeze(int64_t d) const { return scorch::unsqueeze(*this, d); }
Tensor Tensor::squeeze(int64_t d) const { return scorch::squeeze(*this, d); }
Tensor Tensor::contiguous() const { return scorch::contiguous(*this); }
Tensor Tensor::clone() const { return scorch::clone(*this); }
Tensor Tensor::to(DType dtype) const { return scorch::to(*this, dtype); }
Tensor Tensor::to(Device device) const { return scorch::to(*this, device); }
Tensor Tensor::sum() const { return scorch::sum(*this); }
Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const { return scorch::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return scorch::mean(*this); }
Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim) const { return scorch::mean(*this, dims, keepdim); }

}  // namespace scorch
