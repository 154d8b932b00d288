// conv2d.cpp: conv2d and its two backward maps (formulas in conv2d.h) on the CPU: argument checks,
// the choice of kernel (use_direct: the direct kernels of conv2d_direct.h, else the gemm lowering
// below), and the ops. On a CUDA device the ops call cuDNN instead (cuda/conv2d.cpp).
//
// Gemm lowering: each map is a gemm per group of images over their column matrix col [C R S, P Q] (im2col: row
// (c, r, s) holds the input pixels that filter tap (r, s) of channel c sees at every output position;
// a group's images sit side by side in the columns):
//   forward          y_n [K, P Q]    = w [K, C R S] @ col_n                (+ b, preloaded into y_n)
//   backward_input   gcol [C R S, P Q] = w^T @ g_n, then col2im adds it back onto gx_n [C, H, W]
//   backward_weight  gw [K, C R S]  += g_n [K, P Q] @ col_n^T
// A 1x1 stride-1 unpadded conv of one image needs no columns: col_n is x_n itself. Threads split the
// groups, each with its own column buffer; a batch smaller than the thread count runs its gemms' tiles on
// the threads instead (blas_gemm, tensor/blas.h). backward_weight sums
// per-thread partial gradients, in a fixed order for a given thread count.
#include "autograd/ops/conv2d.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "autograd/apply.h"
#include "autograd/ops/conv2d_direct.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "tensor/backend.h"
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
  Geometry geo{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, o.stride, o.padding, o.dilation};
  const int64_t span_h = geo.dil * (geo.R - 1) + 1, span_w = geo.dil * (geo.S - 1) + 1;
  if (geo.R < 1 || geo.S < 1 || span_h > geo.H + 2 * geo.pad || span_w > geo.W + 2 * geo.pad)
    fail(op, "weight " + to_string(w) + " (dilation " + std::to_string(geo.dil) + ") does not fit input " +
                 to_string(x) + " padded by " + std::to_string(geo.pad));
  geo.P = (geo.H + 2 * geo.pad - span_h) / geo.stride + 1;
  geo.Q = (geo.W + 2 * geo.pad - span_w) / geo.stride + 1;
  check_blas_dims(op, {geo.K, geo.crs(), geo.pq()});
  return geo;
}

// The output columns q in [lo, hi) whose input column q stride + offset lies inside [0, W).
std::pair<int64_t, int64_t> valid_columns(const Geometry& geo, int64_t offset) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + geo.stride - 1) / geo.stride;
  const int64_t hi = offset >= geo.W ? 0 : std::min(geo.Q, (geo.W - 1 - offset) / geo.stride + 1);
  return {lo, std::max(lo, hi)};
}

// The column matrix of one image x [C, H, W]: row (c, r, s) at col + its
// index * ld (the images of a group sit side by side); zeros where the window hangs over the padding.
template <typename T>
void im2col(const Geometry& geo, const T* x, T* col, int64_t ld) {
  for (int64_t c = 0; c < geo.C; ++c)
    for (int64_t r = 0; r < geo.R; ++r)
      for (int64_t s = 0; s < geo.S; ++s) {
        T* row = col + ((c * geo.R + r) * geo.S + s) * ld;
        const int64_t offset = s * geo.dil - geo.pad;
        const auto [lo, hi] = valid_columns(geo, offset);
        for (int64_t p = 0; p < geo.P; ++p) {
          T* out = row + p * geo.Q;
          const int64_t ih = p * geo.stride - geo.pad + r * geo.dil;
          if (ih < 0 || ih >= geo.H) {
            std::fill(out, out + geo.Q, T(0));
            continue;
          }
          const T* in = x + (c * geo.H + ih) * geo.W + offset;
          // Rows are short (28 floats): plain loops, which the compiler vectorises, beat memcpy calls.
          for (int64_t q = 0; q < lo; ++q) out[q] = T(0);
          if (geo.stride == 1)
            for (int64_t q = lo; q < hi; ++q) out[q] = in[q];
          else
            for (int64_t q = lo; q < hi; ++q) out[q] = in[q * geo.stride];
          for (int64_t q = hi; q < geo.Q; ++q) out[q] = T(0);
        }
      }
}

