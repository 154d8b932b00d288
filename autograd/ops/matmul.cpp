// matmul.cpp: numpy.matmul on OpenBLAS (formulas in matmul.h); on CUDA, cuBLAS (cuda/matmul.cpp).
//
// matmul() turns 1-d operands into matrices ([K] -> [1, K] for a, [K, 1] for b), runs MatmulOp on
// operands of >= 2 dims and squeezes the added dims away; unsqueeze and squeeze are differentiable
// views, so MatmulOp only ever sees matrices with (broadcast) batch dims.
// The CPU kernel calls cblas_?gemm once per batch element, reading each operand in place when BLAS
// can (row-major or transposed, any leading dimension); a batch of a against one shared b (a linear
// layer on [B, T, C]) becomes a single gemm of B*T rows when a's rows are evenly spaced.
#include "autograd/ops/matmul.h"

#include <algorithm>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "autograd/apply.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape.h"
#include "tensor/backend.h"
#include "tensor/blas.h"
#include "tensor/cpu_loops.h"
#include "tensor/loop_plan.h"

namespace scorch {
namespace {

// Products below this many FLOPs are one tile of blas_gemm (one thread), so threads split the batch instead.
constexpr double kSmallGemmFlops = 1 << 22;

[[noreturn]] void throw_mismatch(const Tensor& a, const Tensor& b, const std::string& what) {
  throw std::invalid_argument("matmul: a " + to_string(a.shape()) + " and b " + to_string(b.shape()) + " " + what);
}

// The shape of matmul(a, b) as numpy.matmul defines it; throws naming both shapes.
Shape matmul_shape(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) throw std::invalid_argument("matmul: an input is undefined");
  if (a.dim() == 0 || b.dim() == 0) throw_mismatch(a, b, "must both have at least 1 dim");
  const int64_t ka = a.shape().back(), kb = b.shape()[std::max(b.dim() - 2, 0)];
  if (ka != kb) throw_mismatch(a, b, "do not match (K: " + std::to_string(ka) + " vs " + std::to_string(kb) + ")");
  const int na = std::max(a.dim() - 2, 0), nb = std::max(b.dim() - 2, 0), n = std::max(na, nb);
  Shape y;
  for (int i = 0; i < n; ++i) {  // batch dims, aligned at the right
    const int64_t da = i >= n - na ? a.shape()[i - (n - na)] : 1, db = i >= n - nb ? b.shape()[i - (n - nb)] : 1;
    if (da != db && da != 1 && db != 1)
      throw_mismatch(a, b,
                     "do not broadcast (batch dim " + std::to_string(i) + ": " + std::to_string(da) + " vs " +
                         std::to_string(db) + ")");
    y.push_back(da == 1 ? db : da);
  }
  if (a.dim() >= 2) y.push_back(a.shape()[a.dim() - 2]);
  if (b.dim() >= 2) y.push_back(b.shape().back());
  return y;
}

// A matrix operand [..., rows, cols] as BLAS reads it: row-major with leading dimension ld, or (trans)
// the transpose of a row-major [cols, rows]. `t` is the operand itself, or its contiguous copy when
// neither of its last two strides is 1 (a strided slice, an expanded matrix).
struct BlasMatrix {
  Tensor t;
  CBLAS_TRANSPOSE trans;
  int64_t ld;
};

BlasMatrix blas_matrix(const Tensor& t) {
  const int n = t.dim();
  const int64_t rows = t.shape()[n - 2], cols = t.shape()[n - 1], sr = t.strides()[n - 2], sc = t.strides()[n - 1];
  // The stride of a size-1 dim means nothing: then any leading dimension that BLAS accepts will do.
  const int64_t ld_rows = rows == 1 ? cols : sr, ld_cols = cols == 1 ? rows : sc;
  if ((sc == 1 || cols == 1) && ld_rows >= cols) return {t, CblasNoTrans, ld_rows};
  if ((sr == 1 || rows == 1) && ld_cols >= rows) return {t, CblasTrans, ld_cols};
  Tensor copy = empty(t.shape(), t.options());
  copy.copy_(t);
  return {copy, CblasNoTrans, cols};
}

// Element (i, j) of a BLAS operand.
template <typename T>
T at(const BlasMatrix& m, const T* p, int64_t i, int64_t j) {
  return m.trans == CblasNoTrans ? p[i * m.ld + j] : p[j * m.ld + i];
}

// c = a b (+ the row `bias` when given) when K or N is tiny (the 3 inputs and 2 outputs of the GMM
// mlp): OpenBLAS packs panels for such shapes and reaches ~20 GFLOP/s; loops over rows, vectorised
// along the long dim, run at memory speed instead. Returns false for shapes it does not handle.
template <typename T>
bool gemm_thin(const BlasMatrix& a, const T* pa, const BlasMatrix& b, const T* pb, T* c, int64_t M, int64_t N,
               int64_t K, const T* bias) {
  constexpr int64_t kThin = 4, kLanes = 16;
  if (M < 64 || (K > kThin && N > kThin)) return false;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(N * K, 1));
  if (K <= kThin) {  // c[m, :] = bias + sum_k a[m, k] b[k, :], with b's rows made contiguous first
    std::vector<T> bk(K * N);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) bk[k * N + n] = at(b, pb, k, n);
    parallel_for(M, grain, [&](int64_t begin, int64_t end) {
      for (int64_t m = begin; m < end; ++m) {
        T* cm = c + m * N;
        for (int64_t n = 0; n < N; ++n) cm[n] = bias ? bias[n] : T(0);
        for (int64_t k = 0; k < K; ++k) {
          const T amk = at(a, pa, m, k);
          const T* bkn = bk.data() + k * N;
          for (int64_t n = 0; n < N; ++n) cm[n] += amk * bkn[n];
        }
      }
    });
    return true;
  }
  // c[m, n] = bias[n] + dot(a[m, :], b[:, n]), both unit-stride in k; kLanes partial sums vectorise.
  if (a.trans != CblasNoTrans || b.trans != CblasTrans) return false;
  parallel_for(M, grain, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const T *am = pa + m * a.ld, *bn = pb + n * b.ld;
        T lanes[kLanes] = {};
        int64_t k = 0;
        for (; k + kLanes <= K; k += kLanes)
          for (int64_t l = 0; l < kLanes; ++l) lanes[l] += am[k + l] * bn[k + l];
        T dot = bias ? bias[n] : T(0);
        for (; k < K; ++k) dot += am[k] * bn[k];
        for (int64_t l = 0; l < kLanes; ++l) dot += lanes[l];
        c[m * N + n] = dot;
      }
  });
  return true;
}

