#include "tensor/tensor.h"

#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "tensor/backend.h"
#include "tensor/cpu_loops.h"

namespace scorch {
namespace {

void check_defined(std::string_view what, const Tensor& t) {
  if (!t.defined()) throw std::invalid_argument(std::string(what) + ": the tensor is undefined");
}

void check_writable(std::string_view what, const Tensor& t) {
  if (detail::write_check) detail::write_check(what, t);
}

}  // namespace

detail::WriteCheck detail::write_check = nullptr;

const Shape& Tensor::shape() const { return impl_->shape; }
const Shape& Tensor::strides() const { return impl_->strides; }
int64_t Tensor::offset() const { return impl_->offset; }
DType Tensor::dtype() const { return impl_->dtype; }
Device Tensor::device() const { return impl_->storage ? impl_->storage->device() : Device::cpu(); }
const std::shared_ptr<Storage>& Tensor::storage() const { return impl_->storage; }

int64_t Tensor::size(int64_t d) const {
  if (dim() == 0) throw std::out_of_range("size: a 0-d tensor has no dims");
  return shape()[wrap_dim("size", d, dim())];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int d = dim() - 1; d >= 0; --d) {
    if (shape()[d] != 1 && strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  check_defined("data", *this);
  if (!impl_->storage || !impl_->storage->data()) return nullptr;
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * static_cast<int64_t>(dtype_size(dtype()));
}

std::vector<double> Tensor::values() const {
  check_defined("values", *this);
  Tensor c = scorch::empty(shape(), {.dtype = kFloat64});
  c.copy_(*this);  // from a CUDA tensor too: converted on the device, then copied over
  const double* p = c.data<double>();
  return {p, p + c.numel()};
}

double Tensor::item() const {
  if (numel() != 1) throw std::invalid_argument("item: expected a tensor with one element, got " + describe(*this));
  return values()[0];
}

const Tensor& Tensor::fill_(double value) const {
  check_defined("fill_", *this);
  check_writable("fill_", *this);
  if (device().is_cuda()) {
    backend::fill(*this, value);
    return *this;
  }
  dispatch_all(dtype(), [&]<typename T>() {
    const T v = static_cast<T>(value);
    map_cpu<T>(*this, [v]() { return v; });
  });
  return *this;
}

const Tensor& Tensor::copy_(const Tensor& src) const {
  check_defined("copy_", *this);
  check_defined("copy_", src);
  check_writable("copy_", *this);
  if (broadcast_shapes("copy_", src.shape(), shape()) != shape())
    throw std::invalid_argument("copy_: cannot copy " + describe(src) + " into " + describe(*this));
  for (int d = 0; d < dim(); ++d)
    if (strides()[d] == 0 && shape()[d] > 1)
      throw std::invalid_argument("copy_: the destination " + describe(*this) + " is expanded (stride 0 in dim " +
                                  std::to_string(d) + "): its elements overlap");
  if (src.storage() == storage() && src.numel() > 0) {  // may overlap the destination: read a copy
    Tensor tmp = empty(src.shape(), src.options());
    tmp.copy_(src);
    return copy_(tmp);
  }
  if (!device().is_cpu() || !src.device().is_cpu()) {  // on a device, or between devices
    backend::copy(*this, src);
    return *this;
  }
  dispatch_all(dtype(), [&]<typename T>() {
    dispatch_all(src.dtype(), [&]<typename S>() {
      map_cpu<T, S>(
          *this, [](S s) { return static_cast<T>(s); }, src);
    });
  });
  return *this;
}

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  check_defined("requires_grad_", *this);
  if (!is_leaf())
    throw std::invalid_argument("requires_grad_: only leaf tensors can change requires_grad; use detach() first");
  if (on && !is_floating(dtype()))
    throw std::invalid_argument("requires_grad_: only float tensors can require grad, got " + describe(*this));
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return impl_->grad_fn == nullptr; }
const Tensor& Tensor::grad() const { return impl_->grad; }
void Tensor::set_grad(Tensor grad) const { impl_->grad = std::move(grad); }
void Tensor::zero_grad() const { impl_->grad = Tensor(); }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return impl_->grad_fn; }

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Tensor empty(const Shape& shape, TensorOptions options) {
  for (int64_t d : shape)
    if (d < 0) throw std::invalid_argument("empty: negative size in shape " + to_string(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(options.device, shape.numel() * dtype_size(options.dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = options.dtype;
  Tensor t(std::move(impl));
  if (options.requires_grad) t.requires_grad_();
  return t;
}

Tensor full(const Shape& shape, double value, TensorOptions options) {
  const bool wants_grad = options.requires_grad;
  options.requires_grad = false;
  Tensor t = empty(shape, options);
  t.fill_(value);
  if (wants_grad) t.requires_grad_();
  return t;
}
Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }
Tensor scalar_tensor(double value, TensorOptions options) { return full(Shape{}, value, options); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.options()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.options()); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.options()); }

Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options) {
  if (static_cast<int64_t>(values.size()) != shape.numel())
    throw std::invalid_argument("from_vector: " + std::to_string(values.size()) + " values do not fill shape " +
                                to_string(shape));
  Tensor t = empty(shape, {.dtype = options.dtype});
  dispatch_all(options.dtype, [&]<typename T>() {
    T* p = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  if (!options.device.is_cpu()) {  // written on the CPU, then copied over
    Tensor d = empty(shape, {.dtype = options.dtype, .device = options.device});
    d.copy_(t);
    t = d;
  }
  if (options.requires_grad) t.requires_grad_();
  return t;
}

Tensor from_vector(const std::vector<double>& values, TensorOptions options) {
  return from_vector(values, Shape{static_cast<int64_t>(values.size())}, options);
}

Tensor arange(double start, double end, double step, TensorOptions options) {
  if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    throw std::invalid_argument("arange: needs finite start, end and a non-zero step");
  const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((end - start) / step)));
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i) * step;
  return from_vector(v, options);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions options) {
  if (steps < 0) throw std::invalid_argument("linspace: steps must be >= 0, got " + std::to_string(steps));
  std::vector<double> v(steps);
  const double h = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Fill from both ends so that the last value is exactly `end`, as torch.linspace does.
  for (int64_t i = 0; i < steps; ++i) v[i] = i < steps / 2 ? start + h * i : end - h * (steps - 1 - i);
  return from_vector(v, options);
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "(undefined)";
  return to_string(t.shape()) + " " + std::string(dtype_name(t.dtype())) + " " + t.device().str();
}

