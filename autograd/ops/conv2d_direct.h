// conv2d_direct.h (internal to conv2d.cpp): direct float32 convolution kernels with AVX-512, no
// column matrix. x is zero-padded into xp [C, Hp, Wp] (Hp = H + 2 pad, Wp = W + 2 pad; x itself when
// pad = 0 and a tile reads only inside the image), so output pixel (p, q) reads
// xp[c, p stride + r dil, q stride + s dil]: flat index off(c, r, s) + stride (p Wp + q), with
// off = c Hp Wp + r dil Wp + s dil. Three register tiles (24-28 zmm accumulators each):
//   row tiles       one output row (7 or 14 positions) x 32 output channels: per tap, two vector loads
//                   of packed w and one broadcast of xp per position (stride 1 or 2; K % 32 == 0,
//                   Q a multiple of 7); results go position-major, then to NCHW by 16x16 transposes.
//   spatial tiles   8 output channels x 48 consecutive padded-width positions t = p Wp + q: vector loads
//                   of xp, broadcasts of w; the Wp - Q wrapped positions per row are computed and
//                   dropped (stride 1; any K: used for K = 1 and narrow outputs).
//   weight tiles    gw[k, i] = sum over positions of g[k, p, q] xp[off(i) + ...]: 12 taps x 32 channels
//                   with g transposed to position-major (K % 32 == 0), or 4 channels x 6 taps of
//                   16-lane dot products over padded-width positions otherwise.
// The data gradient of a stride-1 conv is the forward on g with the flipped, transposed filter
// (conv2d.cpp). The *_fits functions say where a map runs well; conv2d.cpp uses the gemm elsewhere.
#pragma once
#include <cstdint>

namespace scorch::detail {

// Whether this CPU runs the kernel (AVX-512F).
bool conv2d_direct_supported();
// How many positions the spatial kernel computes for P output rows of padded width Wp (whole tiles).
int64_t conv2d_direct_positions(int64_t P, int64_t Wp);
// Whether the forward (and so the data gradient) or the weight gradient of this stride-1 conv runs
// well here: few computed positions wasted (at most 30% for the spatial tile; 50% for the channel
// tile, which needs K a multiple of 16).
bool conv2d_direct_forward_fits(int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad,
                                int64_t dil, int64_t stride);
bool conv2d_direct_weight_fits(int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad,
                               int64_t dil, int64_t stride);

// x [N, C, H, W], w [K, C, R, S], b [K] or null -> y [N, K, P, Q], stride 1; all contiguous float32.
void conv2d_direct_forward(const float* x, const float* w, const float* b, float* y, int64_t N, int64_t C, int64_t H,
                           int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad, int64_t dil, int64_t stride);
// x [N, C, H, W], g [N, K, P, Q] -> gw [K, C, R, S], stride 1: gw[k, i] = sum_t g_flat[k, t] xp_flat[t + off(i)]
// over the padded-width positions (g_flat is zero at the dropped ones), dot products of contiguous runs
// (4 x 6 tiles of 16-lane accumulators, summed across lanes at the end). Per-thread partial sums.
void conv2d_direct_backward_weight(const float* x, const float* g, float* gw, int64_t N, int64_t C, int64_t H,
                                   int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad, int64_t dil,
                                   int64_t stride);

}  // namespace scorch::detail