// c [M, N] (row-major, ldc = N) = a [M, K] @ b [K, N] + beta c.
template <typename T>
void gemm(const BlasMatrix& a, const T* pa, const BlasMatrix& b, const T* pb, T* c, int64_t M, int64_t N, int64_t K,
          T beta = 0) {
  if (beta == T(0) && gemm_thin<T>(a, pa, b, pb, c, M, N, K, nullptr)) return;
  check_blas_dims("matmul", {M, N, K, a.ld, b.ld});
  blas_gemm<T>(a.trans, b.trans, M, N, K, T(1), pa, a.ld, pb, b.ld, beta, c, N);
}

// y [B..., M, N] = a [Ba..., M, K] @ b [Bb..., K, N], Ba and Bb broadcast to B; y is fresh and contiguous.
template <typename T>
void matmul_forward_cpu(Tensor a, Tensor b, Tensor y) {
  const int64_t K = a.shape().back(), N = y.shape().back();
  if (y.numel() == 0) return;
  if (K == 0) {  // NOTE: BLAS may return without writing C when K == 0
    y.fill_(0);
    return;
  }
  merge_shared_rhs_batch(a, b, y);  // one b for the whole batch: one product
  const BlasMatrix A = blas_matrix(a), B = blas_matrix(b);
  Shape batch = y.shape();
  const int64_t M = batch[batch.size() - 2];
  batch.erase(batch.size() - 1);
  batch.erase(batch.size() - 1);
  const LoopPlan<2> plan = make_loop_plan<2>(batch, {batch_strides(A.t, batch), batch_strides(B.t, batch)});
  // Small products: threads split the batch. Large ones run one after another, each cut into tiles
  // that the threads split (blas_gemm, tensor/blas.h).
  const double flops = 2.0 * M * N * K;
  const int64_t grain = flops < kSmallGemmFlops ? static_cast<int64_t>(kSmallGemmFlops / flops) + 1 : batch.numel();
  const T *pa = A.t.data<T>(), *pb = B.t.data<T>();
  parallel_for(batch.numel(), grain, [&](int64_t begin, int64_t end) {
    T* c = y.data<T>() + begin * M * N;
    for_each_row<2>(plan, begin, end, [&](const auto& off, const auto& st, int64_t n) {
      for (int64_t j = 0; j < n; ++j, c += M * N)
        gemm<T>(A, pa + off[0] + j * st[0], B, pb + off[1] + j * st[1], c, M, N, K);
    });
  });
}

