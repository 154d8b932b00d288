// blas.h: the one way scorch calls a gemm, for float and double, row-major.
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
//
// Which gemm. float goes to oneDNN's dnnl_sgemm when the build found it (SCORCH_HAS_DNNL, Debian's
// libdnnl-dev), double always to OpenBLAS. oneDNN picks its kernels from the CPU's features at run
// time, whatever OPENBLAS_CORETYPE says: on a 2-core Zen 5, one thread, it ran unet-small's and the mlp's
// shapes at 178-196 GFLOP/s (about 90% of the core's AVX-512 FMA peak), 1.9-2.1x OpenBLAS under
// OPENBLAS_CORETYPE=Haswell and 1.0-2.0x under its own AVX-512 choice (bench/results/gemm-2026-12-07.md).
#pragma once
#include <cblas.h>
#if SCORCH_HAS_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "tensor/parallel.h"

namespace scorch {

// What computes float gemms, for reports: "oneDNN 2.6.3" or "OpenBLAS Haswell" (its kernel set).
inline std::string sgemm_library() {
#if SCORCH_HAS_DNNL
  const dnnl_version_t* v = dnnl_version();
  char text[48];
  std::snprintf(text, sizeof text, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
  return text;
#else
  return std::string("OpenBLAS ") + openblas_get_corename();
#endif
}

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
    if (rows_splittable && (t.rows >= t.cols || !cols_splittable))
      t.rows = half(t.rows);
    else if (cols_splittable)
      t.cols = half(t.cols);
    else
      break;
  }
  return t;
}

namespace detail {

// One gemm call on the calling thread only. OpenBLAS's OpenMP build and oneDNN's run single-threaded
// inside an active parallel region; outside one they take omp_get_max_threads() threads, so that is set
// to 1 for the call.
template <typename T>
void blas_gemm_one_thread(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, T alpha, const T* a,
                          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
#ifdef _OPENMP
  const int saved = omp_in_parallel() ? 0 : omp_get_max_threads();
  if (saved > 1) omp_set_num_threads(1);
#endif
  if constexpr (std::is_same_v<T, float>) {
#if SCORCH_HAS_DNNL
    // Fails only on arguments BLAS would refuse too (the dims are checked before): then OpenBLAS says so.
    if (dnnl_sgemm(ta == CblasNoTrans ? 'N' : 'T', tb == CblasNoTrans ? 'N' : 'T', M, N, K, alpha, a, lda, b, ldb, beta,
                   c, ldc) != dnnl_success)
#endif
      cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                  static_cast<int>(ldc));
  } else
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
