// gemm.h: how a row-major product becomes a cuBLAS (column-major) call; no CUDA types, so that the
// CPU tests check the mapping against a reference column-major gemm (tests/test_cuda_loops.cpp).
//
// cuBLAS reads column-major matrices, and a row-major matrix with leading dimension ld is, to it, the
// transpose with the same ld. So row-major C [M, N] = A [M, K] B [K, N] is column-major
// C^T [N, M] = B^T A^T: cuBLAS's first operand is our b (m = N), its second our a (n = M), each with
// the transpose flag it has as a row-major operand, and ldc = N.
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>

namespace scorch::cuda {

// A matrix [rows, cols] with strides (row_stride, col_stride) as BLAS reads it: row-major with leading
// dimension ld (trans false), or the transpose of a row-major [cols, rows] (trans true); nullopt when
// neither stride is 1 (a strided slice, an expanded matrix): the caller copies it first. The stride of
// a size-1 dim means nothing, so any ld that BLAS accepts is taken there (as autograd/ops/matmul.cpp).
struct RowMajorOperand {
  bool trans;
  int64_t ld;
};
inline std::optional<RowMajorOperand> row_major_operand(int64_t rows, int64_t cols, int64_t row_stride,
                                                        int64_t col_stride) {
  const int64_t ld_rows = rows == 1 ? cols : row_stride, ld_cols = cols == 1 ? rows : col_stride;
  if ((col_stride == 1 || cols == 1) && ld_rows >= std::max<int64_t>(cols, 1)) return RowMajorOperand{false, ld_rows};
  if ((row_stride == 1 || rows == 1) && ld_cols >= std::max<int64_t>(rows, 1)) return RowMajorOperand{true, ld_cols};
  return std::nullopt;
}

// The arguments of cublas?gemm for row-major C [M, N] (leading dimension ldc) = A [M, K] B [K, N]:
// op(A_cublas) [m, k] op(B_cublas) [k, n] with A_cublas = b's memory, B_cublas = a's.
struct ColumnMajorGemm {
  bool trans_a, trans_b;  // of cuBLAS's A and B
  int64_t m, n, k, lda, ldb, ldc;
};
inline ColumnMajorGemm column_major_gemm(RowMajorOperand a, RowMajorOperand b, int64_t M, int64_t N, int64_t K,
                                         int64_t ldc) {
  return {b.trans, a.trans, N, M, K, b.ld, a.ld, ldc};
}

}  // namespace scorch::cuda
