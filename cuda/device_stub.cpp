// device_stub.cpp: tensor/backend.h in a build without CUDA: no backend, no device. device_count() is
// 0, so check_device refuses every device tensor before one is made, and the kernels below, which
// throw "this build has no CUDA backend", are never reached. Also the switches and statistics of
// cuda/device.h, which apps and tests call in any build.
#include "cuda/device.h"
#include "tensor/backend.h"
#include "tensor/elementwise_fns.h"

namespace scorch::cuda {
namespace {

bool tf32_allowed = false;
bool deterministic_on = false;

}  // namespace

void set_allow_tf32(bool allow) { tf32_allowed = allow; }
bool allow_tf32() { return tf32_allowed; }
void set_deterministic(bool on) { deterministic_on = on; }
bool deterministic() { return deterministic_on; }
AllocatorStats memory_stats(int) { return {}; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}
int cudnn_version() { return 0; }
size_t conv_algorithm_cache_size() { return 0; }

}  // namespace scorch::cuda

namespace scorch::backend {
namespace {

[[noreturn]] void no_backend(std::string_view what) {
  throw std::runtime_error(std::string(what) + ": this build has no CUDA backend");
}

}  // namespace

bool is_built() { return false; }
int device_count() { return 0; }
void synchronize(int device) { check_device("synchronize", Device::cuda(device)); }
Allocator* allocator() { return nullptr; }
void range_push(const char*) {}
void range_pop() {}

void fill(const Tensor&, double) { no_backend("fill_"); }
void copy(const Tensor&, const Tensor&) { no_backend("copy_"); }
void fill_random(const Tensor&, const RandomDraw&) { no_backend("random"); }

template <typename Fn>
void unary(std::string_view op, const Fn&, const Tensor&, const Tensor&) {
  no_backend(op);
}
template <typename Fn>
void binary(std::string_view op, const Fn&, const Tensor&, const Tensor&, const Tensor&) {
  no_backend(op);
}
template <typename Fn>
void ternary(std::string_view op, const Fn&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  no_backend(op);
}
SCORCH_BACKEND_INSTANTIATE_ELEMENTWISE()

void reduce(ReduceKind, const Tensor&, uint32_t, const Tensor&) { no_backend("reduce"); }
void group_norm_forward(bool, const NormDims&, const Tensor&, const Tensor&, const Tensor&, double, const Tensor&,
                        const Tensor&, const Tensor&) {
  no_backend("group_norm");
}
void group_norm_backward(bool, const NormDims&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  no_backend("group_norm_backward");
}
void avg_pool2d(const Tensor&, const Tensor&, const PoolGeometry&) { no_backend("avg_pool2d"); }
void avg_pool2d_backward(const Tensor&, const Tensor&, const PoolGeometry&) { no_backend("avg_pool2d_backward"); }
void max_pool2d(MaxPass, const Tensor&, const Tensor&, const Tensor&, const PoolGeometry&) { no_backend("max_pool2d"); }
void upsample_nearest2d(const Tensor&, const Tensor&, int64_t) { no_backend("upsample_nearest2d"); }
void upsample_nearest2d_backward(const Tensor&, const Tensor&, int64_t) { no_backend("upsample_nearest2d_backward"); }
void interpolate_bilinear(const Tensor&, const Tensor&, bool) { no_backend("interpolate_bilinear"); }
void interpolate_bilinear_backward(const Tensor&, const Tensor&, bool) { no_backend("interpolate_bilinear_backward"); }
void matmul(const Tensor&, const Tensor&, const Tensor&) { no_backend("matmul"); }
void linear(const Tensor&, const Tensor&, const Tensor&, const Tensor&) { no_backend("linear"); }
void conv2d(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const ConvParams&) { no_backend("conv2d"); }
void conv2d_backward_input(const Tensor&, const Tensor&, const Tensor&, const ConvParams&) {
  no_backend("conv2d_backward_input");
}
void conv2d_backward_weight(const Tensor&, const Tensor&, const Tensor&, const ConvParams&) {
  no_backend("conv2d_backward_weight");
}
template <typename T>
void sgd_update(const Tensor&, const Tensor&, const Tensor&, const fns::SgdCoefficients<T>&) {
  no_backend("sgd");
}
template <typename T>
void adam_update(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const fns::AdamCoefficients<T>&, bool) {
  no_backend("adam");
}
SCORCH_BACKEND_INSTANTIATE_OPTIM()
void ema_update(const Tensor&, const Tensor&, double) { no_backend("ema"); }

}  // namespace scorch::backend
