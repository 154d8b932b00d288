// conv2d.cpp: conv2d and its two backward maps (formulas in conv2d.h) on the CPU.
//
// Each map is a gemm per image over the column matrix col [C R S, P Q] of that image (im2col: row
// (c, r, s) holds the input pixels that filter tap (r, s) of channel c sees at every output position):
//   forward          y_n [K, P Q]    = w [K, C R S] @ col_n                (+ b, preloaded into y_n)
//   backward_input   gcol [C R S, P Q] = w^T @ g_n, then col2im adds it back onto gx_n [C, H, W]
//   backward_weight  gw [K, C R S]  += g_n [K, P Q] @ col_n^T
// A 1x1 stride-1 unpadded conv needs no columns: col_n is x_n itself. Threads split the batch, each
// with its own column buffer (about 1 MB for unet-small's largest layer, so it stays in L2) and
// OpenBLAS single-threaded inside the parallel region; a batch smaller than the thread count runs
// image by image on OpenBLAS's threads instead. backward_weight sums per-thread partial gradients,
// in a fixed order for a given thread count.
#include "autograd/ops/conv2d.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "autograd/apply.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "tensor/blas.h"
#include "tensor/parallel.h"

namespace scorch {
namespace {

// The sizes of one convolution, named as cuDNN names them.
struct Geometry {
  int64_t N, C, H, W, K, R, S, P, Q, stride, pad, dil;
  int64_t crs() const { return C * R * S; }
  int64_t pq() const { return P * Q; }
  int64_t chw() const { return C * H * W; }
  bool pointwise() const { return R == 1 && S == 1 && stride == 1 && pad == 0; }  // col_n == x_n
};

[[noreturn]] void fail(std::string_view op, const std::string& what) {
  throw std::invalid_argument(std::string(op) + ": " + what);
}

Geometry geometry(std::string_view op, const Shape& x, const Shape& w, const Conv2dOptions& o) {
  if (x.size() != 4) fail(op, "input " + to_string(x) + " must be 4-d [N, C, H, W]");
  if (w.size() != 4) fail(op, "weight " + to_string(w) + " must be 4-d [K, C, R, S]");
  if (x[1] != w[1])
    fail(op, "input " + to_string(x) + " has " + std::to_string(x[1]) + " channels, weight " + to_string(w) +
                 " expects " + std::to_string(w[1]));
  if (o.stride < 1 || o.padding < 0 || o.dilation < 1)
    fail(op, "needs stride >= 1, padding >= 0, dilation >= 1; got stride " + std::to_string(o.stride) + ", padding " +
                 std::to_string(o.padding) + ", dilation " + std::to_string(o.dilation));
  Geometry g{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, o.stride, o.padding, o.dilation};
  const int64_t span_h = g.dil * (g.R - 1) + 1, span_w = g.dil * (g.S - 1) + 1;
  if (g.R < 1 || g.S < 1 || span_h > g.H + 2 * g.pad || span_w > g.W + 2 * g.pad)
    fail(op, "weight " + to_string(w) + " (dilation " + std::to_string(g.dil) + ") does not fit input " + to_string(x) +
                 " padded by " + std::to_string(g.pad));
  g.P = (g.H + 2 * g.pad - span_h) / g.stride + 1;
  g.Q = (g.W + 2 * g.pad - span_w) / g.stride + 1;
  check_blas_dims(op, {g.K, g.crs(), g.pq()});
  return g;
}

// The output columns q in [lo, hi) whose input column q stride + offset lies inside [0, W).
std::pair<int64_t, int64_t> valid_columns(const Geometry& g, int64_t offset) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + g.stride - 1) / g.stride;
  const int64_t hi = offset >= g.W ? 0 : std::min(g.Q, (g.W - 1 - offset) / g.stride + 1);
  return {lo, std::max(lo, hi)};
}