// The transpose of im2col: x [C, H, W] (zeroed by the caller) += each column entry at its pixel.
template <typename T>
void col2im(const Geometry& geo, const T* col, int64_t ld, T* x) {
  for (int64_t c = 0; c < geo.C; ++c)
    for (int64_t r = 0; r < geo.R; ++r)
      for (int64_t s = 0; s < geo.S; ++s) {
        const T* row = col + ((c * geo.R + r) * geo.S + s) * ld;
        const int64_t offset = s * geo.dil - geo.pad;
        const auto [lo, hi] = valid_columns(geo, offset);
        for (int64_t p = 0; p < geo.P; ++p) {
          const int64_t ih = p * geo.stride - geo.pad + r * geo.dil;
          if (ih < 0 || ih >= geo.H) continue;
          const T* in = row + p * geo.Q;
          T* out = x + (c * geo.H + ih) * geo.W + offset;
          if (geo.stride == 1)  // the common case, as its own loop so that it vectorises
            for (int64_t q = lo; q < hi; ++q) out[q] += in[q];
          else
            for (int64_t q = lo; q < hi; ++q) out[q * geo.stride] += in[q];
        }
      }
}

// Images are lowered in groups of `images`, side by side in the columns, so that small images (7x7:
// 49 columns each) still give gemms wide enough for OpenBLAS's kernels. Groups never span more than a
// thread's share of the batch, so both threads stay busy. (Lowering a large image in bands of rows
// whose columns fit in L2 measured no faster: OpenBLAS packs its own cache-sized blocks anyway.)
constexpr int64_t kMinColumns = 768;

struct Groups {
  int64_t images = 1, count = 0;
  int threads = 1;
};

Groups make_groups(const Geometry& geo) {
  Groups gr;
  gr.threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), geo.N)));
  const int64_t share = (geo.N + gr.threads - 1) / gr.threads;
  gr.images = std::clamp<int64_t>((kMinColumns + geo.pq() - 1) / geo.pq(), 1, std::max<int64_t>(share, 1));
  gr.count = (geo.N + gr.images - 1) / gr.images;
  gr.threads = static_cast<int>(std::min<int64_t>(gr.threads, gr.count));
  return gr;
}

// A block of columns: the images [n0, n0 + count) of a group.
struct Block {
  int64_t n0, count;
  int64_t cols(const Geometry& geo) const { return count * geo.pq(); }
};

// Calls f(block, thread's scratch, thread index) for every group of images, threads splitting the
// groups; each thread owns `scratch_size` elements of scratch.
template <typename T, typename F>
void for_each_block(const Geometry& geo, const Groups& gr, int64_t scratch_size, F&& f) {
  Tensor scratch = empty({std::max(gr.threads, 1), std::max<int64_t>(scratch_size, 1)}, {.dtype = dtype_of<T>()});
  T* base = scratch.data<T>();
  auto run = [&](int64_t begin, int64_t end, int t) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n0 = i * gr.images, count = std::min(gr.images, geo.N - n0);
      f(Block{n0, count}, base + t * scratch_size, t);
    }
  };
  if (gr.threads <= 1) return run(0, gr.count, 0);
  parallel_for(gr.count, 1, [&](int64_t begin, int64_t end) { run(begin, end, thread_index()); });
}

// Scratch per thread: the column matrix and, for groups, one [K, cols] matrix of gathered planes.
int64_t scratch_size(const Geometry& geo, const Groups& gr) {
  const int64_t cols = gr.images * geo.pq();
  return geo.crs() * cols + (gr.images > 1 ? geo.K * cols : 0);
}

// A matrix operand: data and leading dimension.
template <typename T>
struct Operand {
  T* data;
  int64_t ld;
};

// Planes [rows, P Q] of a block's images (image stride rows P Q) as a [rows, cols] matrix: in place
// for one image, else copied side by side into `buffer` (gather) or back out of it (scatter).
template <typename T>
Operand<const T> gather(const Geometry& geo, const Block& b, int64_t rows, const T* images, T* buffer) {
  const T* first = images + b.n0 * rows * geo.pq();
  if (b.count == 1) return {first, geo.pq()};
  for (int64_t j = 0; j < b.count; ++j)
    for (int64_t k = 0; k < rows; ++k)
      std::memcpy(buffer + k * b.cols(geo) + j * geo.pq(), first + (j * rows + k) * geo.pq(), geo.pq() * sizeof(T));
  return {buffer, b.cols(geo)};
}
template <typename T>
void scatter(const Geometry& geo, const Block& b, int64_t rows, const T* buffer, T* images) {
  T* first = images + b.n0 * rows * geo.pq();
  for (int64_t j = 0; j < b.count; ++j)
    for (int64_t k = 0; k < rows; ++k)
      std::memcpy(first + (j * rows + k) * geo.pq(), buffer + k * b.cols(geo) + j * geo.pq(), geo.pq() * sizeof(T));
}

