// blas.h: the one call into OpenBLAS's gemm, for float and double, row-major.
//   c [M, N] = alpha op(a) op(b) + beta c,   op(a) [M, K], op(b) [K, N]   (op: as is or transposed)
// BLAS takes int sizes: a dim over 2^31 - 1 throws naming `op_name`. Inside an OpenMP parallel region
// OpenBLAS's OpenMP build runs single-threaded, so callers may split a batch of products over threads.
#pragma once
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <initializer_list>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace scorch {

inline void check_blas_dims(std::string_view op_name, std::initializer_list<int64_t> dims) {
  if (std::max(dims) > INT_MAX)
    throw std::invalid_argument(std::string(op_name) + ": a matrix dim over 2^31 - 1 does not fit BLAS's int");
}

// NOTE: no checks here (callers check once with check_blas_dims before entering parallel loops).
template <typename T>
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, T alpha, const T* a,
               int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                static_cast<int>(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                static_cast<int>(ldc));
}

}  // namespace scorch
