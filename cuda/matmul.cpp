// matmul.cpp: matmul and linear on a CUDA device, through cuBLAS (cublas?gemmStridedBatched); the
// row-major to column-major mapping is in gemm.h.
//
// Batch dims broadcast as on the CPU: the batch loop plan of the two operands (merged dims, stride 0
// where an operand is broadcast; cuBLAS accepts a batch stride of 0 for its inputs) runs its innermost
// dim as one strided-batched call and any outer dims as a host loop of such calls. A batch of a against
// one shared b (a linear layer on [B, T, C]) becomes one product of B*T rows when a's rows are evenly
// spaced. Operands that no transpose flag describes are copied first. TF32 only when
// cuda::set_allow_tf32(true) (CUBLAS_TF32_TENSOR_OP_MATH); otherwise CUBLAS_DEFAULT_MATH, full float32.
// One cuBLAS handle per device, bound to the device's current stream, with a workspace from the caching
// allocator; ops are launched from one thread.
#include <cublas_v2.h>

#include <algorithm>
#include <climits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/gemm.h"
#include "tensor/backend.h"
#include "cuda/runtime.h"
#include "tensor/loop_plan.h"

namespace scorch::cuda {
namespace {

// cuBLAS's own recommendation for Hopper (32 MiB; 4 MiB suffices before it).
constexpr int64_t kCublasWorkspaceBytes = int64_t{32} << 20;

cublasHandle_t handle(int device) {
  const cublasHandle_t h = per_device_handle<struct Cublas, cublasHandle_t>(device, [device](cudaStream_t stream) {
    cublasHandle_t made = nullptr;
    SCORCH_CUBLAS_CHECK(cublasCreate(&made));
    SCORCH_CUBLAS_CHECK(cublasSetStream(made, stream));
    // The workspace comes from the caching allocator, so the memory statistics count it and cuBLAS
    // never allocates on its own. It lives as long as the process (deliberately never freed: a static
    // tensor's destructor could run after the driver has shut down).
    const Tensor* workspace =
        new Tensor(empty({kCublasWorkspaceBytes}, {.dtype = kUInt8, .device = Device::cuda(device)}));
    SCORCH_CUBLAS_CHECK(cublasSetWorkspace(made, workspace->raw_data(), kCublasWorkspaceBytes));
    return made;
  });
  SCORCH_CUBLAS_CHECK(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return h;
}

int to_int(const char* op, int64_t v) {
  if (v > INT_MAX)
    throw std::invalid_argument(std::string(op) + ": a matrix dim or batch over 2^31 - 1 does not fit cuBLAS's int");
  return static_cast<int>(v);
}

cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

// batch products: C_i [M, N] (row-major, ldc) = a_i b_i + beta C_i, with a_i = a + i stride_a etc.
template <typename T>
void gemm(int device, const ColumnMajorGemm& g, const T* a, int64_t stride_a, const T* b, int64_t stride_b, T beta,
          T* c, int64_t stride_c, int64_t batch) {
  const cublasHandle_t h = handle(device);
  const int m = to_int("matmul", g.m), n = to_int("matmul", g.n), k = to_int("matmul", g.k),
            lda = to_int("matmul", g.lda), ldb = to_int("matmul", g.ldb), ldc = to_int("matmul", g.ldc),
            count = to_int("matmul", batch);
  const T alpha = 1;
  // cuBLAS's A is our b, its B our a (gemm.h).
  if constexpr (std::is_same_v<T, float>)
    SCORCH_CUBLAS_CHECK(cublasSgemmStridedBatched(h, op(g.trans_a), op(g.trans_b), m, n, k, &alpha, b, lda, stride_b, a,
                                                  ldb, stride_a, &beta, c, ldc, stride_c, count));
  else
    SCORCH_CUBLAS_CHECK(cublasDgemmStridedBatched(h, op(g.trans_a), op(g.trans_b), m, n, k, &alpha, b, lda, stride_b, a,
                                                  ldb, stride_a, &beta, c, ldc, stride_c, count));
}

// t [..., rows, cols] as a BLAS operand: itself when its last two strides allow, else a contiguous copy.
struct Operand {
  Tensor t;
  RowMajorOperand layout;
};
Operand operand(const Tensor& t) {
  const int n = t.dim();
  const int64_t rows = t.shape()[n - 2], cols = t.shape()[n - 1];
  if (auto layout = row_major_operand(rows, cols, t.strides()[n - 2], t.strides()[n - 1])) return {t, *layout};
  Tensor copy = empty(t.shape(), t.options());
  copy_on_device(copy, t);
  return {copy, {false, cols}};
}

template <typename T>
void matmul_forward(Tensor a, Tensor b, Tensor y) {
  const int64_t K = a.shape().back(), N = y.shape().back();
  if (y.numel() == 0) return;
  if (K == 0) {  // NOTE: cuBLAS, like BLAS, may return without writing C when k == 0
    backend::fill(y, 0);
    return;
  }
  merge_shared_rhs_batch(a, b, y);  // one b for the whole batch: one product
  const Operand A = operand(a), B = operand(b);
  Shape batch = y.shape();
  const int64_t M = batch[batch.size() - 2];
  batch.erase(batch.size() - 1);
  batch.erase(batch.size() - 1);
  const LoopPlan<2> plan = make_loop_plan<2>(batch, {batch_strides(A.t, batch), batch_strides(B.t, batch)});
  const int nd = plan.shape.size();
  const int64_t inner = plan.shape[nd - 1], outer = batch.numel() / inner;
  const ColumnMajorGemm g = column_major_gemm(A.layout, B.layout, M, N, K, N);
  const T *pa = A.t.data<T>(), *pb = B.t.data<T>();
  T* pc = y.data<T>();
  const int device = y.device().index;
  DeviceGuard guard(device);
  for (int64_t o = 0; o < outer; ++o) {  // the outer batch dims of the plan, row-major
    int64_t rest = o, off_a = 0, off_b = 0;
    for (int d = nd - 2; d >= 0; --d) {
      const int64_t i = rest % plan.shape[d];
      rest /= plan.shape[d];
      off_a += i * plan.strides[0][d];
      off_b += i * plan.strides[1][d];
    }
    gemm<T>(device, g, pa + off_a, plan.strides[0][nd - 1], pb + off_b, plan.strides[1][nd - 1], T(0),
            pc + o * inner * M * N, M * N, inner);
  }
}

}  // namespace
}  // namespace scorch::cuda

// The entries of tensor/backend.h that this file defines.
namespace scorch::backend {
using namespace cuda;

void matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float("matmul", a.dtype(), [&]<typename T>() { matmul_forward<T>(a, b, out); });
}

void linear(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out) {
  const int64_t K = w.shape()[1], N = w.shape()[0], M = out.numel() / std::max<int64_t>(N, 1);
  const Tensor y = make_view(out, {M, N}, {N, 1}, out.offset());
  copy_on_device(y, bias);  // y = rows of the bias; the product adds onto them (beta = 1)
  if (M == 0 || N == 0 || K == 0) return;
  Tensor rows;
  if (std::optional<Tensor> r = as_one_matrix(x)) {
    rows = *r;
  } else {
    const Tensor c = empty(x.shape(), x.options());
    copy_on_device(c, x);
    rows = make_view(c, {M, K}, {K, 1}, 0);
  }
  const Operand X = operand(rows);
  const Operand WT = operand(make_view(w, {K, N}, {w.strides()[1], w.strides()[0]}, w.offset()));  // w^T
  const ColumnMajorGemm g = column_major_gemm(X.layout, WT.layout, M, N, K, N);
  const int device = out.device().index;
  DeviceGuard guard(device);
  dispatch_float("linear", x.dtype(), [&]<typename T>() {
    gemm<T>(device, g, X.t.data<T>(), 0, WT.t.data<T>(), 0, T(1), y.data<T>(), 0, 1);
  });
}

}  // namespace scorch::backend
