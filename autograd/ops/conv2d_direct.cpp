// conv2d_direct.cpp: the direct float32 kernels of conv2d_direct.h.
#include "autograd/ops/conv2d_direct.h"

// NOTE: GCC 12's avx512fintrin.h trips -Wuninitialized on its own _mm512_undefined_ps() when its
// intrinsics are inlined (GCC bug 105593); nothing here reads an uninitialised value.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "tensor/parallel.h"
#include "tensor/tensor.h"

namespace scorch::detail {
namespace {

constexpr int kMr = 8;         // output channels per tile
constexpr int kNv = 3;         // zmm vectors of 16 positions per tile
constexpr int kNr = 16 * kNv;  // positions per tile

struct DirectShape {
  int64_t C, H, W, K, R, S, pad, dil, stride, Hp, Wp, P, Q;
  int64_t positions() const { return conv2d_direct_positions(P, Wp); }
  int64_t crs() const { return C * R * S; }
  // xp with room for the last tile's reads past the final row (either kernel's tiles).
  int64_t padded_size() const { return C * Hp * Wp + positions() + (R - 1) * dil * Wp + (S - 1) * dil + kNr; }
  int64_t channel_positions(int64_t mt) const { return (P * Wp + mt - 1) / mt * mt; }  // whole tiles
};

// The spatial tile: acc[m][v] = sum_i wp[i][m] * xp[off[i] + 16 v ...], then y rows k0 + m (MR of them).
template <int MR>
__attribute__((target("avx512f"))) void spatial_tile(const float* wp, const float* xp, const int64_t* off, int64_t crs,
                                                     const float* bias, float* y, int64_t ldy) {
  __m512 acc[MR][kNv];
  for (int m = 0; m < MR; ++m)
    for (int v = 0; v < kNv; ++v) acc[m][v] = _mm512_set1_ps(bias ? bias[m] : 0.0f);
  for (int64_t i = 0; i < crs; ++i) {
    const float* xi = xp + off[i];
    __m512 xv[kNv];
    for (int v = 0; v < kNv; ++v) xv[v] = _mm512_loadu_ps(xi + 16 * v);
    const float* wi = wp + i * MR;
    for (int m = 0; m < MR; ++m) {
      const __m512 wv = _mm512_set1_ps(wi[m]);
      for (int v = 0; v < kNv; ++v) acc[m][v] = _mm512_fmadd_ps(wv, xv[v], acc[m][v]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int v = 0; v < kNv; ++v) _mm512_storeu_ps(y + m * ldy + 16 * v, acc[m][v]);
}

using SpatialTileFn = void (*)(const float*, const float*, const int64_t*, int64_t, const float*, float*, int64_t);
constexpr SpatialTileFn kSpatialTiles[kMr + 1] = {nullptr,         spatial_tile<1>, spatial_tile<2>,
                                                  spatial_tile<3>, spatial_tile<4>, spatial_tile<5>,
                                                  spatial_tile<6>, spatial_tile<7>, spatial_tile<8>};

// The channel-vector tile, for small images with many output channels: acc[j][v] = output channels
// 16 v.. of position t0 + j, = sum_i wp[i][16 v ..] * xp[off[i] + j] (a broadcast of the input per
// position), written to yt [positions, K] (position-major).
// Taps come in chunks (kc of them, whose weights stay in L1 across the tiles of an image); a chunk
// after the first adds to what yt holds (first: starts from the bias).
template <int KV, int MT, int STRIDE = 1>
__attribute__((target("avx512f"))) void channel_tile(const float* wp, const float* xp, const int64_t* off, int64_t crs,
                                                     const float* bias, bool first, float* yt, int64_t ldy) {
  __m512 acc[MT][KV];
  for (int v = 0; v < KV; ++v) {
    const __m512 b = bias ? _mm512_loadu_ps(bias + 16 * v) : _mm512_setzero_ps();
    for (int j = 0; j < MT; ++j) acc[j][v] = first ? b : _mm512_loadu_ps(yt + j * ldy + 16 * v);
  }
  for (int64_t i = 0; i < crs; ++i) {
    const float* xi = xp + off[i];
    __m512 wv[KV];
    for (int v = 0; v < KV; ++v) wv[v] = _mm512_loadu_ps(wp + (i * KV + v) * 16);
    for (int j = 0; j < MT; ++j) {
      const __m512 xb = _mm512_set1_ps(xi[j * STRIDE]);
      for (int v = 0; v < KV; ++v) acc[j][v] = _mm512_fmadd_ps(xb, wv[v], acc[j][v]);
    }
  }
  for (int j = 0; j < MT; ++j)
    for (int v = 0; v < KV; ++v) _mm512_storeu_ps(yt + j * ldy + 16 * v, acc[j][v]);
}

// Channel vectors per tile (KV) and positions per tile (MT = 24 / KV: 24 accumulators); 7-wide
// outputs (unet-small's 7x7 level) take one tile per row instead, 2 vectors by 7 positions.
int64_t row_tile_width(const DirectShape& d) {
  if (d.K % 32 != 0) return 0;
  return d.Q % 14 == 0 ? 14 : d.Q % 7 == 0 ? 7 : 0;
}
bool row_tile_fits(const DirectShape& d) { return row_tile_width(d) > 0; }
int channel_vectors(const DirectShape& d) { return row_tile_fits(d) ? 2 : d.K % 64 == 0 ? 4 : d.K % 32 == 0 ? 2 : 1; }

// Transposes the 16 rows of r in place (row i becomes column i): 32-bit, 64-bit, then 128-bit and
// 256-bit interleaves.
__attribute__((target("avx512f"))) inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) {
      t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
      t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
    }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
  }
}

// dst[c][r] = src[r][c] (r < rows, c < cols; leading dimensions lds, ldd): 16 x 16 blocks in
// registers, the edges element by element.
__attribute__((target("avx512f"))) void transpose(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst,
                                                  int64_t ldd) {
  const int64_t r16 = rows / 16 * 16, c16 = cols / 16 * 16;
  for (int64_t r0 = 0; r0 < r16; r0 += 16)
    for (int64_t c0 = 0; c0 < c16; c0 += 16) {
      __m512 v[16];
      for (int i = 0; i < 16; ++i) v[i] = _mm512_loadu_ps(src + (r0 + i) * lds + c0);
      transpose16(v);
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + (c0 + i) * ldd + r0, v[i]);
    }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = r < r16 ? c16 : 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
}

