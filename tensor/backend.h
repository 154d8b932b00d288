// backend.h: what a device backend provides, declared in the tensor layer with no device types.
//
// The layers depend one way (docs/architecture.md): tensor <- cuda <- autograd <- nn <- samplers <- apps.
// So nothing in tensor/, autograd/ or nn/ includes cuda/: they call the functions below, and a backend
// plugs in at link time by defining them. cuda/ (built when CUDA is found) defines every one for
// DeviceType::cuda; a build without CUDA links cuda/device_stub.cpp instead, where device_count() is
// 0, check_device throws "this build has no CUDA backend" and the kernels are never reached (no device
// tensor can be made). Adding a backend means defining this file's functions, not editing the ops.
//
// Who calls what:
//   tensor/     allocator, fill, copy, fill_random (Tensor::fill_, copy_, the RNG), check_device
//   autograd/   an op on device tensors runs its struct's device() member (autograd/apply.h), which
//               calls its family's entry below; synchronize and the trace ranges (the profiler)
//   nn/         the fused optimizer updates (nn/optim.cpp)
// The CPU side of each op family lives with its op (autograd/ops/<family>.cpp); the per-element math
// both sides run is in tensor/*_fns.h and tensor/image_index.h.
//
// Each entry queues its work on the device's current stream and returns without waiting, except
// copies to or from the CPU, which wait for their data.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tensor/elementwise_fns.h"
#include "tensor/image_index.h"
#include "tensor/optim_fns.h"
#include "tensor/tensor.h"

namespace scorch {
struct Allocator;
}

namespace scorch::backend {

// ---- the device ------------------------------------------------------------------------------------

bool is_built();     // a device backend is linked (CUDA found at build time)
int device_count();  // 0 without a driver or device

// Throws std::runtime_error unless `device` is a device of the backend that exists here:
//   "<what>: this build has no CUDA backend", "<what>: no CUDA device",
//   "<what>: cuda:3 does not exist (2 CUDA devices)".
inline void check_device(std::string_view what, Device device) {
  const std::string w(what);
  if (!is_built()) throw std::runtime_error(w + ": this build has no CUDA backend");
  const int n = device_count();
  if (n == 0) throw std::runtime_error(w + ": no CUDA device");
  if (!device.is_cuda() || device.index < 0 || device.index >= n)
    throw std::runtime_error(w + ": " + device.str() + " does not exist (" + std::to_string(n) + " CUDA device" +
                             (n == 1 ? "" : "s") + ")");
}

// Blocks the calling thread until everything queued on the device's current stream has finished;
// throws as check_device when there is no such device.
void synchronize(int device = 0);

// The allocator of the backend's device type (tensor/storage.cpp's table; null without a backend).
Allocator* allocator();

// Named ranges in the backend's trace (NVTX under CUDA, seen by Nsight Systems): every op, backward
// node and scorch::ProfileRange opens one (autograd/profiler.h). No-ops without a backend.
void range_push(const char* name);
void range_pop();

// ---- tensor/ ----------------------------------------------------------------------------------------

// Every element of the CUDA tensor t (any layout) = value, converted to t's dtype.
void fill(const Tensor& t, double value);
// dst = src converted to dst's dtype and broadcast to its shape; either or both on a CUDA device.
// Tensor::copy_ checks the shapes, that dst is not expanded and that the two do not overlap.
void copy(const Tensor& dst, const Tensor& src);

// A draw of the Philox RNG (tensor/random.h) into the fresh, contiguous CUDA tensor out: the values of
// counter blocks first_block, first_block + 1, ... under the key of `seed`, as the CPU computes them.
enum class RandomKind : uint8_t { uniform, normal, integer };
struct RandomDraw {
  RandomKind kind = RandomKind::uniform;
  uint64_t seed = 0;
  uint64_t first_block = 0;
  int64_t low = 0;  // integer: values in [low, low + range)
  uint64_t range = 0;
};
void fill_random(const Tensor& out, const RandomDraw& draw);

// ---- autograd/ops/elementwise (the backend instantiates one per functor) ----------------------

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

// ---- autograd/ops/group_norm ---------------------------------------------------------

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

// ---- autograd/ops/pool, upsample -------------------------------------
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

// ---- autograd/ops/matmul ------------------------------------------------------------------

// out [..., M, N] (fresh, contiguous) = a [..., M, K] @ b [..., K, N], batch dims broadcast.
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);
// out [..., N] (fresh, contiguous) = x [..., K] w^T + bias, w [N, K], bias [N].
void linear(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out);

// ---- autograd/ops/conv2d ---------------------------------------------------

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

// ---- nn/optim: one fused kernel per parameter and step, tensor/optim_fns.h's formulas ------------------

// p, g, buf (undefined without momentum), m, v contiguous, of one dtype T, on one device.
template <typename T>
void sgd_update(const Tensor& p, const Tensor& g, const Tensor& buf, const fns::SgdCoefficients<T>& c);
template <typename T>
void adam_update(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const fns::AdamCoefficients<T>& c,
                 bool decay);
// shadow = decay shadow + (1 - decay) p, in shadow's dtype.
void ema_update(const Tensor& shadow, const Tensor& p, double decay);

// The explicit instantiations of the templated entries above, one per functor of
// tensor/elementwise_fns.h's lists and per float type: the file of a backend that defines the
// templates (and the stub) expands these inside namespace scorch::backend.
#define SCORCH_BACKEND_UNARY(Fn) \
  template void unary<fns::Fn>(std::string_view, const fns::Fn&, const Tensor&, const Tensor&);
#define SCORCH_BACKEND_BINARY(Fn) \
  template void binary<fns::Fn>(std::string_view, const fns::Fn&, const Tensor&, const Tensor&, const Tensor&);
#define SCORCH_BACKEND_TERNARY(Fn)                                                                              \
  template void ternary<fns::Fn>(std::string_view, const fns::Fn&, const Tensor&, const Tensor&, const Tensor&, \
                                 const Tensor&);
#define SCORCH_BACKEND_INSTANTIATE_ELEMENTWISE() \
  SCORCH_UNARY_FNS(SCORCH_BACKEND_UNARY)         \
  SCORCH_BINARY_FNS(SCORCH_BACKEND_BINARY) SCORCH_TERNARY_FNS(SCORCH_BACKEND_TERNARY)
#define SCORCH_BACKEND_INSTANTIATE_OPTIM()                                                                            \
  template void sgd_update<float>(const Tensor&, const Tensor&, const Tensor&, const fns::SgdCoefficients<float>&);   \
  template void sgd_update<double>(const Tensor&, const Tensor&, const Tensor&, const fns::SgdCoefficients<double>&); \
  template void adam_update<float>(const Tensor&, const Tensor&, const Tensor&, const Tensor&,                        \
                                   const fns::AdamCoefficients<float>&, bool);                                        \
  template void adam_update<double>(const Tensor&, const Tensor&, const Tensor&, const Tensor&,                       \
                                    const fns::AdamCoefficients<double>&, bool);

}  // namespace scorch::backend
