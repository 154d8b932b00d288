// conv2d_direct.h (internal to conv2d.cpp): a direct float32 kernel for stride-1 convolutions with
// AVX-512, no column matrix. With x zero-padded into xp [C, Hp, Wp] (Hp = H + 2 pad, Wp = W + 2 pad),
// output pixel (p, q) reads xp[c, p + r dil, q + s dil], i.e. flat index t + off(c, r, s) with
// t = p Wp + q and off = c Hp Wp + r dil Wp + s dil. Over the padded-width positions t in [0, P Wp)
// every filter tap is then one contiguous run of xp, so
//   y_flat[k, t] = b[k] + sum_{c, r, s} w[k, c, r, s] xp_flat[t + off(c, r, s)]
// is a dense product that a register-tiled kernel computes with vector loads of xp and broadcasts of
// w (8 output channels x 48 positions per tile, 24 zmm accumulators); the Wp - Q positions per row
// that wrap around are computed and dropped. The data gradient of a stride-1 conv is the same kernel
// on g with the flipped, transposed filter (conv2d.h).
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
void conv2d_direct_forward(const float* x, const float* w, const float* b, float* y, int64_t N, int64_t C,
                           int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad, int64_t dil,
                           int64_t stride);
// x [N, C, H, W], g [N, K, P, Q] -> gw [K, C, R, S], stride 1: gw[k, i] = sum_t g_flat[k, t] xp_flat[t + off(i)]
// over the padded-width positions (g_flat is zero at the dropped ones), dot products of contiguous runs
// (4 x 6 tiles of 16-lane accumulators, summed across lanes at the end). Per-thread partial sums.
void conv2d_direct_backward_weight(const float* x, const float* g, float* gw, int64_t N, int64_t C, int64_t H,
                                   int64_t W, int64_t K, int64_t R, int64_t S, int64_t pad, int64_t dil,
                                   int64_t stride);

}  // namespace scorch::detail