// The weight gradient's tile: out[m, c] += sum_j sum_t g_j[m, t] xp_j[off[c] + t] for MK rows of g and MC
// taps, over `images` images (g_j = g + j gstride, xp_j = xp + j xstride): small images share one
// reduction across lanes at the end.
template <int MK, int MC>
__attribute__((target("avx512f"))) void dot_tile(const float* g, int64_t ldg, int64_t gstride, const float* xp,
                                                 int64_t xstride, const int64_t* off, int64_t positions, int64_t images,
                                                 float* out, int64_t ldo) {
  __m512 acc[MK][MC];
  for (int m = 0; m < MK; ++m)
    for (int c = 0; c < MC; ++c) acc[m][c] = _mm512_setzero_ps();
  for (int64_t j = 0; j < images; ++j) {
    const float *gj = g + j * gstride, *xj = xp + j * xstride;
    for (int64_t t = 0; t < positions; t += 16) {
      __m512 gv[MK];
      for (int m = 0; m < MK; ++m) gv[m] = _mm512_loadu_ps(gj + m * ldg + t);
      for (int c = 0; c < MC; ++c) {
        const __m512 xv = _mm512_loadu_ps(xj + off[c] + t);
        for (int m = 0; m < MK; ++m) acc[m][c] = _mm512_fmadd_ps(gv[m], xv, acc[m][c]);
      }
    }
  }
  for (int m = 0; m < MK; ++m)
    for (int c = 0; c < MC; ++c) out[m * ldo + c] += _mm512_reduce_add_ps(acc[m][c]);
}

