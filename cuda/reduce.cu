// reduce.cu: sum, mean and max over dims on a CUDA device (autograd/ops/reduce.cpp has the formulas).
//
// Output o folds a[kept(o) + reduced(r)] over r < length (cuda/loops.h's ReducePlan), accumulating sums
// in double as the CPU does. Two kernels:
//   short folds (length <= kShortFold): one thread per output, a plain loop;
//   longer ones: one block of kReduceThreads per output, threads striding over r, then a tree in
//   shared memory. With few outputs and long folds (a sum of everything) the range is split into
//   chunks of kChunk terms, one block per (output, chunk), and a second kernel folds each output's
//   chunk partials in order.
// Every choice depends on the shape alone, so the same input gives the same bits on every run and GPU.
#include <cmath>

#include "cuda/check.h"
#include "cuda/loops.h"
#include "tensor/backend.h"
#include "cuda/runtime.h"

namespace scorch::cuda {
namespace {

constexpr int kReduceThreads = 256;  // a power of two (the tree halves it)
constexpr int64_t kShortFold = 64;
constexpr int64_t kFewOutputs = 1024;
constexpr int64_t kChunk = 32768;

template <typename T>
struct SumFold {
  using Acc = double;
  static SCORCH_HOST_DEVICE Acc init() { return 0; }
  static SCORCH_HOST_DEVICE Acc step(Acc acc, T x) { return acc + static_cast<Acc>(x); }
  static SCORCH_HOST_DEVICE Acc merge(Acc a, Acc b) { return a + b; }
};

template <typename T>
struct MaxFold {
  using Acc = T;
  static SCORCH_HOST_DEVICE Acc init() { return static_cast<T>(-INFINITY); }
  static SCORCH_HOST_DEVICE Acc step(Acc acc, T x) { return x > acc || x != x ? x : acc; }  // NaN wins, as on the CPU
  static SCORCH_HOST_DEVICE Acc merge(Acc a, Acc b) { return step(a, b); }
};

template <typename T>
struct CastFinish {
  template <typename Acc>
  SCORCH_HOST_DEVICE T operator()(Acc acc) const {
    return static_cast<T>(acc);
  }
};
template <typename T>
struct MeanFinish {
  double count;  // 0 gives 0/0 = NaN, as torch.mean
  SCORCH_HOST_DEVICE T operator()(double sum) const { return static_cast<T>(sum / count); }
};

template <typename F, typename T, typename Finish>
__global__ void reduce_short_kernel(const T* in, ReducePlan p, T* out, Finish finish) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < p.outputs; o += step) {
    int64_t base[1], off[1];
    p.kept.get(o, base);
    typename F::Acc acc = F::init();
    for (int64_t r = 0; r < p.length; ++r) {
      p.reduced.get(r, off);
      acc = F::step(acc, in[base[0] + off[0]]);
    }
    out[o] = finish(acc);
  }
}

// Task t = o * chunks + c folds terms [c * chunk, min(length, (c + 1) * chunk)) of output o; with one
// chunk it writes out[o], else partial[t]. All threads of a block run the same tasks, so the barriers
// are reached by every thread.
template <typename F, typename T, typename Finish>
__global__ void reduce_block_kernel(const T* in, ReducePlan p, int64_t chunks, int64_t chunk, T* out,
                                    typename F::Acc* partial, Finish finish) {
  using Acc = typename F::Acc;
  __shared__ Acc shared[kReduceThreads];
  const int tid = threadIdx.x;
  for (int64_t task = blockIdx.x; task < p.outputs * chunks; task += gridDim.x) {
    const int64_t o = task / chunks, c = task % chunks;
    const int64_t r_end = c * chunk + chunk < p.length ? c * chunk + chunk : p.length;
    int64_t base[1], off[1];
    p.kept.get(o, base);
    Acc acc = F::init();
    for (int64_t r = c * chunk + tid; r < r_end; r += kReduceThreads) {
      p.reduced.get(r, off);
      acc = F::step(acc, in[base[0] + off[0]]);
    }
    shared[tid] = acc;
    __syncthreads();
    for (int s = kReduceThreads / 2; s > 0; s /= 2) {
      if (tid < s) shared[tid] = F::merge(shared[tid], shared[tid + s]);
      __syncthreads();
    }
    if (tid == 0) {
      if (chunks == 1)
        out[o] = finish(shared[0]);
      else
        partial[task] = shared[0];
    }
    __syncthreads();  // shared[0] is read above before the next task overwrites it
  }
}