// The column matrix [C R S, cols] of a block of x: x itself for one image of a 1x1 conv.
template <typename T>
Operand<const T> lower(const Geometry& geo, const T* x, const Block& b, T* col) {
  if (geo.pointwise() && b.count == 1) return {x + b.n0 * geo.chw(), geo.pq()};
  for (int64_t j = 0; j < b.count; ++j) im2col(geo, x + (b.n0 + j) * geo.chw(), col + j * geo.pq(), b.cols(geo));
  return {col, b.cols(geo)};
}

// x [N, C, H, W], w [K, C, R, S], b [K] or null -> y [N, K, P, Q]; all contiguous.
template <typename T>
void conv2d_forward_cpu(const Geometry& geo, const T* x, const T* w, const T* bias, T* y) {
  const Groups gr = make_groups(geo);
  const int64_t col_size = geo.crs() * gr.images * geo.pq();
  for_each_block<T>(geo, gr, scratch_size(geo, gr), [&](const Block& b, T* scratch, int) {
    const Operand<const T> B = lower(geo, x, b, scratch);
    const Operand<T> out =
        b.count == 1 ? Operand<T>{y + b.n0 * geo.K * geo.pq(), geo.pq()} : Operand<T>{scratch + col_size, b.cols(geo)};
    if (bias)
      for (int64_t k = 0; k < geo.K; ++k)
        std::fill(out.data + k * out.ld, out.data + k * out.ld + b.cols(geo), bias[k]);
    blas_gemm<T>(CblasNoTrans, CblasNoTrans, geo.K, b.cols(geo), geo.crs(), T(1), w, geo.crs(), B.data, B.ld,
                 bias ? T(1) : T(0), out.data, out.ld);
    if (b.count > 1) scatter(geo, b, geo.K, out.data, y);
  });
}

// g [N, K, P, Q], w [K, C, R, S] -> gx [N, C, H, W]
template <typename T>
void conv2d_backward_input_cpu(const Geometry& geo, const T* g, const T* w, T* gx) {
  const Groups gr = make_groups(geo);
  const int64_t col_size = geo.crs() * gr.images * geo.pq();
  for_each_block<T>(geo, gr, scratch_size(geo, gr), [&](const Block& b, T* scratch, int) {
    const Operand<const T> G = gather(geo, b, geo.K, g, scratch + col_size);
    const bool direct = geo.pointwise() && b.count == 1;
    const Operand<T> out = direct ? Operand<T>{gx + b.n0 * geo.chw(), geo.pq()} : Operand<T>{scratch, b.cols(geo)};
    blas_gemm<T>(CblasTrans, CblasNoTrans, geo.crs(), b.cols(geo), geo.K, T(1), w, geo.crs(), G.data, G.ld, T(0),
                 out.data, out.ld);
    if (direct) return;
    for (int64_t j = 0; j < b.count; ++j) {
      T* gxn = gx + (b.n0 + j) * geo.chw();
      std::fill(gxn, gxn + geo.chw(), T(0));
      col2im(geo, scratch + j * geo.pq(), b.cols(geo), gxn);
    }
  });
}

// x [N, C, H, W], g [N, K, P, Q] -> gw [K, C, R, S]: per-thread partial sums, then their total.
template <typename T>
void conv2d_backward_weight_cpu(const Geometry& geo, const T* x, const T* g, T* gw) {
  const Groups gr = make_groups(geo);
  const int64_t kcrs = geo.K * geo.crs(), col_size = geo.crs() * gr.images * geo.pq();
  Tensor partials = zeros({std::max(gr.threads, 1), kcrs}, {.dtype = dtype_of<T>()});
  T* part = partials.data<T>();
  for_each_block<T>(geo, gr, scratch_size(geo, gr), [&](const Block& b, T* scratch, int t) {
    const Operand<const T> B = lower(geo, x, b, scratch);
    const Operand<const T> G = gather(geo, b, geo.K, g, scratch + col_size);
    blas_gemm<T>(CblasNoTrans, CblasTrans, geo.K, geo.crs(), b.cols(geo), T(1), G.data, G.ld, B.data, B.ld, T(1),
                 part + t * kcrs, geo.crs());
  });
  std::copy(part, part + kcrs, gw);
  for (int t = 1; t < gr.threads; ++t)
    for (int64_t i = 0; i < kcrs; ++i) gw[i] += part[t * kcrs + i];
}

