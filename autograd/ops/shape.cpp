// shape.cpp: views (reshape, permute, slice, expand) and copies (contiguous, clone, to, concat).
// A view op's forward builds a new TensorImpl over the same storage; its backward maps the gradient
// back with the inverse view, so double backward needs nothing extra.
#include "autograd/ops/shape.h"

#include <numeric>
#include <optional>

#include "autograd/apply.h"
#include "autograd/ops/reduce.h"
#include "tensor/backend.h"
#include "tensor/cpu_loops.h"

namespace scorch {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// Replaces one -1 in `shape` by what makes numel match; throws naming both shapes otherwise.
Shape infer_shape(std::string_view op, const Shape& from, Shape shape) {
  int infer = -1;
  int64_t known = 1;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1 && infer < 0)
      infer = d;
    else if (shape[d] < 0)
      throw std::invalid_argument(std::string(op) + ": invalid shape " + to_string(shape));
    else
      known *= shape[d];
  }
  if (infer >= 0 && known != 0 && from.numel() % known == 0) shape[infer] = from.numel() / known;
  if ((infer >= 0 && shape[infer] == -1) || shape.numel() != from.numel())
    throw std::invalid_argument(std::string(op) + ": cannot reshape " + to_string(from) + " (" + str(from.numel()) +
                                " elements) to " + to_string(shape));
  return shape;
}