// col [C R S, P Q] of one image x [C, H, W]; zeros where the window hangs over the padding.
template <typename T>
void im2col(const Geometry& g, const T* x, T* col) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t r = 0; r < g.R; ++r)
      for (int64_t s = 0; s < g.S; ++s) {
        T* row = col + ((c * g.R + r) * g.S + s) * g.pq();
        const int64_t offset = s * g.dil - g.pad;
        const auto [lo, hi] = valid_columns(g, offset);
        for (int64_t p = 0; p < g.P; ++p) {
          T* out = row + p * g.Q;
          const int64_t ih = p * g.stride - g.pad + r * g.dil;
          if (ih < 0 || ih >= g.H) {
            std::fill(out, out + g.Q, T(0));
            continue;
          }
          const T* in = x + (c * g.H + ih) * g.W + offset;
          std::fill(out, out + lo, T(0));
          if (g.stride == 1) std::memcpy(out + lo, in + lo, (hi - lo) * sizeof(T));
          else for (int64_t q = lo; q < hi; ++q) out[q] = in[q * g.stride];
          std::fill(out + hi, out + g.Q, T(0));
        }
      }
}

// The transpose of im2col: x [C, H, W] (zeroed by the caller) += each column entry at its pixel.
template <typename T>
void col2im(const Geometry& g, const T* col, T* x) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t r = 0; r < g.R; ++r)
      for (int64_t s = 0; s < g.S; ++s) {
        const T* row = col + ((c * g.R + r) * g.S + s) * g.pq();
        const int64_t offset = s * g.dil - g.pad;
        const auto [lo, hi] = valid_columns(g, offset);
        for (int64_t p = 0; p < g.P; ++p) {
          const int64_t ih = p * g.stride - g.pad + r * g.dil;
          if (ih < 0 || ih >= g.H) continue;
          const T* in = row + p * g.Q;
          T* out = x + (c * g.H + ih) * g.W + offset;
          for (int64_t q = lo; q < hi; ++q) out[q * g.stride] += in[q];
        }
      }
}

// Calls f(n, scratch) for every image n, threads splitting the batch; `scratch` is the calling
// thread's buffer of `scratch_size` elements (or thread slot `t` of `partials` when given).
template <typename T, typename F>
void for_each_image(const Geometry& g, int64_t scratch_size, F&& f) {
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), g.N));
  Tensor scratch = empty({std::max(threads, 1), std::max<int64_t>(scratch_size, 1)}, {.dtype = dtype_of<T>()});
  T* base = scratch.data<T>();
  if (threads <= 1) {
    for (int64_t n = 0; n < g.N; ++n) f(n, base, 0);
    return;
  }
  parallel_for(g.N, 1, [&](int64_t begin, int64_t end) {
    const int t = thread_index();
    for (int64_t n = begin; n < end; ++n) f(n, base + t * scratch_size, t);
  });
}

// x [N, C, H, W], w [K, C, R, S], b [K] or null -> y [N, K, P, Q]; all contiguous.
template <typename T>
void conv2d_forward_cpu(const Geometry& g, const T* x, const T* w, const T* b, T* y) {
  for_each_image<T>(g, g.pointwise() ? 0 : g.crs() * g.pq(), [&](int64_t n, T* col, int) {
    const T* xn = x + n * g.chw();
    if (!g.pointwise()) im2col(g, xn, col);
    T* yn = y + n * g.K * g.pq();
    if (b)
      for (int64_t k = 0; k < g.K; ++k) std::fill(yn + k * g.pq(), yn + (k + 1) * g.pq(), b[k]);
    blas_gemm<T>(CblasNoTrans, CblasNoTrans, g.K, g.pq(), g.crs(), T(1), w, g.crs(), g.pointwise() ? xn : col,
                 g.pq(), b ? T(1) : T(0), yn, g.pq());
  });
}