// The direct kernels (conv2d_direct.h) run float32 convs with at least 16 products per output (not a
// 1-channel input) on AVX-512 machines, for each map where they fit (conv2d_direct_*_fits: stride 1,
// or stride 2 with the row tiles; few wasted positions); the rest lowers to gemm.
// SCORCH_CONV2D=im2col in the environment forces the gemm lowering everywhere, to compare the two.
enum class Map { forward, input, weight };

bool use_direct(const Geometry& geo, DType dtype, Map map) {
  static const bool allowed = [] {
    const char* choice = std::getenv("SCORCH_CONV2D");
    return detail::conv2d_direct_supported() && !(choice && std::string(choice) == "im2col");
  }();
  if (!allowed || dtype != kFloat32 || geo.crs() < 16) return false;
  switch (map) {
    case Map::forward:
      return detail::conv2d_direct_forward_fits(geo.C, geo.H, geo.W, geo.K, geo.R, geo.S, geo.pad, geo.dil, geo.stride);
    case Map::weight:
      return detail::conv2d_direct_weight_fits(geo.C, geo.H, geo.W, geo.K, geo.R, geo.S, geo.pad, geo.dil, geo.stride);
    case Map::input: {  // stride 1: the flipped conv of geo, K and C swapped, P x Q in, padding dil (R - 1) - pad
      const int64_t pad_t = geo.dil * (geo.R - 1) - geo.pad;
      return geo.stride == 1 && pad_t >= 0 && geo.R == geo.S &&
             detail::conv2d_direct_forward_fits(geo.K, geo.P, geo.Q, geo.C, geo.R, geo.S, pad_t, geo.dil, 1);
    }
  }
  return false;
}

// wt [C, K, R, S] with wt[c, k, r, s] = w[k, c, R-1-r, S-1-s]: the filter of the transposed conv.
Tensor flipped_transpose(const Geometry& geo, const float* w) {
  Tensor wt = empty({geo.C, geo.K, geo.R, geo.S});
  float* out = wt.data<float>();
  for (int64_t k = 0; k < geo.K; ++k)
    for (int64_t c = 0; c < geo.C; ++c)
      for (int64_t r = 0; r < geo.R; ++r)
        for (int64_t s = 0; s < geo.S; ++s)
          out[((c * geo.K + k) * geo.R + (geo.R - 1 - r)) * geo.S + (geo.S - 1 - s)] =
              w[((k * geo.C + c) * geo.R + r) * geo.S + s];
  return wt;
}

backend::ConvParams device_params(const Conv2dOptions& o) { return {o.stride, o.padding, o.dilation}; }

struct Conv2d {
  static constexpr std::string_view name = "conv2d";
  Conv2dOptions options;

