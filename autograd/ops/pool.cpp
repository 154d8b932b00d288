// pool.cpp: avg_pool2d, max_pool2d and their backward ops (formulas in pool.h).
//
// Every kernel works on one contiguous [H, W] plane at a time, and threads split the N*C planes, so
// no two threads ever write the same element (the scatters need no atomics). Inputs that are not
// contiguous are copied first. The CUDA kernels (cuda/pool.cu) share image_index.h's windows and argmax. Average
// pooling is separable: the k x k box sum is a sum over k columns then over k rows (2k adds per output instead of k^2),
// each pass a unit-stride loop when stride is 1 (the RefineNet 5x5 stride-1 pooling) or a short strided one (2x2 mean
// pooling).
#include "autograd/ops/pool.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "autograd/apply.h"
#include "tensor/image_index.h"
#include "tensor/backend.h"
#include "tensor/parallel.h"

namespace scorch {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

Shape pooled_shape(const PoolGeometry& g, const Shape& x) { return {x[0], x[1], g.h.out, g.w.out}; }

struct PoolArgs {
  int64_t kernel, stride, padding;

  std::string text() const { return "kernel " + str(kernel) + ", stride " + str(stride) + ", padding " + str(padding); }
  // The windows over an input of shape x; throws naming op, the shape and the arguments.
  PoolGeometry geometry(std::string_view op, const Shape& x) const {
    auto fail = [&](const std::string& what) { throw std::invalid_argument(std::string(op) + ": " + what); };
    if (x.size() != 4) fail("input " + to_string(x) + " must be 4-d [N, C, H, W]");
    if (x[2] < 1 || x[3] < 1) fail("input " + to_string(x) + " has an empty spatial dim (need H, W >= 1)");
    if (kernel < 1 || stride < 1) fail("kernel and stride must be >= 1, got " + text());
    if (padding < 0 || padding > kernel / 2) fail("padding must be in [0, kernel / 2], got " + text());
    if (x[2] + 2 * padding < kernel || x[3] + 2 * padding < kernel)
      fail("kernel " + str(kernel) + " is larger than the padded input " + str(x[2] + 2 * padding) + "x" +
           str(x[3] + 2 * padding) + " (input " + to_string(x) + ", " + text() + ")");
    auto window = [&](int64_t in) {
      return Window{in, (in + 2 * padding - kernel) / stride + 1, kernel, stride, padding};
    };
    return {x[0] * x[1], window(x[2]), window(x[3])};
  }
  // The geometry of input shape x, after checking that g has the shape of the pooled output.
  PoolGeometry check_grad(std::string_view op, const Tensor& g, const Shape& x) const {
    const PoolGeometry geo = geometry(op, x);
    if (g.shape() != pooled_shape(geo, x))
      throw std::invalid_argument(std::string(op) + ": grad " + to_string(g.shape()) + " does not match the output " +
                                  to_string(pooled_shape(geo, x)) + " of input " + to_string(x) + " (" + text() + ")");
    return geo;
  }
};

// y[o] = sum of x[start(o) + t] over the in-range taps t, o in [0, out): one row of box sums.
template <typename T>
void window_sum_row(const T* x, T* y, const Window& w) {
  std::fill(y, y + w.out, T(0));
  for (int64_t t = 0; t < w.kernel; ++t) {
    const auto [lo, hi] = w.outputs(t);
    for (int64_t o = lo; o < hi; ++o) y[o] += x[o * w.stride - w.padding + t];
  }
}

// The transpose of window_sum_row: x[i] = sum of y[o] over the outputs o whose window holds i.
template <typename T>
void window_scatter_row(const T* y, T* x, const Window& w) {
  std::fill(x, x + w.in, T(0));
  for (int64_t t = 0; t < w.kernel; ++t) {
    const auto [lo, hi] = w.outputs(t);
    for (int64_t o = lo; o < hi; ++o) x[o * w.stride - w.padding + t] += y[o];
  }
}

// x [N, C, H, W] -> y [N, C, P, Q]: row sums into tmp [H, Q], then sums of k rows of tmp.
template <typename T>
void avg_pool2d_forward_cpu(const Tensor& x, Tensor& y, const PoolGeometry& g) {
  const int64_t H = g.h.in, W = g.w.in, P = g.h.out, Q = g.w.out;
  const T divisor = static_cast<T>(g.h.kernel * g.w.kernel);  // count_include_pad: always k^2
  const T* px = x.data<T>();
  T* py = y.data<T>();
  parallel_for(g.planes, grain_for(g.h.in * g.w.in), [&](int64_t begin, int64_t end) {
    std::vector<T> tmp(H * Q);
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t h = 0; h < H; ++h) window_sum_row(px + (n * H + h) * W, tmp.data() + h * Q, g.w);
      for (int64_t p = 0; p < P; ++p) {
        T* yp = py + (n * P + p) * Q;
        std::fill(yp, yp + Q, T(0));
        const auto [lo, hi] = g.h.taps(p);
        for (int64_t r = lo; r < hi; ++r) {
          const T* row = tmp.data() + (g.h.start(p) + r) * Q;
          for (int64_t q = 0; q < Q; ++q) yp[q] += row[q];
        }
        for (int64_t q = 0; q < Q; ++q) yp[q] /= divisor;
      }
    }
  });
}

