// conv2d.cpp: conv2d, its data gradient and its weight gradient on a CUDA device, through cuDNN 9
// (cudnnConvolutionForward, cudnnConvolutionBackwardData, cudnnConvolutionBackwardFilter), NCHW,
// float32 and float64. The shapes and formulas are autograd/ops/conv2d.h's; that file checks them.
//
// Algorithms. cuDNN has several per pass (implicit GEMM, FFT, Winograd, ...). The first call of each
// (pass, device, dtype, shapes, stride, padding, dilation, TF32, deterministic) asks cuDNN's
// heuristics for the candidates, then times them on the call's own buffers
// (cudnnFind*AlgorithmEx, which writes the output the call is about to write anyway) and keeps the
// fastest that fits the workspace cap. Under cuda::set_deterministic(true) nothing is timed: the choice
// is the heuristics' first candidate that reports CUDNN_DETERMINISTIC (no atomics in the gradients'
// reductions), so that it does not depend on timing noise either: two deterministic algorithms need
// not give the same bits as each other. The choice is cached;
// later calls of the same shape go straight to the convolution. The workspace comes from scorch's
// caching allocator (a uint8 tensor on the device, back in the cache when the call returns), never from
// a cudaMalloc on the hot path; the timing search takes at most kWorkspaceCap bytes of it.
//
// Precision. float32 convolutions run with CUDNN_FMA_MATH (full float32 products, no TF32), unless
// cuda::set_allow_tf32(true), which allows CUDNN_TENSOR_OP_MATH as for cuBLAS. float64 uses the only
// math cuDNN has for it.
//
// NOTE: this is cuDNN's legacy convolution API, deprecated in cuDNN 9 in favour of the graph API but
// still shipped and supported in libcudnn_cnn; its declarations carry deprecation attributes, silenced
// below for this file only.
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <climits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/check.h"
#include "cuda/device.h"
#include "tensor/backend.h"
#include "cuda/runtime.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace scorch::cuda {
namespace {

// The most workspace an algorithm may take: the search allocates up to this much once per shape.
constexpr size_t kWorkspaceCap = size_t{512} << 20;

cudnnHandle_t handle(int device) {
  return per_device_handle<struct Cudnn, cudnnHandle_t>(device, [](cudaStream_t stream) {
    cudnnHandle_t h = nullptr;
    SCORCH_CUDNN_CHECK(cudnnCreate(&h));
    SCORCH_CUDNN_CHECK(cudnnSetStream(h, stream));
    return h;
  });
}

int to_int(const char* op, int64_t v) {
  if (v > INT_MAX) throw std::invalid_argument(std::string(op) + ": a dim over 2^31 - 1 does not fit cuDNN's int");
  return static_cast<int>(v);
}

cudnnDataType_t data_type(const char* op, DType t) {
  if (t == kFloat32) return CUDNN_DATA_FLOAT;
  if (t == kFloat64) return CUDNN_DATA_DOUBLE;
  throw std::invalid_argument(std::string(op) + ": cuDNN convolutions take float32 or float64, got " +
                              std::string(dtype_name(t)));
}

// The descriptors of one convolution: x [N, C, H, W], w [K, C, R, S], y [N, K, P, Q].
class Descriptors {
 public:
  Descriptors(const char* op, DType dtype, const Shape& x, const Shape& w, const Shape& y, const ConvParams& p) {
    const cudnnDataType_t t = data_type(op, dtype);
    SCORCH_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_));
    SCORCH_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_));
    SCORCH_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_));
    SCORCH_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_));
    auto i = [op](int64_t v) { return to_int(op, v); };
    SCORCH_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NCHW, t, i(x[0]), i(x[1]), i(x[2]), i(x[3])));
    SCORCH_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NCHW, t, i(y[0]), i(y[1]), i(y[2]), i(y[3])));
    SCORCH_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_, t, CUDNN_TENSOR_NCHW, i(w[0]), i(w[1]), i(w[2]), i(w[3])));
    SCORCH_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_, i(p.padding), i(p.padding), i(p.stride), i(p.stride),
                                                       i(p.dilation), i(p.dilation), CUDNN_CROSS_CORRELATION, t));
    const cudnnMathType_t math =
        dtype == kFloat32 ? (allow_tf32() ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH) : CUDNN_DEFAULT_MATH;
    SCORCH_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_, math));
  }
  ~Descriptors() {  // a destructor does not throw: statuses ignored
    cudnnDestroyConvolutionDescriptor(conv_);
    cudnnDestroyFilterDescriptor(w_);
    cudnnDestroyTensorDescriptor(y_);
    cudnnDestroyTensorDescriptor(x_);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;

  cudnnTensorDescriptor_t x() const { return x_; }
  cudnnTensorDescriptor_t y() const { return y_; }
  cudnnFilterDescriptor_t w() const { return w_; }
  cudnnConvolutionDescriptor_t conv() const { return conv_; }

 private:
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
};