// The channel-vector weight-gradient tile: gwT[i][k0 ..k0+32] += sum over the valid positions (p, q)
// of xp[off[i] + p Wp + q] (a broadcast per tap) * gt[p Q + q][k0 ..] (g transposed to position-major):
// MI taps by 32 channels, no sums across lanes.
template <int MI, int STRIDE>
__attribute__((target("avx512f"))) void weight_tile(const float* gt, int64_t K, const float* xp, const int64_t* off,
                                                    int64_t P, int64_t Q, int64_t Wp, float* out) {
  __m512 acc[MI][2];
  const float* xi[MI];
  for (int i = 0; i < MI; ++i) {
    acc[i][0] = _mm512_loadu_ps(out + i * K);
    acc[i][1] = _mm512_loadu_ps(out + i * K + 16);
    xi[i] = xp + off[i];
  }
  for (int64_t p = 0; p < P; ++p) {
    const float* grow = gt + p * Q * K;
    const int64_t trow = p * STRIDE * Wp;
    for (int64_t q = 0; q < Q; ++q) {
      const __m512 g0 = _mm512_loadu_ps(grow + q * K), g1 = _mm512_loadu_ps(grow + q * K + 16);
      for (int i = 0; i < MI; ++i) {
        const __m512 xb = _mm512_set1_ps(xi[i][trow + q * STRIDE]);
        acc[i][0] = _mm512_fmadd_ps(xb, g0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(xb, g1, acc[i][1]);
      }
    }
  }
  for (int i = 0; i < MI; ++i) {
    _mm512_storeu_ps(out + i * K, acc[i][0]);
    _mm512_storeu_ps(out + i * K + 16, acc[i][1]);
  }
}

constexpr int kMi = 12;
using WeightTileFn = void (*)(const float*, int64_t, const float*, const int64_t*, int64_t, int64_t, int64_t, float*);
template <int STRIDE, int... MI>
constexpr std::array<WeightTileFn, kMi + 1> weight_tiles(std::integer_sequence<int, MI...>) {
  return {nullptr, weight_tile<MI + 1, STRIDE>...};
}
constexpr std::array<WeightTileFn, kMi + 1> kWeightTiles[2] = {weight_tiles<1>(std::make_integer_sequence<int, kMi>()),
                                                               weight_tiles<2>(std::make_integer_sequence<int, kMi>())};

constexpr int kMk = 4, kMc = 6;
using DotTileFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, const int64_t*, int64_t, int64_t,
                           float*, int64_t);
template <int MK, int... MC>
constexpr std::array<DotTileFn, kMc + 1> dot_row(std::integer_sequence<int, MC...>) {
  return {nullptr, dot_tile<MK, MC + 1>...};
}
constexpr std::array<std::array<DotTileFn, kMc + 1>, kMk + 1> kDotTiles = {
    std::array<DotTileFn, kMc + 1>{}, dot_row<1>(std::make_integer_sequence<int, kMc>()),
    dot_row<2>(std::make_integer_sequence<int, kMc>()), dot_row<3>(std::make_integer_sequence<int, kMc>()),
    dot_row<4>(std::make_integer_sequence<int, kMc>())};

// w [K, C, R, S] as blocks of kMr output channels: wp[block][i][m] = w[block kMr + m, i] (i = c R S + ...).
std::vector<float> pack_weights(const float* w, const DirectShape& d) {
  const int64_t crs = d.crs();
  std::vector<float> wp((d.K + kMr - 1) / kMr * kMr * crs, 0.0f);
  for (int64_t k0 = 0; k0 < d.K; k0 += kMr) {
    const int64_t mr = std::min<int64_t>(kMr, d.K - k0);
    float* block = wp.data() + k0 * crs;
    for (int64_t i = 0; i < crs; ++i)
      for (int64_t m = 0; m < mr; ++m) block[i * mr + m] = w[(k0 + m) * crs + i];
  }
  return wp;
}

// x [C, H, W] into the interior of xp [C, Hp, Wp] (its border stays zero).
void pad_image(const DirectShape& d, const float* x, float* xp) {
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t h = 0; h < d.H; ++h)
      std::memcpy(xp + (c * d.Hp + h + d.pad) * d.Wp + d.pad, x + (c * d.H + h) * d.W, d.W * sizeof(float));
}

DirectShape direct_shape(int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad, int64_t dil,
                         int64_t stride = 1) {
  DirectShape d{C, H, W, K, R, S, pad, dil, stride, H + 2 * pad, W + 2 * pad, 0, 0};
  d.P = (d.Hp - dil * (R - 1) - 1) / stride + 1;
  d.Q = (d.Wp - dil * (S - 1) - 1) / stride + 1;
  return d;
}