// g [N, C, P, Q] -> gx [N, C, H, W]: the two passes of the forward, transposed, in reverse order.
template <typename T>
void avg_pool2d_backward_cpu(const Tensor& g, Tensor& gx, const PoolGeometry& geo) {
  const int64_t H = geo.h.in, W = geo.w.in, P = geo.h.out, Q = geo.w.out;
  const T divisor = static_cast<T>(geo.h.kernel * geo.w.kernel);
  const T* pg = g.data<T>();
  T* px = gx.data<T>();
  parallel_for(geo.planes, grain_for(geo.h.in * geo.w.in), [&](int64_t begin, int64_t end) {
    std::vector<T> tmp(H * Q);
    for (int64_t n = begin; n < end; ++n) {
      std::fill(tmp.begin(), tmp.end(), T(0));
      for (int64_t p = 0; p < P; ++p) {
        const T* gp = pg + (n * P + p) * Q;
        const auto [lo, hi] = geo.h.taps(p);
        for (int64_t r = lo; r < hi; ++r) {
          T* row = tmp.data() + (geo.h.start(p) + r) * Q;
          for (int64_t q = 0; q < Q; ++q) row[q] += gp[q] / divisor;
        }
      }
      for (int64_t h = 0; h < H; ++h) window_scatter_row(tmp.data() + h * Q, px + (n * H + h) * W, geo.w);
    }
  });
}

// a[p Q + q] = h W + w of the max of window (p, q) of the plane x [H, W] (image_index.h).
template <typename T>
void argmax_plane(const T* x, int64_t* a, const PoolGeometry& g) {
  for (int64_t p = 0; p < g.h.out; ++p)
    for (int64_t q = 0; q < g.w.out; ++q) a[p * g.w.out + q] = window_argmax(x, g, p, q);
}

template <typename T>
void max_pool2d_cpu(MaxPass pass, const Tensor& x, const Tensor& t, Tensor& out, const PoolGeometry& g) {
  const int64_t HW = g.h.in * g.w.in, PQ = g.h.out * g.w.out;
  const T *px = x.data<T>(), *pt = t.data<T>();
  T* po = out.data<T>();
  parallel_for(g.planes, grain_for(g.h.in * g.w.in), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> a(PQ);
    for (int64_t n = begin; n < end; ++n) {
      argmax_plane(px + n * HW, a.data(), g);
      if (pass == MaxPass::forward) {
        for (int64_t o = 0; o < PQ; ++o) po[n * PQ + o] = px[n * HW + a[o]];
      } else if (pass == MaxPass::scatter) {
        std::fill(po + n * HW, po + (n + 1) * HW, T(0));
        for (int64_t o = 0; o < PQ; ++o) po[n * HW + a[o]] += pt[n * PQ + o];
      } else {
        for (int64_t o = 0; o < PQ; ++o) po[n * PQ + o] = pt[n * HW + a[o]];
      }
    }
  });
}

struct AvgPool2d {
  static constexpr std::string_view name = "avg_pool2d";
  PoolArgs args;
  Shape out_shape(const Tensor& x) const { return pooled_shape(args.geometry(name, x.shape()), x.shape()); }
  void cpu(const Tensor& x, Tensor& y) const {
    dispatch_float(name, x.dtype(),
                   [&]<typename T>() { avg_pool2d_forward_cpu<T>(x.contiguous(), y, args.geometry(name, x.shape())); });
  }
  void device(const Tensor& x, Tensor& y) const {
    backend::avg_pool2d(x.contiguous(), y, args.geometry(name, x.shape()));
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {avg_pool2d_backward(g, in[0].shape(), args.kernel, args.stride, args.padding)};
  }
};

struct AvgPool2dBackward {
  static constexpr std::string_view name = "avg_pool2d_backward";
  PoolArgs args;
  Shape input_shape;
  Shape out_shape(const Tensor& g) const {
    args.check_grad(name, g, input_shape);
    return input_shape;
  }
  void cpu(const Tensor& g, Tensor& gx) const {
    dispatch_float(name, g.dtype(), [&]<typename T>() {
      avg_pool2d_backward_cpu<T>(g.contiguous(), gx, args.geometry(name, input_shape));
    });
  }
  void device(const Tensor& g, Tensor& gx) const {
    backend::avg_pool2d_backward(g.contiguous(), gx, args.geometry(name, input_shape));
  }
  TensorList backward(const Tensor& gg, const TensorList&, const Tensor&) const {
    return {avg_pool2d(gg, args.kernel, args.stride, args.padding)};
  }
};