// g [N, K, P, Q], w [K, C, R, S] -> gx [N, C, H, W]
template <typename T>
void conv2d_backward_input_cpu(const Geometry& geo, const T* g, const T* w, T* gx) {
  for_each_image<T>(geo, geo.pointwise() ? 0 : geo.crs() * geo.pq(), [&](int64_t n, T* col, int) {
    T* gxn = gx + n * geo.chw();
    T* out = geo.pointwise() ? gxn : col;
    blas_gemm<T>(CblasTrans, CblasNoTrans, geo.crs(), geo.pq(), geo.K, T(1), w, geo.crs(), g + n * geo.K * geo.pq(),
                 geo.pq(), T(0), out, geo.pq());
    if (!geo.pointwise()) {
      std::fill(gxn, gxn + geo.chw(), T(0));
      col2im(geo, col, gxn);
    }
  });
}

// x [N, C, H, W], g [N, K, P, Q] -> gw [K, C, R, S]: per-thread partial sums, then their total.
template <typename T>
void conv2d_backward_weight_cpu(const Geometry& geo, const T* x, const T* g, T* gw) {
  const int64_t kcrs = geo.K * geo.crs(), col_size = geo.pointwise() ? 0 : geo.crs() * geo.pq();
  const int threads = std::max<int>(1, static_cast<int>(std::min<int64_t>(num_threads(), geo.N)));
  Tensor partials = zeros({threads, kcrs}, {.dtype = dtype_of<T>()});
  T* part = partials.data<T>();
  for_each_image<T>(geo, col_size, [&](int64_t n, T* col, int t) {
    const T* xn = x + n * geo.chw();
    if (!geo.pointwise()) im2col(geo, xn, col);
    blas_gemm<T>(CblasNoTrans, CblasTrans, geo.K, geo.crs(), geo.pq(), T(1), g + n * geo.K * geo.pq(), geo.pq(),
                 geo.pointwise() ? xn : col, geo.pq(), T(1), part + t * kcrs, geo.crs());
  });
  std::copy(part, part + kcrs, gw);
  for (int t = 1; t < threads; ++t)
    for (int64_t i = 0; i < kcrs; ++i) gw[i] += part[t * kcrs + i];
}

struct Conv2d {
  static constexpr std::string_view name = "conv2d";
  Conv2dOptions options;

  Shape out_shape(const Tensor& x, const Tensor& w) const { return conv2d_output_shape(x.shape(), w.shape(), options); }
  Shape out_shape(const Tensor& x, const Tensor& w, const Tensor& b) const {
    if (b.shape() != Shape{w.shape()[0]})
      fail(name, "bias " + to_string(b.shape()) + " must be [" + std::to_string(w.shape()[0]) + "] for weight " +
                     to_string(w.shape()));
    return out_shape(x, w);
  }
  void cpu(const Tensor& x, const Tensor& w, const Tensor& out) const { cpu(x, w, Tensor(), out); }
  void cpu(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) const {
    const Geometry g = geometry(name, x.shape(), w.shape(), options);
    if (g.C == 0) {  // an empty sum: BLAS may leave y unwritten when its K is 0
      out.fill_(0);
      if (b.defined()) out.copy_(add(out, b.reshape({g.K, 1, 1})));
      return;
    }
    const Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : b;
    dispatch_float(name, x.dtype(), [&]<typename T>() {
      conv2d_forward_cpu<T>(g, xc.data<T>(), wc.data<T>(), bc.defined() ? bc.data<T>() : nullptr, out.data<T>());
    });
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    TensorList grads(in.size());
    if (in[0].requires_grad()) grads[0] = conv2d_backward_input(g, in[1], in[0].shape(), options);
    if (in[1].requires_grad()) grads[1] = conv2d_backward_weight(in[0], g, in[1].shape(), options);
    if (in.size() == 3 && in[2].requires_grad()) grads[2] = sum(g, {0, 2, 3});
    return grads;
  }
};

