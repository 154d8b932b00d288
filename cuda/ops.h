// ops.h: the entry points of the CUDA backend that the rest of scorch calls, with no CUDA types.
// tensor/ calls fill, copy and fill_random for CUDA tensors (a CPU-only build links throwing stubs,
// never reached: no CUDA tensor can exist there); the Op structs of autograd/ops call the rest from
// their cuda() members, which exist only when SCORCH_HAS_CUDA (autograd/apply.h picks cpu() or cuda()
// by the output's device). Each entry point queues its work on the device's current stream and
// returns without waiting, except copies to or from the CPU, which wait for their data.
#pragma once
#include <cstdint>
#include <string_view>

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

}  // namespace scorch::cuda