enum class Pass : int64_t { forward, data, filter };

// What the cached choice depends on.
using Key = std::array<int64_t, 19>;
Key make_key(Pass pass, int device, DType dtype, const Shape& x, const Shape& w, const ConvParams& p) {
  return {static_cast<int64_t>(pass),
          device,
          static_cast<int64_t>(dtype),
          x[0],
          x[1],
          x[2],
          x[3],
          w[0],
          w[1],
          w[2],
          w[3],
          p.stride,
          p.padding,
          p.dilation,
          allow_tf32(),
          deterministic(),
          0,
          0,
          0};
}

struct Choice {
  int algo = 0;
  size_t workspace = 0;
};

std::mutex cache_mutex;
std::map<Key, Choice>& cache() {
  static std::map<Key, Choice> choices;
  return choices;
}

// A device buffer of n bytes from the caching allocator (undefined when n is 0).
Tensor workspace(size_t n, int device) {
  if (n == 0) return Tensor();
  return empty({static_cast<int64_t>(n)}, {.dtype = kUInt8, .device = Device::cuda(device)});
}
void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// The first usable result of a search (cuDNN sorts them fastest first).
template <typename Perf>
Choice pick(const char* op, const std::vector<Perf>& results, int count, size_t cap) {
  for (int i = 0; i < count; ++i) {
    const Perf& r = results[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > cap) continue;
    if (deterministic() && r.determinism != CUDNN_DETERMINISTIC) continue;
    return {static_cast<int>(r.algo), r.memory};
  }
  throw std::runtime_error(std::string(op) + ": cuDNN offers no algorithm for this shape" +
                           (deterministic() ? " that is deterministic" : "") + " within " + std::to_string(cap >> 20) +
                           " MiB of workspace");
}

// The workspace to search with: the most any heuristic candidate wants, up to the cap.
template <typename Perf>
size_t search_workspace(const std::vector<Perf>& candidates, int count) {
  size_t most = 0;
  for (int i = 0; i < count; ++i)
    if (candidates[i].status == CUDNN_STATUS_SUCCESS && candidates[i].memory <= kWorkspaceCap)
      most = std::max(most, candidates[i].memory);
  return most;
}

// The cached choice for key, or search(), which returns a new one to cache.
template <typename Search>
Choice choose(const Key& key, Search search) {
  {
    std::lock_guard lock(cache_mutex);
    if (auto it = cache().find(key); it != cache().end()) return it->second;
  }
  const Choice choice = search();  // outside the lock: it runs convolutions
  std::lock_guard lock(cache_mutex);
  return cache().emplace(key, choice).first->second;
}

// alpha = 1 and beta = 0 or 1 in the type cuDNN expects for the data type: double for float64, else float.
struct Scale {
  float f;
  double d;
  const void* of(DType t) const { return t == kFloat64 ? static_cast<const void*>(&d) : static_cast<const void*>(&f); }
};
constexpr Scale kOne{1.0f, 1.0}, kZero{0.0f, 0.0};

}  // namespace
}  // namespace scorch::cuda

// The entries of tensor/backend.h that this file defines.
namespace scorch::backend {
using namespace cuda;

void conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b, const Tensor& out, const ConvParams& p) {
  constexpr const char* op = "conv2d";
  if (out.numel() == 0) return;
  const int device = out.device().index;
  if (x_in.shape()[1] == 0) {  // an empty sum over channels: y = bias (or 0), as on the CPU
    if (b.defined())
      out.copy_(b.reshape({b.numel(), 1, 1}));  // copy_ broadcasts
    else
      fill(out, 0.0);
    return;
  }
  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const DType t = out.dtype();
  const Descriptors d(op, t, x.shape(), w.shape(), out.shape(), p);
  const cudnnHandle_t h = handle(device);
  DeviceGuard guard(device);
  const Choice c = choose(make_key(Pass::forward, device, t, x.shape(), w.shape(), p), [&] {
    int count = 0;
    std::vector<cudnnConvolutionFwdAlgoPerf_t> r(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    SCORCH_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x(), d.w(), d.conv(), d.y(),
                                                              static_cast<int>(r.size()), &count, r.data()));
    const size_t bytes = search_workspace(r, count);
    if (deterministic()) return pick(op, r, count, bytes);  // heuristics' order, not timings (see the top)
    const Tensor ws = workspace(bytes, device);
    SCORCH_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, d.x(), x.raw_data(), d.w(), w.raw_data(), d.conv(),
                                                              d.y(), out.raw_data(), static_cast<int>(r.size()), &count,
                                                              r.data(), data_or_null(ws), bytes));
    return pick(op, r, count, bytes);
  });
  const Tensor ws = workspace(c.workspace, device);
  SCORCH_CUDNN_CHECK(cudnnConvolutionForward(h, kOne.of(t), d.x(), x.raw_data(), d.w(), w.raw_data(), d.conv(),
                                             static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), data_or_null(ws),
                                             c.workspace, kZero.of(t), d.y(), out.raw_data()));
  if (b.defined()) {  // y += bias, broadcast over n, p, q
    const Tensor bc = b.contiguous();
    cudnnTensorDescriptor_t bias = nullptr;
    SCORCH_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    const cudnnStatus_t status =
        cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, data_type(op, t), 1, to_int(op, bc.numel()), 1, 1);
    const cudnnStatus_t added = status == CUDNN_STATUS_SUCCESS ? cudnnAddTensor(h, kOne.of(t), bias, bc.raw_data(),
                                                                                kOne.of(t), d.y(), out.raw_data())
                                                               : status;
    cudnnDestroyTensorDescriptor(bias);
    SCORCH_CUDNN_CHECK(added);
  }
}