// off[c R S + r S + s]: where tap (c, r, s) starts in xp_flat.
std::vector<int64_t> tap_offsets(const DirectShape& d) {
  std::vector<int64_t> off(d.crs());
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t r = 0; r < d.R; ++r)
      for (int64_t s = 0; s < d.S; ++s) off[(c * d.R + r) * d.S + s] = c * d.Hp * d.Wp + r * d.dil * d.Wp + s * d.dil;
  return off;
}

// One image with the spatial tile: pad x into xp, run every tile into yflat [K, positions], copy the
// valid positions to y.
void spatial_image(const DirectShape& d, const float* x, const float* wp, const int64_t* off, const float* b, float* y,
                   float* xp, float* yflat) {
  const int64_t npos = d.positions();
  pad_image(d, x, xp);
  for (int64_t t0 = 0; t0 < npos; t0 += kNr)
    for (int64_t k0 = 0; k0 < d.K; k0 += kMr) {
      const int64_t mr = std::min<int64_t>(kMr, d.K - k0);
      kSpatialTiles[mr](wp + k0 * d.crs(), xp + t0, off, d.crs(), b ? b + k0 : nullptr, yflat + k0 * npos + t0, npos);
    }
  for (int64_t k = 0; k < d.K; ++k)
    for (int64_t p = 0; p < d.P; ++p)
      std::memcpy(y + (k * d.P + p) * d.Q, yflat + k * npos + p * d.Wp, d.Q * sizeof(float));
}

// w [K, C, R, S] for the channel tile: blocks of 16 KV output channels, wp[block][i][16 KV].
std::vector<float> pack_channel_weights(const float* w, const DirectShape& d, int kv) {
  const int64_t crs = d.crs(), width = 16 * kv;
  std::vector<float> wp(d.K * crs);
  for (int64_t k0 = 0; k0 < d.K; k0 += width)
    for (int64_t i = 0; i < crs; ++i)
      for (int64_t m = 0; m < width; ++m) wp[k0 * crs + i * width + m] = w[(k0 + m) * crs + i];
  return wp;
}

using ChannelTileFn = void (*)(const float*, const float*, const int64_t*, int64_t, const float*, bool, float*,
                               int64_t);
constexpr int64_t kTapChunk = 128;
ChannelTileFn channel_tile_for(int kv) {
  return kv == 4 ? channel_tile<4, 6> : kv == 2 ? channel_tile<2, 12> : channel_tile<1, 24>;
}

// One image with the channel tile: yt [positions, K], then y [K, P, Q] from its valid positions.
void channel_image(const DirectShape& d, const float* x, const float* wp, const int64_t* off, const float* b, float* y,
                   float* xp, float* yt) {
  const int kv = channel_vectors(d), mt = 24 / kv;
  const ChannelTileFn tile_fn = channel_tile_for(kv);
  const int64_t crs = d.crs(), width = 16 * kv;
  const bool by_row = row_tile_fits(d);  // one tile per output row: no wasted positions
  // Row tiles read only inside the image, so without padding they read x itself.
  const float* src = by_row && d.pad == 0 ? x : xp;
  if (src == xp) pad_image(d, x, xp);
  for (int64_t i0 = 0; i0 < crs; i0 += kTapChunk) {
    const int64_t taps = std::min(kTapChunk, crs - i0);
    for (int64_t k0 = 0; k0 < d.K; k0 += width) {
      const float* wk = wp + k0 * crs + i0 * width;
      const float* bk = b ? b + k0 : nullptr;
      if (by_row) {
        const int64_t mtr = row_tile_width(d);
        const ChannelTileFn row_fn = d.stride == 1 ? (mtr == 14 ? channel_tile<2, 14> : channel_tile<2, 7>)
                                                   : (mtr == 14 ? channel_tile<2, 14, 2> : channel_tile<2, 7, 2>);
        for (int64_t p = 0; p < d.P; ++p)
          for (int64_t q0 = 0; q0 < d.Q; q0 += mtr)  // yt row p Q + q0; the input at (p, q0) times the stride
            row_fn(wk, src + d.stride * (p * d.Wp + q0), off + i0, taps, bk, i0 == 0, yt + (p * d.Q + q0) * d.K + k0,
                   d.K);
      } else
        for (int64_t t0 = 0; t0 < d.channel_positions(mt); t0 += mt)
          tile_fn(wk, xp + t0, off + i0, taps, bk, i0 == 0, yt + t0 * d.K + k0, d.K);
    }
  }
  if (by_row) return transpose(yt, d.P * d.Q, d.K, d.K, y, d.P * d.Q);  // yt [P Q, K] -> y [K, P Q]
  // y[k, p, :] from column k of yt's rows p Wp ..: the Q rows read stay in L1 across k.
  for (int64_t p = 0; p < d.P; ++p)
    for (int64_t k = 0; k < d.K; ++k) {
      const float* from = yt + p * d.Wp * d.K + k;
      float* to = y + (k * d.P + p) * d.Q;
      for (int64_t q = 0; q < d.Q; ++q) to[q] = from[q * d.K];
    }
}