// Strides that show `a`'s elements in row-major order with `shape`, if its strides allow that
// (each group of merged/split dims must be contiguous within itself). As PyTorch's computeStride.
std::optional<Shape> view_strides(const Tensor& a, const Shape& shape) {
  if (a.is_contiguous()) return contiguous_strides(shape);
  const Shape &old = a.shape(), &old_strides = a.strides();
  Shape strides = Shape::filled(shape.size(), 0);
  int view_d = shape.size() - 1;
  int64_t chunk_stride = old_strides[old.size() - 1], tensor_numel = 1, view_numel = 1;
  for (int d = old.size() - 1; d >= 0; --d) {
    tensor_numel *= old[d];
    const bool chunk_ends = d == 0 || (old[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
      strides[view_d] = view_numel * chunk_stride;
      view_numel *= shape[view_d--];
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) chunk_stride = old_strides[d - 1], tensor_numel = 1, view_numel = 1;
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

Tensor copy_of(const Tensor& a, DType dtype, Device device) {
  Tensor out = empty(a.shape(), {.dtype = dtype, .device = device});
  out.copy_(a);
  return out;
}
Tensor copy_of(const Tensor& a, DType dtype) { return copy_of(a, dtype, a.device()); }

struct Reshape {
  static constexpr std::string_view name = "reshape";
  Shape shape;
  bool view_only;
  Tensor forward(const Tensor& a) const {
    const Shape target = infer_shape(view_only ? "view" : name, a.shape(), shape);
    if (auto strides = view_strides(a, target)) return make_view(a, target, *strides, a.offset());
    if (view_only)
      throw std::invalid_argument("view: " + describe(a) + " with strides " + to_string(a.strides()) +
                                  " cannot be viewed as " + to_string(target) + "; use reshape (it copies)");
    const Tensor c = copy_of(a, a.dtype());
    return make_view(c, target, contiguous_strides(target), 0);
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {reshape(g, in[0].shape())};
  }
};

struct Permute {
  static constexpr std::string_view name = "permute";
  std::vector<int> dims;
  Tensor forward(const Tensor& a) const {
    Shape shape, strides;
    for (int d : dims) shape.push_back(a.shape()[d]), strides.push_back(a.strides()[d]);
    return make_view(a, shape, strides, a.offset());
  }
  TensorList backward(const Tensor& g, const TensorList&, const Tensor&) const {
    std::vector<int64_t> inverse(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) inverse[dims[i]] = static_cast<int64_t>(i);
    return {permute(g, inverse)};
  }
};

struct Slice {
  static constexpr std::string_view name = "slice";
  int dim;
  int64_t start, end, step;  // normalised: 0 <= start <= end <= size
  Tensor forward(const Tensor& a) const {
    Shape shape = a.shape(), strides = a.strides();
    shape[dim] = (end - start + step - 1) / step;
    strides[dim] *= step;
    return make_view(a, shape, strides, a.offset() + start * a.strides()[dim]);
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {slice_backward(g, in[0].shape(), dim, start, end, step)};
  }
};

struct SliceBackward {
  static constexpr std::string_view name = "slice_backward";
  Shape shape;
  int dim;
  int64_t start, end, step;
  Tensor forward(const Tensor& g) const {
    Tensor out = zeros(shape, g.options());
    Slice{dim, start, end, step}.forward(out).copy_(g);
    return out;
  }
  TensorList backward(const Tensor& gg, const TensorList&, const Tensor&) const {
    return {slice(gg, dim, start, end, step)};
  }
};

struct Expand {
  static constexpr std::string_view name = "expand";
  Shape shape;
  Tensor forward(const Tensor& a) const {
    Shape target = shape;
    const int lead = target.size() - a.dim();
    for (int d = 0; d < target.size(); ++d) {
      const int64_t have = d >= lead ? a.shape()[d - lead] : 1;
      if (target[d] == -1 && d >= lead) target[d] = have;
      if (target[d] < 0 || (have != target[d] && have != 1))
        throw std::invalid_argument("expand: cannot expand " + to_string(a.shape()) + " to " + to_string(shape) +
                                    " (dim " + str(d) + ": " + str(have) + " vs " + str(target[d]) + ")");
    }
    return make_view(a, target, broadcast_strides(a, target), a.offset());
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const { return {sum_to(g, in[0].shape())}; }
};

struct Contiguous {
  static constexpr std::string_view name = "contiguous";
  Tensor forward(const Tensor& a) const { return a.is_contiguous() ? a : copy_of(a, a.dtype()); }
  TensorList backward(const Tensor& g, const TensorList&, const Tensor&) const { return {g}; }
};

struct Clone {
  static constexpr std::string_view name = "clone";
  Tensor forward(const Tensor& a) const { return copy_of(a, a.dtype()); }
  TensorList backward(const Tensor& g, const TensorList&, const Tensor&) const { return {g}; }
};

struct To {
  static constexpr std::string_view name = "to";
  DType dtype;
  Tensor forward(const Tensor& a) const { return a.dtype() == dtype ? a : copy_of(a, dtype); }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const { return {to(g, in[0].dtype())}; }
};

struct ToDevice {
  static constexpr std::string_view name = "to_device";
  Device device;
  Tensor forward(const Tensor& a) const {
    if (a.device() == device) return a;
    if (device.is_cuda()) backend::check_device("tensor.to(" + device.str() + ")", device);
    return copy_of(a, a.dtype(), device);
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const { return {to(g, in[0].device())}; }
};

struct Concat {
  static constexpr std::string_view name = "concat";
  int dim;
  Tensor forward(const TensorList& in) const {
    Shape shape = in[0].shape();
    shape[dim] = 0;
    for (const Tensor& t : in) shape[dim] += t.shape()[dim];
    Tensor out = empty(shape, in[0].options());
    int64_t offset = 0;
    for (const Tensor& t : in) {
      Slice{dim, offset, offset + t.shape()[dim], 1}.forward(out).copy_(t);
      offset += t.shape()[dim];
    }
    return out;
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    TensorList grads;
    int64_t offset = 0;
    for (const Tensor& t : in) {
      grads.push_back(t.requires_grad() ? narrow(g, dim, offset, t.shape()[dim]) : Tensor());
      offset += t.shape()[dim];
    }
    return grads;
  }
};

}  // namespace

Tensor reshape(const Tensor& a, const Shape& shape) { return apply(Reshape{shape, false}, a); }
Tensor view(const Tensor& a, const Shape& shape) { return apply(Reshape{shape, true}, a); }

Tensor flatten(const Tensor& a, int64_t start_dim, int64_t end_dim) {
  if (a.dim() == 0) return reshape(a, {1});
  const int s = wrap_dim("flatten", start_dim, a.dim()), e = wrap_dim("flatten", end_dim, a.dim());
  if (s > e)
    throw std::invalid_argument("flatten: start_dim " + str(start_dim) + " comes after end_dim " + str(end_dim));
  Shape shape;
  for (int d = 0; d < a.dim(); ++d) {
    if (d <= s || d > e)
      shape.push_back(a.shape()[d]);
    else
      shape[shape.size() - 1] *= a.shape()[d];
  }
  return reshape(a, shape);
}

Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  if (static_cast<int>(dims.size()) != a.dim())
    throw std::invalid_argument("permute: " + str(dims.size()) + " dims given for " + describe(a));
  std::vector<int> wrapped;
  std::vector<bool> seen(a.dim(), false);
  for (int64_t d : dims) {
    const int w = wrap_dim("permute", d, a.dim());
    if (seen[w]) throw std::invalid_argument("permute: dim " + str(d) + " appears twice");
    seen[w] = true;
    wrapped.push_back(w);
  }
  return apply(Permute{wrapped}, a);
}

Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1) {
  std::vector<int64_t> dims(a.dim());
  std::iota(dims.begin(), dims.end(), 0);
  if (a.dim() == 0) return a;
  std::swap(dims[wrap_dim("transpose", dim0, a.dim())], dims[wrap_dim("transpose", dim1, a.dim())]);
  return permute(a, dims);
}

Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step) {
  if (a.dim() == 0) throw std::invalid_argument("slice: cannot slice a 0-d tensor");
  const int d = wrap_dim("slice", dim, a.dim());
  if (step <= 0) throw std::invalid_argument("slice: step must be positive, got " + str(step));
  const int64_t n = a.shape()[d];
  auto clip = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clip(start);
  end = std::max(start, clip(end));
  return apply(Slice{d, start, end, step}, a);
}

Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length) {
  const int d = wrap_dim("narrow", dim, a.dim());
  if (start < 0) start += a.shape()[d];
  if (start < 0 || length < 0 || start + length > a.shape()[d])
    throw std::out_of_range("narrow: [" + str(start) + ", " + str(start + length) + ") is outside dim " + str(dim) +
                            " of " + describe(a));
  return slice(a, d, start, start + length, 1);
}

