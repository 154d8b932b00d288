// norm.cu: group_norm and group_norm_silu on a CUDA device, forward and the fused backward
// (autograd/ops/group_norm.h has the formulas, group_norm_fns.h the per-element code both devices run).
//
// One block per (n, group), as the CPU gives one task per group: a group of D = C/G * S contiguous
// elements (3,136 for unet-small's [64, 32, 28, 28] / 8 groups) is read by the block's threads with a
// stride of the block size, so reads are coalesced, and its sums are reduced in shared memory in double.
// The forward takes three passes (sum, squared deviations, output), as the CPU's two-pass moments do;
// the backward two (per-channel sums, then gx), the group's data staying in L2 between passes. The
// per-(n, c) sums dot and sum are written for the weight and bias gradients, which group_norm.cpp
// finishes with ops on the device. Deterministic: every sum is a fixed tree over a fixed split.
#include "tensor/group_norm_fns.h"
#include "cuda/check.h"
#include "tensor/backend.h"
#include "cuda/runtime.h"

namespace scorch::cuda {
namespace {

constexpr int kNormThreads = 256;  // a power of two: block_sum halves it

// The sum of every thread's v over the block, returned to all of them. shared holds kNormThreads doubles.
__device__ double block_sum(double v, double* shared) {
  const int tid = threadIdx.x;
  shared[tid] = v;
  __syncthreads();
  for (int s = kNormThreads / 2; s > 0; s >>= 1) {
    if (tid < s) shared[tid] += shared[tid + s];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();  // everyone has read shared[0] before the next call overwrites it
  return total;
}

template <bool kSilu, typename T>
__global__ void __launch_bounds__(kNormThreads)
    group_norm_forward_kernel(NormDims d, const T* x, const T* w, const T* b, double eps, T* y, double* mean,
                              double* rstd) {
  __shared__ double shared[kNormThreads];
  const int64_t ng = blockIdx.x, Cg = d.C / d.G, D = Cg * d.S, c0 = (ng % d.G) * Cg;
  const T* xg = x + ng * D;
  T* yg = y + ng * D;
  double s = 0;
  for (int64_t i = threadIdx.x; i < D; i += kNormThreads) s += static_cast<double>(xg[i]);
  const double mu = block_sum(s, shared) / static_cast<double>(D);
  double v = 0;
  for (int64_t i = threadIdx.x; i < D; i += kNormThreads) {
    const double e = static_cast<double>(xg[i]) - mu;
    v += e * e;
  }
  const double r = 1.0 / sqrt(block_sum(v, shared) / static_cast<double>(D) + eps);
  if (threadIdx.x == 0) mean[ng] = mu, rstd[ng] = r;
  const T m = static_cast<T>(mu);
  for (int64_t i = threadIdx.x; i < D; i += kNormThreads) {
    const int64_t c = c0 + i / d.S;
    const T scale = static_cast<T>(w ? r * static_cast<double>(w[c]) : r), shift = b ? b[c] : T(0);
    yg[i] = fns::group_norm_value<kSilu>(xg[i], m, scale, shift);
  }
}

template <bool kSilu, typename T>
__global__ void __launch_bounds__(kNormThreads)
    group_norm_backward_kernel(NormDims d, const T* g, const T* x, const T* w, const T* b, const double* mean,
                               const double* rstd, T* gx, double* dot, double* sum) {
  __shared__ double shared[kNormThreads];
  const int64_t ng = blockIdx.x, Cg = d.C / d.G, S = d.S, D = Cg * S, c0 = (ng % d.G) * Cg, nc0 = ng * Cg;
  const double mu = mean[ng], r = rstd[ng];
  const T m = static_cast<T>(mu);
  double dot_w = 0, sum_w = 0;  // over the group: sums of w_c gy (x - m) and of w_c gy
  for (int64_t j = 0; j < Cg; ++j) {
    const int64_t off = ng * D + j * S;
    const double wc = w ? static_cast<double>(w[c0 + j]) : 1.0;
    const T scale = static_cast<T>(r * wc), shift = b ? b[c0 + j] : T(0);
    double pd = 0, ps = 0;
    for (int64_t i = threadIdx.x; i < S; i += kNormThreads) {
      const T gy = fns::group_norm_grad_of_affine<kSilu>(g[off + i], x[off + i], m, scale, shift);
      if constexpr (kSilu) gx[off + i] = gy;  // read back below by this same thread
      pd += static_cast<double>(gy) * static_cast<double>(x[off + i] - m);
      ps += static_cast<double>(gy);
    }
    const double dj = block_sum(pd, shared), sj = block_sum(ps, shared);
    if (threadIdx.x == 0) dot[nc0 + j] = dj, sum[nc0 + j] = sj;
    dot_w += wc * dj, sum_w += wc * sj;
  }
  const auto [beta, gamma] = fns::group_norm_input_coefficients(r, dot_w, sum_w, D);
  for (int64_t j = 0; j < Cg; ++j) {
    const int64_t off = ng * D + j * S;
    const T alpha = static_cast<T>(r * (w ? static_cast<double>(w[c0 + j]) : 1.0));
    for (int64_t i = threadIdx.x; i < S; i += kNormThreads) {
      const T gy = kSilu ? gx[off + i] : g[off + i];
      gx[off + i] = fns::group_norm_grad_input(gy, x[off + i], m, alpha, static_cast<T>(beta), static_cast<T>(gamma));
    }
  }
}

template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Launches kernel<kSilu> with one block per (n, group) on x's device and stream.
template <typename Launch>
void launch_per_group(const NormDims& d, const Tensor& x, Launch launch) {
  const int64_t groups = d.N * d.G;
  if (groups == 0) return;
  const int device = x.device().index;
  const cudaStream_t stream = current_stream(device);
  DeviceGuard guard(device);
  launch(static_cast<unsigned>(groups), stream);
  SCORCH_CUDA_CHECK(cudaGetLastError());
}

}  // namespace
}  // namespace scorch::cuda

// The entries of tensor/backend.h that this file defines.
namespace scorch::backend {
using namespace cuda;

void group_norm_forward(bool silu, const NormDims& d, const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                        const Tensor& y, const Tensor& mean, const Tensor& rstd) {
  dispatch_float(silu ? "group_norm_silu" : "group_norm", x.dtype(), [&]<typename T>() {
    launch_per_group(d, x, [&](unsigned blocks, cudaStream_t stream) {
      auto kernel = silu ? group_norm_forward_kernel<true, T> : group_norm_forward_kernel<false, T>;
      kernel<<<blocks, kNormThreads, 0, stream>>>(d, x.data<T>(), data_or_null<T>(w), data_or_null<T>(b), eps,
                                                  y.data<T>(), mean.data<double>(), rstd.data<double>());
    });
  });
}

void group_norm_backward(bool silu, const NormDims& d, const Tensor& g, const Tensor& x, const Tensor& w,
                         const Tensor& b, const Tensor& mean, const Tensor& rstd, const Tensor& gx, const Tensor& dot,
                         const Tensor& sum) {
  dispatch_float(silu ? "group_norm_silu" : "group_norm", x.dtype(), [&]<typename T>() {
    launch_per_group(d, x, [&](unsigned blocks, cudaStream_t stream) {
      auto kernel = silu ? group_norm_backward_kernel<true, T> : group_norm_backward_kernel<false, T>;
      kernel<<<blocks, kNormThreads, 0, stream>>>(d, g.data<T>(), x.data<T>(), data_or_null<T>(w), data_or_null<T>(b),
                                                  mean.data<double>(), rstd.data<double>(), gx.data<T>(),
                                                  dot.data<double>(), sum.data<double>());
    });
  });
}

}  // namespace scorch::backend