// The spatial tile wastes the padded-width positions and the rounding to 48; the channel tile only
// the padded width, but needs K a multiple of 16.
bool spatial_fits(const DirectShape& d) { return d.stride == 1 && d.positions() <= 1.3 * d.P * d.Q; }
bool channel_fits(const DirectShape& d) {
  if (row_tile_fits(d)) return true;
  return d.stride == 1 && d.K % 16 == 0 && d.channel_positions(24 / channel_vectors(d)) <= 1.5 * d.P * d.Q;
}

}  // namespace

bool conv2d_direct_supported() { return __builtin_cpu_supports("avx512f"); }

bool conv2d_direct_forward_fits(int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad,
                                int64_t dil, int64_t stride) {
  if (stride > 2) return false;
  const DirectShape d = direct_shape(C, H, W, K, R, S, pad, dil, stride);
  return spatial_fits(d) || channel_fits(d);
}

bool conv2d_direct_weight_fits(int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad,
                               int64_t dil, int64_t stride) {
  if (stride > 2) return false;
  return K % 32 == 0 || spatial_fits(direct_shape(C, H, W, K, R, S, pad, dil, stride));
}

int64_t conv2d_direct_positions(int64_t P, int64_t Wp) { return (P * Wp + kNr - 1) / kNr * kNr; }

void conv2d_direct_forward(const float* x, const float* w, const float* b, float* y, int64_t N, int64_t C, int64_t H,
                           int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad, int64_t dil, int64_t stride) {
  const DirectShape d = direct_shape(C, H, W, K, R, S, pad, dil, stride);
  const bool spatial = !row_tile_fits(d) && spatial_fits(d);
  const std::vector<float> wp = spatial ? pack_weights(w, d) : pack_channel_weights(w, d, channel_vectors(d));
  const std::vector<int64_t> off = tap_offsets(d);
  const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), N)));
  const int64_t xp_size = d.padded_size(), y_size = K * d.positions();
  // Per-thread scratch; xp's padding border and tail stay zero across images (only the interior is
  // rewritten).
  Tensor scratch = zeros({threads, xp_size + y_size});
  float* base = scratch.data<float>();
  parallel_for(N, 1, [&](int64_t begin, int64_t end) {
    float* xp = base + thread_index() * (xp_size + y_size);
    for (int64_t n = begin; n < end; ++n) {
      const float* xn = x + n * C * H * W;
      float* yn = y + n * K * d.P * d.Q;
      if (spatial)
        spatial_image(d, xn, wp.data(), off.data(), b, yn, xp, xp + xp_size);
      else
        channel_image(d, xn, wp.data(), off.data(), b, yn, xp, xp + xp_size);
    }
  });
}

}  // namespace scorch::detail