namespace {

// Prints nested brackets, eliding the middle of dims longer than 6 when the tensor is large.
void print_values(std::ostream& os, const std::vector<double>& v, const Shape& shape, const Shape& strides, int d,
                  int64_t off, bool summarize, int indent) {
  if (d == shape.size()) {
    os << v[off];
    return;
  }
  os << '[';
  const int64_t n = shape[d];
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 6 && i == 3) {  // elide the middle: "0, 1, 2, ..., 1997, 1998, 1999"
      os << (d + 1 == shape.size() ? ", ..." : ",\n" + std::string(indent + 1, ' ') + "...");
      i = n - 4;
      continue;
    }
    if (i) os << (d + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
    print_values(os, v, shape, strides, d + 1, off + i * strides[d], summarize, indent + 1);
  }
  os << ']';
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  os << "tensor(";
  const std::vector<double> v = t.values();  // a CUDA tensor's are copied to the CPU
  const auto flags = os.flags();
  const auto precision = os.precision();
  os << std::setprecision(t.dtype() == kFloat64 ? 8 : 5);
  print_values(os, v, t.shape(), contiguous_strides(t.shape()), 0, 0, t.numel() > 1000, 7);
  os.flags(flags);
  os.precision(precision);
  os << ", shape=" << t.shape() << ", dtype=" << dtype_name(t.dtype()) << ", device=" << t.device().str();
  if (t.requires_grad()) os << ", requires_grad";
  return os << ')';
}

}  // namespace scorch
