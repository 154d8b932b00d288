// tensor.h: Tensor, a handle to a strided view (shape, strides, offset, dtype) of shared Storage,
// plus the autograd fields that the engine reads (requires_grad, grad, grad_fn).
//
// Copying a Tensor copies the handle; both see the same data and the same .grad() (as in PyTorch).
// Ops are free functions (autograd/ops/*.h); the methods below that compute forward to them.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace scorch {

class Node;
struct TensorImpl;
class Tensor;
using TensorList = std::vector<Tensor>;

struct TensorOptions {
  DType dtype = kFloat32;
  Device device = Device::cpu();
  bool requires_grad = false;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: no data, defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t offset() const;  // in elements, into the storage
  int dim() const { return shape().size(); }
  int64_t size(int64_t dim) const;
  int64_t numel() const { return shape().numel(); }
  DType dtype() const;
  Device device() const;
  TensorOptions options() const { return {dtype(), device(), false}; }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const;

  // Pointer to the first element (storage data + offset). The typed form checks the dtype.
  void* raw_data() const;
  template <typename T>
  T* data() const {
    if (dtype_of<T>() != dtype())
      throw std::invalid_argument("Tensor::data: tensor is " + std::string(dtype_name(dtype())) + ", asked for " +
                                  std::string(dtype_name(dtype_of<T>())));
    return static_cast<T*>(raw_data());
  }
  // Values as double: item() of a one-element tensor, values() all of them in row-major order (any
  // layout). A CUDA tensor's are copied to the CPU (the host waits for the device).
  double item() const;
  std::vector<double> values() const;

  // In-place, outside autograd (throw on a tensor that requires grad while grad mode is on). Const
  // like every method: a Tensor is a handle, the data it points to is what changes.
  const Tensor& fill_(double value) const;
  // src broadcast to this shape, converted to this dtype; src and this may be on different devices.
  const Tensor& copy_(const Tensor& src) const;

  // Autograd.
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // only on leaves
  bool is_leaf() const;
  const Tensor& grad() const;  // undefined until a backward reaches this leaf
  void set_grad(Tensor grad) const;
  void zero_grad() const;  // resets .grad() to undefined
  const std::shared_ptr<Node>& grad_fn() const;
  // Backpropagates from this tensor (a scalar, or with `grad` of the same shape) into the leaves' .grad().
  void backward(const Tensor& grad = {}, bool retain_graph = false, bool create_graph = false) const;
  Tensor detach() const;  // same data, no history

  // Shorthands for the ops in autograd/ops (defined in autograd/tensor_methods.cpp).
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor expand(const Shape& shape) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;  // differentiable; *this when already there
  Tensor cuda(int index = 0) const { return to(Device::cuda(index)); }
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor sum() const;
  Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<int64_t>& dims, bool keepdim = false) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = kFloat32;
  bool requires_grad = false;     // true on leaves that want .grad and on every op output that needs one
  std::shared_ptr<Node> grad_fn;  // the op that made this tensor; null on leaves
  Tensor grad;
};

// Factories.
Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor scalar_tensor(double value, TensorOptions options = {});  // 0-d
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor empty_like(const Tensor& t);
Tensor arange(double start, double end, double step = 1, TensorOptions options = {});
Tensor linspace(double start, double end, int64_t steps, TensorOptions options = {});
// Values in row-major order; `shape` defaults to 1-d.
Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options = {});
Tensor from_vector(const std::vector<double>& values, TensorOptions options = {});
// A tensor with the given layout over existing storage (no copy, no history).
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

std::ostream& operator<<(std::ostream& os, const Tensor& t);
// "[2, 3] float32 cpu" for error messages.
std::string describe(const Tensor& t);

namespace detail {
// The check fill_ and copy_ run on their destination before writing: autograd installs one that refuses
// to overwrite a tensor that requires grad while grad mode is on (autograd/grad_mode.cpp). The tensor
// layer knows no gradients; without autograd linked there is none.
using WriteCheck = void (*)(std::string_view what, const Tensor& t);
extern WriteCheck write_check;
}  // namespace detail

}  // namespace scorch
