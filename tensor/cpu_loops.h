// cpu_loops.h: the generic CPU loops that elementwise ops, copies and conversions run on.
//
// An op writes a fresh output `out` of the broadcast shape; each input is read through its own strides,
// with stride 0 on broadcast dims, so broadcast and non-contiguous inputs need no copy. Adjacent dims
// that are contiguous in every operand are merged first, so the common cases collapse to one flat,
// vectorisable loop; the rest runs row by row along the innermost dim.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/loop_plan.h"
#include "tensor/parallel.h"
#include "tensor/tensor.h"

namespace scorch {

// Calls row(offsets, inner_strides, count) for consecutive runs along the innermost dim, covering
// elements [begin, end) in row-major order of the plan; offsets are in elements per operand.
template <int N, typename Row>
void for_each_row(const LoopPlan<N>& p, int64_t begin, int64_t end, Row&& row) {
  const int nd = p.shape.size();
  const int64_t inner = p.shape[nd - 1];
  std::array<int64_t, kMaxDims> idx{};
  std::array<int64_t, N> off{}, step{};
  int64_t rest = begin;
  for (int d = nd - 1; d >= 0; --d) {
    idx[d] = rest % p.shape[d];
    rest /= p.shape[d];
    for (int k = 0; k < N; ++k) off[k] += idx[d] * p.strides[k][d];
  }
  for (int k = 0; k < N; ++k) step[k] = p.strides[k][nd - 1];
  int64_t i = begin;
  while (i < end) {
    const int64_t count = std::min(inner - idx[nd - 1], end - i);
    row(off, step, count);
    i += count;
    for (int k = 0; k < N; ++k) off[k] += count * step[k];
    idx[nd - 1] += count;
    for (int d = nd - 1; d > 0 && idx[d] == p.shape[d]; --d) {  // carry into the outer dims
      for (int k = 0; k < N; ++k) off[k] += p.strides[k][d - 1] - p.shape[d] * p.strides[k][d];
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

// The contiguous inner loop of map_cpu, in its own function so that it can be compiled twice: for the
// build's target (AVX2 by default) and for AVX-512 (x86-64-v4), the one that runs chosen when the
// program loads (GCC's target_clones). SiLU's exp runs ~1.4x faster in 16 lanes. NOTE: clang (the
// fuzz build, tests/fuzz) cannot clone function templates, so it builds the default version only.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__CUDACC__) && !defined(__clang__)
#define SCORCH_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define SCORCH_CPU_CLONES
#endif
template <typename Out, typename F, typename... In>
SCORCH_CPU_CLONES void map_contiguous(F f, Out* out, int64_t n, const In*... in) {
  for (int64_t j = 0; j < n; ++j) out[j] = f(in[j]...);
}

// out = f(in) when `in` is unit-stride along the second-to-last dim of the plan and not along the
// last (a transpose view being copied): walking the last dim innermost would read a new cache line
// for every element. Instead the last two dims go in kTile x kTile tiles: a tile is read into a small
// buffer column by column (contiguous runs of `in`), then written row by row (contiguous runs of
// `out`). NOTE: reading the tile in place row by row is no better: its columns lie a power-of-two
// stride apart and fall into one L1 set. Outer dims and tile rows are split between threads.
template <typename Out, typename In, typename F>
void map_tiled_cpu(const LoopPlan<2>& p, Out* o, const In* in, F f) {
  constexpr int64_t kTile = 32;
  const int nd = p.shape.size();
  const int64_t rows = p.shape[nd - 2], cols = p.shape[nd - 1], row_tiles = (rows + kTile - 1) / kTile;
  const int64_t ro = p.strides[0][nd - 2], co = p.strides[0][nd - 1], ri = p.strides[1][nd - 2],
                ci = p.strides[1][nd - 1];
  int64_t outer = 1;
  for (int d = 0; d < nd - 2; ++d) outer *= p.shape[d];
  parallel_for(outer * row_tiles, grain_for(kTile * cols), [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      int64_t rest = u / row_tiles, oo = 0, io = 0;
      for (int d = nd - 3; d >= 0; --d) {  // offsets of the outer index
        oo += (rest % p.shape[d]) * p.strides[0][d];
        io += (rest % p.shape[d]) * p.strides[1][d];
        rest /= p.shape[d];
      }
      const int64_t i0 = (u % row_tiles) * kTile, ni = std::min(rows - i0, kTile);
      In tile[kTile][kTile];  // [j][i]
      for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
        const int64_t nj = std::min(cols - j0, kTile);
        for (int64_t j = 0; j < nj; ++j)
          for (int64_t i = 0; i < ni; ++i) tile[j][i] = in[io + (i0 + i) * ri + (j0 + j) * ci];
        for (int64_t i = 0; i < ni; ++i)
          for (int64_t j = 0; j < nj; ++j) o[oo + (i0 + i) * ro + (j0 + j) * co] = f(tile[j][i]);
      }
    }
  });
}

// One `const Tensor&` parameter per element type In (the type itself only selects the pointer type).
template <typename In>
using TensorOf = std::conditional_t<true, const Tensor&, In>;

// out[i] = f(in[i]...) over the broadcast shape of out; Out and In are the element types.
template <typename Out, typename... In, typename F>
void map_cpu(const Tensor& out, F f, TensorOf<In>... in) {
  constexpr int N = 1 + sizeof...(In);
  const LoopPlan<N> p = make_loop_plan<N>(out.shape(), {out.strides(), broadcast_strides(in, out.shape())...});
  Out* o = out.data<Out>();
  const std::tuple<const In*...> ptrs{in.template data<In>()...};
  if constexpr (N == 2) {
    const int nd = p.shape.size();
    if (nd >= 2 && p.strides[0][nd - 1] == 1 && p.strides[1][nd - 1] != 1 && p.strides[1][nd - 2] == 1 &&
        p.shape[nd - 1] >= 16 && p.shape[nd - 2] >= 16)
      return map_tiled_cpu<Out>(p, o, std::get<0>(ptrs), f);
  }
  parallel_for(out.numel(), kGrainElementwise, [&](int64_t begin, int64_t end) {
    for_each_row<N>(p, begin, end, [&](const std::array<int64_t, N>& off, const std::array<int64_t, N>& st, int64_t n) {
      std::apply(
          [&](const In*... ip) {
            [&]<size_t... K>(std::index_sequence<K...>) {
              Out* op = o + off[0];
              const std::tuple<const In*...> base{(ip + off[K + 1])...};
              const bool unit = ((st[K + 1] == 1) && ...) && st[0] == 1;
              if (unit) {  // the fast path: every operand contiguous along the run
                map_contiguous<Out>(f, op, n, std::get<K>(base)...);
              } else {
                for (int64_t j = 0; j < n; ++j) op[j * st[0]] = f(std::get<K>(base)[j * st[K + 1]]...);
              }
            }
            (std::index_sequence_for<In...>{});
          },
          ptrs);
    });
  });
}

}  // namespace scorch