Tensor slice_backward(const Tensor& g, const Shape& shape, int64_t dim, int64_t start, int64_t end, int64_t step) {
  return apply(SliceBackward{shape, static_cast<int>(dim), start, end, step}, g);
}

Tensor expand(const Tensor& a, const Shape& shape) {
  if (shape.size() < a.dim())
    throw std::invalid_argument("expand: cannot expand " + to_string(a.shape()) + " to fewer dims " + to_string(shape));
  return apply(Expand{shape}, a);
}

Tensor unsqueeze(const Tensor& a, int64_t dim) {
  Shape shape = a.shape();
  shape.insert(wrap_dim("unsqueeze", dim, a.dim() + 1), 1);
  return reshape(a, shape);
}

Tensor squeeze(const Tensor& a, int64_t dim) {
  if (a.dim() == 0) return a;
  const int d = wrap_dim("squeeze", dim, a.dim());
  if (a.shape()[d] != 1) return a;
  Shape shape = a.shape();
  shape.erase(d);
  return reshape(a, shape);
}

Tensor squeeze(const Tensor& a) {
  Shape shape;
  for (int64_t s : a.shape())
    if (s != 1) shape.push_back(s);
  return reshape(a, shape);
}

Tensor contiguous(const Tensor& a) { return apply(Contiguous{}, a); }
Tensor clone(const Tensor& a) { return apply(Clone{}, a); }
Tensor to(const Tensor& a, DType dtype) { return apply(To{dtype}, a); }
Tensor to(const Tensor& a, Device device) { return apply(ToDevice{device}, a); }

Tensor concat(const TensorList& tensors, int64_t dim) {
  if (tensors.empty()) throw std::invalid_argument("concat: no tensors given");
  const Tensor& first = tensors[0];
  if (first.dim() == 0) throw std::invalid_argument("concat: 0-d tensors cannot be concatenated; use stack");
  const int d = wrap_dim("concat", dim, first.dim());
  for (size_t i = 1; i < tensors.size(); ++i) {
    bool ok = tensors[i].dim() == first.dim();
    for (int k = 0; ok && k < first.dim(); ++k) ok = k == d || tensors[i].shape()[k] == first.shape()[k];
    if (!ok)
      throw std::invalid_argument("concat: tensor " + str(i) + " " + to_string(tensors[i].shape()) +
                                  " does not match tensor 0 " + to_string(first.shape()) + " outside dim " + str(d));
  }
  return apply_list(Concat{d}, tensors);
}

Tensor stack(const TensorList& tensors, int64_t dim) {
  if (tensors.empty()) throw std::invalid_argument("stack: no tensors given");
  const int d = wrap_dim("stack", dim, tensors[0].dim() + 1);
  TensorList unsqueezed;
  for (const Tensor& t : tensors) {
    if (t.shape() != tensors[0].shape())
      throw std::invalid_argument("stack: tensor " + to_string(t.shape()) + " differs from tensor 0 " +
                                  to_string(tensors[0].shape()));
    unsqueezed.push_back(unsqueeze(t, d));
  }
  return concat(unsqueezed, d);
}

}  // namespace scorch