void conv2d_backward_input(const Tensor& g_in, const Tensor& w_in, const Tensor& out, const ConvParams& p) {
  constexpr const char* op = "conv2d_backward_input";
  if (out.numel() == 0) return;
  const int device = out.device().index;
  if (g_in.numel() == 0) {  // no output channels (K = 0) or no output pixels: nothing flows back
    fill(out, 0.0);
    return;
  }
  const Tensor g = g_in.contiguous(), w = w_in.contiguous();
  const DType t = out.dtype();
  const Descriptors d(op, t, out.shape(), w.shape(), g.shape(), p);
  const cudnnHandle_t h = handle(device);
  DeviceGuard guard(device);
  const Choice c = choose(make_key(Pass::data, device, t, out.shape(), w.shape(), p), [&] {
    int count = 0;
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> r(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
    SCORCH_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w(), d.y(), d.conv(), d.x(),
                                                                   static_cast<int>(r.size()), &count, r.data()));
    const size_t bytes = search_workspace(r, count);
    if (deterministic()) return pick(op, r, count, bytes);
    const Tensor ws = workspace(bytes, device);
    SCORCH_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
        h, d.w(), w.raw_data(), d.y(), g.raw_data(), d.conv(), d.x(), out.raw_data(), static_cast<int>(r.size()),
        &count, r.data(), data_or_null(ws), bytes));
    return pick(op, r, count, bytes);
  });
  const Tensor ws = workspace(c.workspace, device);
  SCORCH_CUDNN_CHECK(cudnnConvolutionBackwardData(h, kOne.of(t), d.w(), w.raw_data(), d.y(), g.raw_data(), d.conv(),
                                                  static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), data_or_null(ws),
                                                  c.workspace, kZero.of(t), d.x(), out.raw_data()));
}

void conv2d_backward_weight(const Tensor& x_in, const Tensor& g_in, const Tensor& out, const ConvParams& p) {
  constexpr const char* op = "conv2d_backward_weight";
  if (out.numel() == 0) return;
  const int device = out.device().index;
  if (g_in.numel() == 0) {  // no samples or no output pixels: an empty sum
    fill(out, 0.0);
    return;
  }
  const Tensor x = x_in.contiguous(), g = g_in.contiguous();
  const DType t = out.dtype();
  const Descriptors d(op, t, x.shape(), out.shape(), g.shape(), p);
  const cudnnHandle_t h = handle(device);
  DeviceGuard guard(device);
  const Choice c = choose(make_key(Pass::filter, device, t, x.shape(), out.shape(), p), [&] {
    int count = 0;
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> r(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
    SCORCH_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x(), d.y(), d.conv(), d.w(),
                                                                     static_cast<int>(r.size()), &count, r.data()));
    const size_t bytes = search_workspace(r, count);
    if (deterministic()) return pick(op, r, count, bytes);
    const Tensor ws = workspace(bytes, device);
    SCORCH_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        h, d.x(), x.raw_data(), d.y(), g.raw_data(), d.conv(), d.w(), out.raw_data(), static_cast<int>(r.size()),
        &count, r.data(), data_or_null(ws), bytes));
    return pick(op, r, count, bytes);
  });
  const Tensor ws = workspace(c.workspace, device);
  SCORCH_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, kOne.of(t), d.x(), x.raw_data(), d.y(), g.raw_data(), d.conv(),
                                                    static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo),
                                                    data_or_null(ws), c.workspace, kZero.of(t), d.w(), out.raw_data()));
}

}  // namespace scorch::backend

namespace scorch::cuda {

size_t conv_algorithm_cache_size() {
  std::lock_guard lock(cache_mutex);
  return cache().size();
}

int cudnn_version() { return static_cast<int>(cudnnGetVersion()); }

}  // namespace scorch::cuda
