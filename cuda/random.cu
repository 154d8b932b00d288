// random.cu: rand, randn and randint on a CUDA device. One thread per counter block (grid-stride),
// each running write_random_block of tensor/random.h, the same host/device code that defines the CPU
// stream: same seed and offset, same numbers (uniforms and integers bit for bit; normals too, but for
// the rare value where CUDA's double log/sin/cos and libm's round to different float32 results).
#include "cuda/check.h"
#include "tensor/backend.h"
#include "cuda/runtime.h"
#include "tensor/random.h"

namespace scorch::cuda {
namespace {

template <typename T, int P, typename BlockFn>
__global__ void random_kernel(T* out, int64_t n, int64_t blocks, uint64_t first, PhiloxKey key, BlockFn fn) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += step)
    write_random_block<T, P>(out, n, first, b, key, fn);
}

template <typename T, int P, typename BlockFn>
void launch(const Tensor& out, const RandomDraw& draw, const BlockFn& fn) {
  const int64_t n = out.numel(), blocks = (n + P - 1) / P;
  const int device = out.device().index;
  const cudaStream_t stream = current_stream(device);
  DeviceGuard guard(device);
  random_kernel<T, P><<<blocks_for(blocks), kThreads, 0, stream>>>(out.data<T>(), n, blocks, draw.first_block,
                                                                   philox_key(draw.seed), fn);
  SCORCH_CUDA_CHECK(cudaGetLastError());
}

}  // namespace
}  // namespace scorch::cuda

// The entries of tensor/backend.h that this file defines.
namespace scorch::backend {
using namespace cuda;

void fill_random(const Tensor& out, const RandomDraw& draw) {
  if (!out.is_contiguous()) throw std::logic_error("cuda::fill_random: the output must be contiguous");
  if (out.numel() == 0) return;
  switch (draw.kind) {
    case RandomKind::uniform:
      dispatch_float("rand", out.dtype(),
                     [&]<typename T>() { launch<T, kRandPerBlock<T>>(out, draw, UniformBlock{}); });
      break;
    case RandomKind::normal:
      dispatch_float("randn", out.dtype(),
                     [&]<typename T>() { launch<T, kRandPerBlock<T>>(out, draw, NormalBlock{}); });
      break;
    case RandomKind::integer:
      dispatch_all(out.dtype(), [&]<typename T>() {
        launch<T, kRandintPerBlock>(out, draw, IntegerBlock{draw.low, draw.range});
      });
      break;
  }
}

}  // namespace scorch::backend