Tensor max_pool2d_gather(const Tensor& t, const Tensor& x, const PoolArgs& args);

struct MaxPool2d {
  static constexpr std::string_view name = "max_pool2d";
  PoolArgs args;
  Shape out_shape(const Tensor& x) const { return pooled_shape(args.geometry(name, x.shape()), x.shape()); }
  void cpu(const Tensor& x, Tensor& y) const {
    dispatch_float(name, x.dtype(), [&]<typename T>() {
      const Tensor xc = x.contiguous();
      max_pool2d_cpu<T>(MaxPass::forward, xc, xc, y, args.geometry(name, x.shape()));
    });
  }
  void device(const Tensor& x, Tensor& y) const {
    const Tensor xc = x.contiguous();
    backend::max_pool2d(MaxPass::forward, xc, xc, y, args.geometry(name, x.shape()));
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {max_pool2d_backward(g, in[0], args.kernel, args.stride, args.padding)};
  }
};

// Inputs (g, x): g scattered to the argmax of x. No gradient for x: the result is piecewise constant in it.
struct MaxPool2dBackward {
  static constexpr std::string_view name = "max_pool2d_backward";
  PoolArgs args;
  Shape out_shape(const Tensor& g, const Tensor& x) const {
    args.check_grad(name, g, x.shape());
    return x.shape();
  }
  void cpu(const Tensor& g, const Tensor& x, Tensor& gx) const {
    dispatch_float(name, x.dtype(), [&]<typename T>() {
      max_pool2d_cpu<T>(MaxPass::scatter, x.contiguous(), g.contiguous(), gx, args.geometry(name, x.shape()));
    });
  }
  void device(const Tensor& g, const Tensor& x, Tensor& gx) const {
    backend::max_pool2d(MaxPass::scatter, x.contiguous(), g.contiguous(), gx, args.geometry(name, x.shape()));
  }
  TensorList backward(const Tensor& gg, const TensorList& in, const Tensor&) const {
    return {in[0].requires_grad() ? max_pool2d_gather(gg, in[1], args) : Tensor(), Tensor()};
  }
};

// Inputs (t, x), t shaped like x: t read at the argmax of x, shaped like the pooled output.
struct MaxPool2dGather {
  static constexpr std::string_view name = "max_pool2d_gather";
  PoolArgs args;
  Shape out_shape(const Tensor& t, const Tensor& x) const {
    if (t.shape() != x.shape())
      throw std::invalid_argument("max_pool2d_gather: t " + to_string(t.shape()) + " must have the shape of x " +
                                  to_string(x.shape()));
    return pooled_shape(args.geometry(name, x.shape()), x.shape());
  }
  void cpu(const Tensor& t, const Tensor& x, Tensor& out) const {
    dispatch_float(name, x.dtype(), [&]<typename T>() {
      max_pool2d_cpu<T>(MaxPass::gather, x.contiguous(), t.contiguous(), out, args.geometry(name, x.shape()));
    });
  }
  void device(const Tensor& t, const Tensor& x, Tensor& out) const {
    backend::max_pool2d(MaxPass::gather, x.contiguous(), t.contiguous(), out, args.geometry(name, x.shape()));
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {in[0].requires_grad() ? max_pool2d_backward(g, in[1], args.kernel, args.stride, args.padding) : Tensor(),
            Tensor()};
  }
};

Tensor max_pool2d_gather(const Tensor& t, const Tensor& x, const PoolArgs& args) {
  return apply(MaxPool2dGather{args}, t, x);
}

}  // namespace

Tensor avg_pool2d(const Tensor& x, int64_t kernel, std::optional<int64_t> stride, int64_t padding) {
  return apply(AvgPool2d{{kernel, stride.value_or(kernel), padding}}, x);
}

Tensor avg_pool2d_backward(const Tensor& g, const Shape& input_shape, int64_t kernel, int64_t stride, int64_t padding) {
  return apply(AvgPool2dBackward{{kernel, stride, padding}, input_shape}, g);
}

Tensor max_pool2d(const Tensor& x, int64_t kernel, std::optional<int64_t> stride, int64_t padding) {
  return apply(MaxPool2d{{kernel, stride.value_or(kernel), padding}}, x);
}

Tensor max_pool2d_backward(const Tensor& g, const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  return apply(MaxPool2dBackward{{kernel, stride, padding}}, g, x);
}

}  // namespace scorch