// Checks that g is the output gradient of a conv2d of x_shape with w_shape.
void check_grad_shape(std::string_view op, const Tensor& g, const Shape& x, const Shape& w, const Conv2dOptions& o) {
  const Shape expected = conv2d_output_shape(x, w, o);
  if (g.shape() != expected)
    fail(op, "grad " + to_string(g.shape()) + " must be " + to_string(expected) + ", the output of input " +
                 to_string(x) + " and weight " + to_string(w));
}

struct Conv2dBackwardInput {
  static constexpr std::string_view name = "conv2d_backward_input";
  Shape x_shape;
  Conv2dOptions options;

  Shape out_shape(const Tensor& g, const Tensor& w) const {
    check_grad_shape(name, g, x_shape, w.shape(), options);
    return x_shape;
  }
  void cpu(const Tensor& g, const Tensor& w, const Tensor& out) const {
    const Geometry geo = geometry(name, x_shape, w.shape(), options);
    if (geo.K == 0) {  // an empty sum, as in Conv2d::cpu
      out.fill_(0);
      return;
    }
    const Tensor gc = g.contiguous(), wc = w.contiguous();
    dispatch_float(name, g.dtype(), [&]<typename T>() {
      conv2d_backward_input_cpu<T>(geo, gc.data<T>(), wc.data<T>(), out.data<T>());
    });
  }
  TensorList backward(const Tensor& u, const TensorList& in, const Tensor&) const {
    const Tensor &g = in[0], &w = in[1];
    return {g.requires_grad() ? conv2d(u, w, Tensor(), options) : Tensor(),
            w.requires_grad() ? conv2d_backward_weight(u, g, w.shape(), options) : Tensor()};
  }
};

struct Conv2dBackwardWeight {
  static constexpr std::string_view name = "conv2d_backward_weight";
  Shape w_shape;
  Conv2dOptions options;

  Shape out_shape(const Tensor& x, const Tensor& g) const {
    check_grad_shape(name, g, x.shape(), w_shape, options);
    return w_shape;
  }
  void cpu(const Tensor& x, const Tensor& g, const Tensor& out) const {
    const Geometry geo = geometry(name, x.shape(), w_shape, options);
    const Tensor xc = x.contiguous(), gc = g.contiguous();
    dispatch_float(name, x.dtype(), [&]<typename T>() {
      conv2d_backward_weight_cpu<T>(geo, xc.data<T>(), gc.data<T>(), out.data<T>());
    });
  }
  TensorList backward(const Tensor& v, const TensorList& in, const Tensor&) const {
    const Tensor &x = in[0], &g = in[1];
    return {x.requires_grad() ? conv2d_backward_input(g, v, x.shape(), options) : Tensor(),
            g.requires_grad() ? conv2d(x, v, Tensor(), options) : Tensor()};
  }
};

}  // namespace

Shape conv2d_output_shape(const Shape& x, const Shape& w, Conv2dOptions options) {
  const Geometry g = geometry("conv2d", x, w, options);
  return {g.N, g.K, g.P, g.Q};
}

double conv2d_flops(const Shape& x, const Shape& w, Conv2dOptions options) {
  const Geometry g = geometry("conv2d", x, w, options);
  return 2.0 * g.N * g.K * g.pq() * g.crs();
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, Conv2dOptions options) {
  if (!x.defined() || !w.defined()) throw std::invalid_argument("conv2d: input or weight is undefined");
  return b.defined() ? apply(Conv2d{options}, x, w, b) : apply(Conv2d{options}, x, w);
}

Tensor conv2d_backward_input(const Tensor& g, const Tensor& w, const Shape& x_shape, Conv2dOptions options) {
  return apply(Conv2dBackwardInput{x_shape, options}, g, w);
}

Tensor conv2d_backward_weight(const Tensor& x, const Tensor& g, const Shape& w_shape, Conv2dOptions options) {
  return apply(Conv2dBackwardWeight{w_shape, options}, x, g);
}

}  // namespace scorch