template <typename F, typename T, typename Finish>
__global__ void reduce_chunks_kernel(const typename F::Acc* partial, int64_t outputs, int64_t chunks, T* out,
                                     Finish finish) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs; o += step) {
    typename F::Acc acc = partial[o * chunks];
    for (int64_t c = 1; c < chunks; ++c) acc = F::merge(acc, partial[o * chunks + c]);
    out[o] = finish(acc);
  }
}

template <typename F, typename T, typename Finish>
void reduce_cuda(const Tensor& a, const ReducePlan& p, const Tensor& out, const Finish& finish) {
  using Acc = typename F::Acc;
  if (p.length == 0) {  // an empty fold: every output is finish(init) (sum 0, mean NaN)
    backend::fill(out, static_cast<double>(finish(F::init())));
    return;
  }
  const int device = a.device().index;
  const cudaStream_t stream = current_stream(device);
  DeviceGuard guard(device);
  const T* in = a.data<T>();
  T* y = out.data<T>();
  if (p.length <= kShortFold) {
    reduce_short_kernel<F><<<blocks_for(p.outputs), kThreads, 0, stream>>>(in, p, y, finish);
    SCORCH_CUDA_CHECK(cudaGetLastError());
    return;
  }
  const int64_t chunks = p.outputs < kFewOutputs && p.length >= 2 * kChunk ? (p.length + kChunk - 1) / kChunk : 1;
  const int64_t chunk = chunks == 1 ? p.length : kChunk;
  Tensor partial;  // freed on return; stream order keeps it alive for the kernels queued below
  if (chunks > 1) partial = empty({p.outputs * chunks}, {.dtype = dtype_of<Acc>(), .device = a.device()});
  Acc* partial_data = chunks > 1 ? partial.data<Acc>() : nullptr;
  const unsigned blocks = static_cast<unsigned>(std::min(p.outputs * chunks, kMaxBlocks));
  reduce_block_kernel<F><<<blocks, kReduceThreads, 0, stream>>>(in, p, chunks, chunk, y, partial_data, finish);
  SCORCH_CUDA_CHECK(cudaGetLastError());
  if (chunks > 1) {
    reduce_chunks_kernel<F><<<blocks_for(p.outputs), kThreads, 0, stream>>>(partial_data, p.outputs, chunks, y, finish);
    SCORCH_CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace
}  // namespace scorch::cuda

// The entries of tensor/backend.h that this file defines.
namespace scorch::backend {
using namespace cuda;

void reduce(ReduceKind kind, const Tensor& a, uint32_t mask, const Tensor& out) {
  const cuda::ReducePlan p =
      cuda::make_reduce_plan(a, mask);  // qualified: ADL on Tensor also finds scorch::make_reduce_plan
  if (p.outputs == 0) return;
  const char* name = kind == ReduceKind::sum ? "sum" : kind == ReduceKind::mean ? "mean" : "max";
  dispatch_float(name, a.dtype(), [&]<typename T>() {
    switch (kind) {
      case ReduceKind::sum: reduce_cuda<SumFold<T>, T>(a, p, out, CastFinish<T>{}); break;
      case ReduceKind::mean: reduce_cuda<SumFold<T>, T>(a, p, out, MeanFinish<T>{static_cast<double>(p.length)}); break;
      case ReduceKind::max: reduce_cuda<MaxFold<T>, T>(a, p, out, CastFinish<T>{}); break;
    }
  });
}

}  // namespace scorch::backend
