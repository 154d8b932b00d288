// upsample.cpp: upsample_nearest2d, interpolate_bilinear and their backward ops (formulas in upsample.h).
//
// As in pool.cpp, each kernel works on one contiguous [H, W] plane and threads split the N*C planes,
// so the backward scatters never race. Non-contiguous inputs are copied first. The CUDA kernels
// (cuda/upsample.cu) share image_index.h's interpolation taps.
#include "autograd/ops/upsample.h"

#include <algorithm>
#include <string>
#include <vector>

#include "autograd/apply.h"
#include "tensor/image_index.h"
#include "tensor/backend.h"
#include "tensor/parallel.h"

namespace scorch {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

void check_4d(std::string_view op, const Tensor& x, const char* what) {
  if (x.dim() != 4)
    throw std::invalid_argument(std::string(op) + ": " + what + " " + to_string(x.shape()) +
                                " must be 4-d [N, C, H, W]");
}

// x [N, C, H, W] -> y [N, C, H s, W s]: each output row is built once, then copied s - 1 times.
template <typename T>
void upsample_nearest2d_forward_cpu(const Tensor& x, Tensor& y, int64_t s) {
  const int64_t H = x.shape()[2], W = x.shape()[3], Wo = W * s, planes = x.shape()[0] * x.shape()[1];
  const T* px = x.data<T>();
  T* py = y.data<T>();
  parallel_for(planes, grain_for(H * W * s * s), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      for (int64_t h = 0; h < H; ++h) {
        const T* in = px + (n * H + h) * W;
        T* out = py + (n * H + h) * s * Wo;
        for (int64_t w = 0; w < W; ++w)
          for (int64_t b = 0; b < s; ++b) out[w * s + b] = in[w];
        for (int64_t a = 1; a < s; ++a) std::copy(out, out + Wo, out + a * Wo);
      }
  });
}

// g [N, C, H s, W s] -> gx [N, C, H, W], the sum of each s x s block.
template <typename T>
void upsample_nearest2d_backward_cpu(const Tensor& g, Tensor& gx, int64_t s) {
  const int64_t H = gx.shape()[2], W = gx.shape()[3], Wo = W * s, planes = gx.shape()[0] * gx.shape()[1];
  const T* pg = g.data<T>();
  T* px = gx.data<T>();
  parallel_for(planes, grain_for(H * W * s * s), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      for (int64_t h = 0; h < H; ++h) {
        T* out = px + (n * H + h) * W;
        std::fill(out, out + W, T(0));
        for (int64_t a = 0; a < s; ++a) {
          const T* row = pg + ((n * H + h) * s + a) * Wo;
          for (int64_t w = 0; w < W; ++w)
            for (int64_t b = 0; b < s; ++b) out[w] += row[w * s + b];
        }
      }
  });
}

// The taps of every output of one dim (image_index.h's linear_tap).
template <typename T>
std::vector<LinearTap<T>> linear_taps(int64_t in, int64_t out, bool align_corners) {
  std::vector<LinearTap<T>> taps(out);
  for (int64_t o = 0; o < out; ++o) taps[o] = linear_tap<T>(in, out, align_corners, o);
  return taps;
}

// x [N, C, H, W] -> y [N, C, P, Q].
template <typename T>
void interpolate_bilinear_forward_cpu(const Tensor& x, Tensor& y, bool align_corners) {
  const int64_t H = x.shape()[2], W = x.shape()[3], P = y.shape()[2], Q = y.shape()[3];
  const auto rows = linear_taps<T>(H, P, align_corners), cols = linear_taps<T>(W, Q, align_corners);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  parallel_for(x.shape()[0] * x.shape()[1], grain_for(P * Q), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      for (int64_t p = 0; p < P; ++p) {
        T* out = py + (n * P + p) * Q;
        for (int64_t q = 0; q < Q; ++q) out[q] = bilinear_value(px + n * H * W, W, rows[p], cols[q]);
      }
  });
}

// g [N, C, P, Q] -> gx [N, C, H, W]: the forward's weights, transposed.
template <typename T>
void interpolate_bilinear_backward_cpu(const Tensor& g, Tensor& gx, bool align_corners) {
  const int64_t H = gx.shape()[2], W = gx.shape()[3], P = g.shape()[2], Q = g.shape()[3];
  const auto rows = linear_taps<T>(H, P, align_corners), cols = linear_taps<T>(W, Q, align_corners);
  const T* pg = g.data<T>();
  T* px = gx.data<T>();
  parallel_for(g.shape()[0] * g.shape()[1], grain_for(P * Q), [&](int64_t begin, int64_t end) {
    std::fill(px + begin * H * W, px + end * H * W, T(0));
    for (int64_t n = begin; n < end; ++n)
      for (int64_t p = 0; p < P; ++p) {
        const LinearTap<T>& r = rows[p];
        T *x0 = px + (n * H + r.i0) * W, *x1 = px + (n * H + r.i1) * W;
        const T* in = pg + (n * P + p) * Q;
        for (int64_t q = 0; q < Q; ++q) {
          const LinearTap<T>& c = cols[q];
          const T v0 = r.l0 * in[q], v1 = r.l1 * in[q];
          x0[c.i0] += c.l0 * v0;
          x0[c.i1] += c.l1 * v0;
          x1[c.i0] += c.l0 * v1;
          x1[c.i1] += c.l1 * v1;
        }
      }
  });
}