// a [..., M, K] @ b [..., K, N] for operands of >= 2 dims.
struct MatmulOp {
  static constexpr std::string_view name = "matmul";
  Shape out_shape(const Tensor& a, const Tensor& b) const { return matmul_shape(a, b); }
  double flops(const TensorList& in, const Tensor&) const { return matmul_flops(in[0], in[1]); }
  void cpu(const Tensor& a, const Tensor& b, Tensor& out) const {
    dispatch_float(name, a.dtype(), [&]<typename T>() { matmul_forward_cpu<T>(a, b, out); });
  }
  void device(const Tensor& a, const Tensor& b, Tensor& out) const { backend::matmul(a, b, out); }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    const Tensor &a = in[0], &b = in[1];
    return {a.requires_grad() ? sum_to(matmul(g, transpose(b, -1, -2)), a.shape()) : Tensor(),
            b.requires_grad() ? sum_to(matmul(transpose(a, -1, -2), g), b.shape()) : Tensor()};
  }
};

// y [..., N] = x [..., K] W^T + b: the output starts as rows of b and one gemm adds x W^T (beta 1),
// so the bias costs no pass of its own.
struct LinearOp {
  static constexpr std::string_view name = "linear";
  Shape out_shape(const Tensor& x, const Tensor& w, const Tensor& b) const {
    if (w.dim() != 2 || b.dim() != 1 || b.shape()[0] != w.shape()[0] || x.dim() == 0 ||
        x.shape().back() != w.shape()[1])
      throw std::invalid_argument("linear: x " + to_string(x.shape()) + ", weight " + to_string(w.shape()) +
                                  " and bias " + to_string(b.shape()) +
                                  " do not fit (want x [..., K], weight [N, K], bias [N])");
    Shape y = x.shape();
    y[y.size() - 1] = w.shape()[0];
    return y;
  }
  // 2 K per output element for the products, plus 1 for the bias.
  double flops(const TensorList& in, const Tensor& out) const {
    return static_cast<double>(out.numel()) * (2.0 * static_cast<double>(in[1].shape()[1]) + 1.0);
  }
  void cpu(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& out) const {
    const int64_t K = w.shape()[1], N = w.shape()[0], M = out.numel() / std::max<int64_t>(N, 1);
    const Tensor y = make_view(out, {M, N}, {N, 1}, out.offset());
    if (M == 0 || K == 0) {
      y.copy_(b);
      return;
    }
    std::optional<Tensor> rows = as_one_matrix(x);
    const BlasMatrix X = blas_matrix(rows ? *rows : reshape(x.contiguous(), {M, K})),
                     W = blas_matrix(transpose(w, 0, 1));
    dispatch_float(name, x.dtype(), [&]<typename T>() {
      const Tensor bias = b.contiguous();
      if (gemm_thin<T>(X, X.t.data<T>(), W, W.t.data<T>(), y.data<T>(), M, N, K, bias.data<T>())) return;
      y.copy_(b);
      gemm<T>(X, X.t.data<T>(), W, W.t.data<T>(), y.data<T>(), M, N, K, T(1));
    });
  }
  void device(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& out) const { backend::linear(x, w, b, out); }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    const Tensor &x = in[0], &w = in[1], &b = in[2];
    const Tensor g2 = reshape(g, {-1, w.shape()[0]});
    return {x.requires_grad() ? matmul(g, w) : Tensor(),
            w.requires_grad() ? matmul(transpose(g2, 0, 1), reshape(x, {-1, w.shape()[1]})) : Tensor(),
            b.requires_grad() ? sum(g2, {0}) : Tensor()};
  }
};

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  if (!b.defined()) return matmul(x, transpose(w, 0, 1));
  return apply(LinearOp{}, x, w, b);
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  matmul_shape(a, b);  // check with the shapes the caller gave, before 1-d operands are unsqueezed
  const bool a_vector = a.dim() == 1, b_vector = b.dim() == 1;
  Tensor y = apply(MatmulOp{}, a_vector ? unsqueeze(a, 0) : a, b_vector ? unsqueeze(b, 1) : b);
  if (b_vector) y = squeeze(y, -1);
  if (a_vector) y = squeeze(y, b_vector ? -1 : -2);
  return y;
}

double matmul_flops(const Tensor& a, const Tensor& b) {
  return 2.0 * static_cast<double>(matmul_shape(a, b).numel()) * static_cast<double>(a.shape().back());
}

}  // namespace scorch
