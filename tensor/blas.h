// blas.h: the one way scorch calls OpenBLAS's gemm, for float and double, row-major.
//   c [M, N] = alpha op(a) op(b) + beta c,   op(a) [M, K], op(b) [K, N]   (op: as is or transposed)
// BLAS takes int sizes: a dim over 2^31 - 1 throws naming `op_name`.
//
// Same bits at any thread count. OpenBLAS's own threading splits c by the thread count, and under
// some kernel sets (OPENBLAS_CORETYPE=Haswell) an element's rounding depends on the shape of the call
// that computes it: the last rows of a call come out differently. So blas_gemm cuts c into tiles whose
// sizes follow from (M, N, K) alone (gemm_tiling), never from the thread count, and runs each tile as
// one single-threaded OpenBLAS call; our threads split the tiles. Inside a parallel region the tiles
// run one after another on the calling thread, with the same bits. Every element of c is summed over
// all of K by one call: no K split.
#pragma once
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "tensor/parallel.h"

namespace scorch {

inline void check_blas_dims(std::string_view op_name, std::initializer_list<int64_t> dims) {
  if (std::max(dims) > INT_MAX)
    throw std::invalid_argument(std::string(op_name) + ": a matrix dim over 2^31 - 1 does not fit BLAS's int");
}

// The tile size of c [M, N]: at most kMaxTiles tiles of at least kTileFlops each, sides multiples of
// 16 (the kernels' register blocks). The longer side is halved first: splitting rows repacks b in every
// tile, splitting columns repacks a, and the operand along the shorter side is the smaller one.
struct GemmTiling {
  int64_t rows, cols;
  int64_t count(int64_t M, int64_t N) const { return ((M + rows - 1) / rows) * ((N + cols - 1) / cols); }
};

inline GemmTiling gemm_tiling(int64_t M, int64_t N, int64_t K) {
  constexpr double kTileFlops = 1 << 22;  // ~4 MFLOP: some 20-40 µs of one core
  constexpr int64_t kMaxTiles = 8, kMinSide = 32;
  const int64_t want = std::clamp<int64_t>(static_cast<int64_t>(2.0 * M * N * K / kTileFlops), 1, kMaxTiles);
  auto half = [](int64_t side) { return (side / 2 + 15) / 16 * 16; };
  GemmTiling t{std::max<int64_t>(M, 1), std::max<int64_t>(N, 1)};
  while (t.count(M, N) < want) {
    const bool rows_splittable = t.rows >= 2 * kMinSide, cols_splittable = t.cols >= 2 * kMinSide;
    if (rows_splittable && (t.rows >= t.cols || !cols_splittable)) t.rows = half(t.rows);
    else if (cols_splittable) t.cols = half(t.cols);
    else break;
  }
  return t;
}

namespace detail {

// One OpenBLAS call on the calling thread only. OpenBLAS's OpenMP build runs single-threaded inside an
// active parallel region; outside one it takes omp_get_max_threads() threads, so that is set to 1 for
// the call.
template <typename T>
void blas_gemm_one_thread(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, T alpha, const T* a,
                          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
#ifdef _OPENMP
  const int saved = omp_in_parallel() ? 0 : omp_get_max_threads();
  if (saved > 1) omp_set_num_threads(1);
#endif
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                static_cast<int>(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                static_cast<int>(ldc));
#ifdef _OPENMP
  if (saved > 1) omp_set_num_threads(saved);
#endif
}

}  // namespace detail

// NOTE: no checks here (callers check once with check_blas_dims before entering parallel loops).
template <typename T>
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, T alpha, const T* a,
               int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const GemmTiling tile = gemm_tiling(M, N, K);
  const int64_t row_tiles = (M + tile.rows - 1) / tile.rows;
  parallel_for(tile.count(M, N), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t m0 = i % row_tiles * tile.rows, n0 = i / row_tiles * tile.cols;
      const int64_t m = std::min(tile.rows, M - m0), n = std::min(tile.cols, N - n0);
      const T* ai = ta == CblasNoTrans ? a + m0 * lda : a + m0;  // rows m0.. of op(a)
      const T* bj = tb == CblasNoTrans ? b + n0 : b + n0 * ldb;  // columns n0.. of op(b)
      detail::blas_gemm_one_thread<T>(ta, tb, m, n, K, alpha, ai, lda, bj, ldb, beta, c + m0 * ldc + n0, ldc);
    }
  });
}

}  // namespace scorch