struct UpsampleNearest2d {
  static constexpr std::string_view name = "upsample_nearest2d";
  int64_t scale;
  Shape out_shape(const Tensor& x) const {
    check_4d(name, x, "input");
    const Shape& s = x.shape();
    return {s[0], s[1], s[2] * scale, s[3] * scale};
  }
  void cpu(const Tensor& x, Tensor& y) const {
    dispatch_float(name, x.dtype(), [&]<typename T>() { upsample_nearest2d_forward_cpu<T>(x.contiguous(), y, scale); });
  }
  void device(const Tensor& x, Tensor& y) const { backend::upsample_nearest2d(x.contiguous(), y, scale); }
  TensorList backward(const Tensor& g, const TensorList&, const Tensor&) const {
    return {upsample_nearest2d_backward(g, scale)};
  }
};

struct UpsampleNearest2dBackward {
  static constexpr std::string_view name = "upsample_nearest2d_backward";
  int64_t scale;
  Shape out_shape(const Tensor& g) const {
    check_4d(name, g, "grad");
    const Shape& s = g.shape();
    if (s[2] % scale != 0 || s[3] % scale != 0)
      throw std::invalid_argument("upsample_nearest2d_backward: grad " + to_string(s) + " has H and W that are not " +
                                  "multiples of scale " + str(scale));
    return {s[0], s[1], s[2] / scale, s[3] / scale};
  }
  void cpu(const Tensor& g, Tensor& gx) const {
    dispatch_float(name, g.dtype(),
                   [&]<typename T>() { upsample_nearest2d_backward_cpu<T>(g.contiguous(), gx, scale); });
  }
  void device(const Tensor& g, Tensor& gx) const { backend::upsample_nearest2d_backward(g.contiguous(), gx, scale); }
  TensorList backward(const Tensor& gg, const TensorList&, const Tensor&) const {
    return {upsample_nearest2d(gg, scale)};
  }
};

struct InterpolateBilinear {
  static constexpr std::string_view name = "interpolate_bilinear";
  int64_t out_h, out_w;
  bool align_corners;
  Shape out_shape(const Tensor& x) const {
    check_4d(name, x, "input");
    const Shape& s = x.shape();
    if (s[2] < 1 || s[3] < 1)
      throw std::invalid_argument("interpolate_bilinear: input " + to_string(s) +
                                  " has an empty spatial dim (need H, W >= 1)");
    return {s[0], s[1], out_h, out_w};
  }
  void cpu(const Tensor& x, Tensor& y) const {
    dispatch_float(name, x.dtype(),
                   [&]<typename T>() { interpolate_bilinear_forward_cpu<T>(x.contiguous(), y, align_corners); });
  }
  void device(const Tensor& x, Tensor& y) const { backend::interpolate_bilinear(x.contiguous(), y, align_corners); }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {interpolate_bilinear_backward(g, in[0].shape()[2], in[0].shape()[3], align_corners)};
  }
};

struct InterpolateBilinearBackward {
  static constexpr std::string_view name = "interpolate_bilinear_backward";
  int64_t in_h, in_w;
  bool align_corners;
  Shape out_shape(const Tensor& g) const {
    check_4d(name, g, "grad");
    const Shape& s = g.shape();
    if (s[2] < 1 || s[3] < 1)
      throw std::invalid_argument("interpolate_bilinear_backward: grad " + to_string(s) + " has an empty spatial dim");
    return {s[0], s[1], in_h, in_w};
  }
  void cpu(const Tensor& g, Tensor& gx) const {
    dispatch_float(name, g.dtype(),
                   [&]<typename T>() { interpolate_bilinear_backward_cpu<T>(g.contiguous(), gx, align_corners); });
  }
  void device(const Tensor& g, Tensor& gx) const {
    backend::interpolate_bilinear_backward(g.contiguous(), gx, align_corners);
  }
  TensorList backward(const Tensor& gg, const TensorList& in, const Tensor&) const {
    return {interpolate_bilinear(gg, in[0].shape()[2], in[0].shape()[3], align_corners)};
  }
};

// Arguments are checked before apply, naming the tensor they go with (`label` is "input" or "grad").
std::string shape_of(const char* label, const Tensor& t) {
  return std::string(" (") + label + " " + (t.defined() ? to_string(t.shape()) : std::string("undefined")) + ")";
}

void check_size(std::string_view op, const char* what, int64_t h, int64_t w, const char* label, const Tensor& t) {
  if (h < 1 || w < 1)
    throw std::invalid_argument(std::string(op) + ": " + what + " " + str(h) + "x" + str(w) + " must be at least 1x1" +
                                shape_of(label, t));
}

void check_scale(std::string_view op, int64_t scale, const char* label, const Tensor& t) {
  if (scale < 1)
    throw std::invalid_argument(std::string(op) + ": scale must be >= 1, got " + str(scale) + shape_of(label, t));
}

}  // namespace

Tensor upsample_nearest2d(const Tensor& x, int64_t scale) {
  check_scale(UpsampleNearest2d::name, scale, "input", x);
  return apply(UpsampleNearest2d{scale}, x);
}

Tensor upsample_nearest2d_backward(const Tensor& g, int64_t scale) {
  check_scale(UpsampleNearest2dBackward::name, scale, "grad", g);
  return apply(UpsampleNearest2dBackward{scale}, g);
}

Tensor interpolate_bilinear(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners) {
  check_size(InterpolateBilinear::name, "output size", out_h, out_w, "input", x);
  return apply(InterpolateBilinear{out_h, out_w, align_corners}, x);
}

Tensor interpolate_bilinear_backward(const Tensor& g, int64_t in_h, int64_t in_w, bool align_corners) {
  check_size(InterpolateBilinearBackward::name, "input size", in_h, in_w, "grad", g);
  return apply(InterpolateBilinearBackward{in_h, in_w, align_corners}, g);
}

}  // namespace scorch