  Shape out_shape(const Tensor& x, const Tensor& w) const { return conv2d_output_shape(x.shape(), w.shape(), options); }
  double flops(const TensorList& in, const Tensor&) const {
    return conv2d_flops(in[0].shape(), in[1].shape(), options);
  }
  Shape out_shape(const Tensor& x, const Tensor& w, const Tensor& b) const {
    Shape y = out_shape(x, w);  // checks the weight's rank first
    if (b.shape() != Shape{w.shape()[0]})
      fail(name, "bias " + to_string(b.shape()) + " must be [" + std::to_string(w.shape()[0]) + "] for weight " +
                     to_string(w.shape()));
    return y;
  }
  void cpu(const Tensor& x, const Tensor& w, const Tensor& out) const { cpu(x, w, Tensor(), out); }
  void cpu(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) const {
    const Geometry geo = geometry(name, x.shape(), w.shape(), options);
    if (geo.C == 0) {  // an empty sum: BLAS may leave y unwritten when its K is 0
      out.fill_(0);
      if (b.defined()) out.copy_(add(out, b.reshape({geo.K, 1, 1})));
      return;
    }
    const Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : b;
    if (use_direct(geo, x.dtype(), Map::forward)) {
      detail::conv2d_direct_forward(xc.data<float>(), wc.data<float>(), bc.defined() ? bc.data<float>() : nullptr,
                                    out.data<float>(), geo.N, geo.C, geo.H, geo.W, geo.K, geo.R, geo.S, geo.pad,
                                    geo.dil, geo.stride);
      return;
    }
    dispatch_float(name, x.dtype(), [&]<typename T>() {
      conv2d_forward_cpu<T>(geo, xc.data<T>(), wc.data<T>(), bc.defined() ? bc.data<T>() : nullptr, out.data<T>());
    });
  }
  void device(const Tensor& x, const Tensor& w, const Tensor& out) const { device(x, w, Tensor(), out); }
  void device(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) const {
    backend::conv2d(x, w, b, out, device_params(options));
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
  const Geometry geo = geometry(op, x, w, o);
  const Shape expected{geo.N, geo.K, geo.P, geo.Q};
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
  double flops(const TensorList& in, const Tensor&) const { return conv2d_flops(x_shape, in[1].shape(), options); }
  void cpu(const Tensor& g, const Tensor& w, const Tensor& out) const {
    const Geometry geo = geometry(name, x_shape, w.shape(), options);
    if (geo.K == 0) {  // an empty sum, as in Conv2d::cpu
      out.fill_(0);
      return;
    }
    const Tensor gc = g.contiguous(), wc = w.contiguous();
    // The transposed stride-1 conv is a conv of g with the flipped, transposed filter and padding
    // dil (R - 1) - pad (when that is >= 0, as for every "same" conv).
    const int64_t pad_t = geo.dil * (geo.R - 1) - geo.pad;
    if (use_direct(geo, g.dtype(), Map::input)) {
      const Tensor wt = flipped_transpose(geo, wc.data<float>());
      detail::conv2d_direct_forward(gc.data<float>(), wt.data<float>(), nullptr, out.data<float>(), geo.N, geo.K, geo.P,
                                    geo.Q, geo.C, geo.R, geo.S, pad_t, geo.dil, 1);
      return;
    }
    dispatch_float(name, g.dtype(),
                   [&]<typename T>() { conv2d_backward_input_cpu<T>(geo, gc.data<T>(), wc.data<T>(), out.data<T>()); });
  }
  void device(const Tensor& g, const Tensor& w, const Tensor& out) const {
    backend::conv2d_backward_input(g, w, out, device_params(options));
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
  double flops(const TensorList& in, const Tensor&) const { return conv2d_flops(in[0].shape(), w_shape, options); }
  void cpu(const Tensor& x, const Tensor& g, const Tensor& out) const {
    const Geometry geo = geometry(name, x.shape(), w_shape, options);
    const Tensor xc = x.contiguous(), gc = g.contiguous();
    if (use_direct(geo, x.dtype(), Map::weight)) {
      detail::conv2d_direct_backward_weight(xc.data<float>(), gc.data<float>(), out.data<float>(), geo.N, geo.C, geo.H,
                                            geo.W, geo.K, geo.R, geo.S, geo.pad, geo.dil, geo.stride);
      return;
    }
    dispatch_float(name, x.dtype(), [&]<typename T>() {
      conv2d_backward_weight_cpu<T>(geo, xc.data<T>(), gc.data<T>(), out.data<T>());
    });
  }
  void device(const Tensor& x, const Tensor& g, const Tensor& out) const {
    backend::conv2d_backward_weight(x, g, out, device_params(options));
  }
  TensorList backward(const Tensor& v, const TensorList& in, const Tensor&) const {
    const Tensor &x = in[0], &g = in[1];
    return {x.requires_grad() ? conv2d_backward_input(g, v, x.shape(), options) : Tensor(),
            g.requires_grad() ? conv2d(x, v, Tensor(), options) : Tensor()};
  }
};

}  // namespace

Shape conv2d_output_shape(const Shape& x, const Shape& w, Conv2dOptions options) {
  const Geometry geo = geometry("conv2d", x, w, options);
  return {geo.N, geo.K, geo.P, geo.Q};
}

double conv2d_flops(const Shape& x, const Shape& w, Conv2dOptions options) {
  const Geometry geo = geometry("conv2d", x, w, options);
  return 2.0 * geo.N * geo.K * geo.pq() * geo.crs();
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
