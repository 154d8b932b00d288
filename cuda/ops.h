// ops.h: the entry points of the CUDA backend that the rest of scorch calls, with no CUDA types.
// tensor/ calls fill, copy and fill_random for CUDA tensors (a CPU-only build links throwing stubs,
// never reached: no CUDA tensor can exist there); the Op structs of autograd/ops call the rest from
// their cuda() members, which exist only when SCORCH_HAS_CUDA (autograd/apply.h picks cpu() or cuda()
// by the output's device). Each entry point queues its work on the device's current stream and
// returns without waiting, except copies to or from the CPU, which wait for their data.
#pragma once
#include <cstdint>
#include <string_view>

#include "autograd/ops/image_index.h"
#include "nn/optim_fns.h"
#include "tensor/tensor.h"

namespace scorch::cuda {

// ---- tensor/ ----------------------------------------------------------------------------------------

// Every element of the CUDA tensor t (any layout) = value, converted to t's dtype.
void fill(const Tensor& t, double value);
// dst = src converted to dst's dtype and broadcast to its shape; either or both on a CUDA device.
// Tensor::copy_ checks the shapes, that dst is not expanded and that the two do not overlap.
void copy(const Tensor& dst, const Tensor& src);
// The same on one device (both on it): one elementwise kernel.
void copy_on_device(const Tensor& dst, const Tensor& src);

// A draw of the Philox RNG (tensor/random.h) into the fresh, contiguous CUDA tensor out: the values of
// counter blocks first_block, first_block + 1, ... under the key of `seed`, as the CPU computes them.
enum class RandomKind : uint8_t { uniform, normal, integer };
struct RandomDraw {
  RandomKind kind = RandomKind::uniform;
  uint64_t seed = 0;
  uint64_t first_block = 0;
  int64_t low = 0;     // integer: values in [low, low + range)
  uint64_t range = 0;
};
void fill_random(const Tensor& out, const RandomDraw& draw);

// ---- autograd/ops/elementwise (cuda/elementwise.cu instantiates one per functor) ----------------------

// out = fn(a), fn(a, b), fn(c, a, b) elementwise, inputs broadcast to out's shape; float32 or float64,
// all of one dtype (else throws naming `op`).
template <typename Fn>
void unary(std::string_view op, const Fn& fn, const Tensor& a, const Tensor& out);
template <typename Fn>
void binary(std::string_view op, const Fn& fn, const Tensor& a, const Tensor& b, const Tensor& out);
template <typename Fn>
void ternary(std::string_view op, const Fn& fn, const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out);

// ---- autograd/ops/reduce -------------------------------------------------------------------------------

enum class ReduceKind : uint8_t { sum, mean, max };
// out (fresh, contiguous, the kept dims of a in order) = the sum, mean or max of a over the dims whose
// bit is set in mask. Sums accumulate in double, as on the CPU.
void reduce(ReduceKind kind, const Tensor& a, uint32_t mask, const Tensor& out);

// ---- autograd/ops/group_norm (cuda/norm.cu) ---------------------------------------------------------

// x [N, C, S] as group_norm sees it: G groups of C/G channels of S elements each.
struct NormDims {
  int64_t N = 0, C = 0, S = 1, G = 1;
};
// y = group_norm(x) or group_norm_silu(x) (silu); mean and rstd [N, G] float64 written. x, w [C], b [C]
// contiguous on the device (w, b may be undefined), y fresh.
void group_norm_forward(bool silu, const NormDims& d, const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                        const Tensor& y, const Tensor& mean, const Tensor& rstd);
// gx (fresh) = the input gradient for output gradient g; dot and sum [N, C] float64 = per (n, c) the
// sums over S of gy (x - mean) and gy, gy the gradient of the affine output (group_norm_fns.h).
void group_norm_backward(bool silu, const NormDims& d, const Tensor& g, const Tensor& x, const Tensor& w,
                         const Tensor& b, const Tensor& mean, const Tensor& rstd, const Tensor& gx, const Tensor& dot,
                         const Tensor& sum);

// ---- autograd/ops/pool, upsample (cuda/pool.cu, cuda/upsample.cu) -------------------------------------
// Inputs contiguous on the device, outputs fresh; shapes checked by the ops (image_index.h has the
// windows and taps).

// y [N, C, P, Q] = avg_pool2d(x); gx [N, C, H, W] = avg_pool2d_backward(g).
void avg_pool2d(const Tensor& x, const Tensor& y, const PoolGeometry& g);
void avg_pool2d_backward(const Tensor& g, const Tensor& gx, const PoolGeometry& geo);
// One pass of max pooling (image_index.h's MaxPass) with the argmax of x; t is unused by forward.
void max_pool2d(MaxPass pass, const Tensor& x, const Tensor& t, const Tensor& out, const PoolGeometry& g);
// y [N, C, H s, W s] = x repeated s x s; gx [N, C, H, W] = the sums of g's s x s blocks.
void upsample_nearest2d(const Tensor& x, const Tensor& y, int64_t scale);
void upsample_nearest2d_backward(const Tensor& g, const Tensor& gx, int64_t scale);
// y [N, C, P, Q] = the bilinear interpolation of x [N, C, H, W]; gx = its transpose applied to g.
void interpolate_bilinear(const Tensor& x, const Tensor& y, bool align_corners);
void interpolate_bilinear_backward(const Tensor& g, const Tensor& gx, bool align_corners);

// ---- autograd/ops/matmul (cuBLAS) ------------------------------------------------------------------

// out [..., M, N] (fresh, contiguous) = a [..., M, K] @ b [..., K, N], batch dims broadcast.
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);
// out [..., N] (fresh, contiguous) = x [..., K] w^T + bias, w [N, K], bias [N].
void linear(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out);

// ---- autograd/ops/conv2d (cuDNN: cuda/conv2d.cpp) ---------------------------------------------------

// Square windows, as autograd/ops/conv2d.h's Conv2dOptions.
struct ConvParams {
  int64_t stride = 1, padding = 0, dilation = 1;
};
// out [N, K, P, Q] (fresh, contiguous) = conv2d(x [N, C, H, W], w [K, C, R, S]) + b [K] (b may be
// undefined); the shapes were checked by the caller.
void conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out, const ConvParams& p);
// out [N, C, H, W] = the gradient of conv2d's input for output gradient g [N, K, P, Q].
void conv2d_backward_input(const Tensor& g, const Tensor& w, const Tensor& out, const ConvParams& p);
// out [K, C, R, S] = the gradient of conv2d's weight for input x and output gradient g.
void conv2d_backward_weight(const Tensor& x, const Tensor& g, const Tensor& out, const ConvParams& p);

// ---- nn/optim (cuda/optim.cu): one fused kernel per parameter and step, optim_fns.h's formulas ----------

// p, g, buf (undefined without momentum), m, v contiguous, of one dtype T, on one device.
template <typename T>
void sgd_update(const Tensor& p, const Tensor& g, const Tensor& buf, const nn::SgdCoefficients<T>& c);
template <typename T>
void adam_update(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const nn::AdamCoefficients<T>& c,
                 bool decay);
// shadow = decay shadow + (1 - decay) p, in shadow's dtype.
void ema_update(const Tensor& shadow, const Tensor& p, double decay);

}  // namespace scorch::cuda