namespace scorch::detail {

namespace {

// The weight gradient with channel vectors (K a multiple of 32): per thread a partial gwT [C R S, K].
void channel_backward_weight(const DirectShape& d, const float* x, const float* g, float* gw, int64_t N) {
  const std::vector<int64_t> off = tap_offsets(d);
  const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), N)));
  const int64_t crs = d.crs(), K = d.K, pq = d.P * d.Q;
  const int64_t xp_size = d.padded_size(), slot = xp_size + pq * K + crs * K;
  Tensor scratch = zeros({threads, slot});
  float* base = scratch.data<float>();
  parallel_for(N, 1, [&](int64_t begin, int64_t end) {
    float* xp = base + thread_index() * slot;
    float *gt = xp + xp_size, *part = gt + pq * K;
    for (int64_t n = begin; n < end; ++n) {
      const float* xn = x + n * d.C * d.H * d.W;
      const float* src = d.pad == 0 ? xn : xp;  // weight tiles read only inside the image
      if (d.pad != 0) pad_image(d, xn, xp);
      const float* gn = g + n * K * pq;
      transpose(gn, K, pq, pq, gt, K);  // g [K, P Q] -> gt [P Q, K]
      for (int64_t i0 = 0; i0 < crs; i0 += kMi)
        for (int64_t k0 = 0; k0 < K; k0 += 32)
          kWeightTiles[d.stride - 1][std::min<int64_t>(kMi, crs - i0)](gt + k0, K, src, off.data() + i0, d.P, d.Q, d.Wp,
                                                                       part + i0 * K + k0);
    }
  });
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < crs; ++i) {
      float total = 0;  // the threads' partials in order
      for (int t = 0; t < threads; ++t) total += base[t * slot + xp_size + pq * K + i * K + k];
      gw[k * crs + i] = total;
    }
}

}  // namespace

void conv2d_direct_backward_weight(const float* x, const float* g, float* gw, int64_t N, int64_t C, int64_t H,
                                   int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad, int64_t dil,
                                   int64_t stride) {
  const DirectShape d = direct_shape(C, H, W, K, R, S, pad, dil, stride);
  if (K % 32 == 0) return channel_backward_weight(d, x, g, gw, N);
  const std::vector<int64_t> off = tap_offsets(d);
  const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), N)));
  const int64_t npos = d.positions(), crs = d.crs();
  // Images per reduction: enough positions (768) to amortise the final sums across lanes.
  const int64_t share = (N + threads - 1) / threads;
  const int64_t group = std::clamp<int64_t>((768 + npos - 1) / npos, 1, share);
  const int64_t xp_size = d.padded_size(), g_size = K * npos, slot = group * (xp_size + g_size) + K * crs;
  // Per thread: `group` padded images, as many g_flat (zero at the dropped positions, which are never
  // written) and a partial gw.
  Tensor scratch = zeros({threads, slot});
  float* base = scratch.data<float>();
  const int64_t groups = (N + group - 1) / group;
  parallel_for(groups, 1, [&](int64_t begin, int64_t end) {
    float* xp = base + thread_index() * slot;
    float *gflat = xp + group * xp_size, *part = gflat + group * g_size;
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n0 = i * group, count = std::min(group, N - n0);
      for (int64_t j = 0; j < count; ++j) {
        pad_image(d, x + (n0 + j) * C * H * W, xp + j * xp_size);
        const float* gn = g + (n0 + j) * K * d.P * d.Q;
        for (int64_t k = 0; k < K; ++k)
          for (int64_t p = 0; p < d.P; ++p)
            std::memcpy(gflat + j * g_size + k * npos + p * d.Wp, gn + (k * d.P + p) * d.Q, d.Q * sizeof(float));
      }
      for (int64_t i0 = 0; i0 < crs; i0 += kMc) {
        const int64_t mc = std::min<int64_t>(kMc, crs - i0);
        for (int64_t k0 = 0; k0 < K; k0 += kMk)
          kDotTiles[std::min<int64_t>(kMk, K - k0)][mc](gflat + k0 * npos, npos, g_size, xp, xp_size, off.data() + i0,
                                                        npos, count, part + k0 * crs + i0, crs);
      }
    }
  });
  const int64_t part_at = group * (xp_size + g_size);
  std::copy(base + part_at, base + slot, gw);  // thread 0's partial, then the others in order
  for (int t = 1; t < threads; ++t)
    for (int64_t i = 0; i < K * crs; ++i) gw[i] += base[t * slot + part_at + i];
}

}  // namespace scorch::detail
