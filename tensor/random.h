// random.h: seeded, counter-based random numbers: Philox-4x32-10, a Generator (seed + offset) and the
// factories rand, randn and randint.
//
// Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11;
// reference code: Random123, include/Random123/philox.h) maps a 128-bit counter c = (c0, c1, c2, c3)
// and a 64-bit key k = (k0, k1) to 128 random bits by 10 rounds of
//   (hi0, lo0) = M0 * c0,  (hi1, lo1) = M1 * c2           (32 x 32 -> 64-bit products)
//   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
// with the key bumped by the Weyl constants, k += (W0, W1), before every round but the first.
// Being a pure function of (counter, key), any element of a stream can be computed on its own, on any
// thread or device, which is what makes the output independent of the thread count.
//
// Stream layout (the CUDA backend must reproduce it exactly; the *_block functions below are the one
// host/device definition of what a block gives):
//   key     = (seed & 0xffffffff, seed >> 32)
//   counter = (b & 0xffffffff, b >> 32, 0, 0) for the 64-bit block index b;  w[0..3] = philox4x32_10(counter, key)
//   A draw of n values takes blocks first .. first + ceil(n / P) - 1, where first is the generator's offset,
//   and leaves the offset at first + ceil(n / P). Element i (row-major) comes from block first + i / P,
//   with j = i % P, U24(w) = (w >> 8) * 2^-24, W64(k) = (w[2k+1] << 32) | w[2k], U53(x) = (x >> 11) * 2^-53:
//     rand    float32  P = 4:  U24(w[j])
//     rand    float64  P = 2:  U53(W64(j))
//     randn   float32  P = 4:  Box-Muller of u1 = U24(w[j & ~1]), u2 = U24(w[j | 1]); cos for even j, sin for odd
//     randn   float64  P = 2:  Box-Muller of u1 = U53(W64(0)), u2 = U53(W64(1)); cos for j = 0, sin for j = 1
//     randint any      P = 2:  low + floor(W64(j) * (high - low) / 2^64)
//   Box-Muller, in double for both dtypes (float32 rounds the result): r = sqrt(-2 log(1 - u1)), t = 2 pi u2,
//   giving r cos t and r sin t.
// So consecutive draws continue one stream exactly when each draw's size is a multiple of P; otherwise
// the unused lanes of a draw's last block are skipped.
//
// Numerics: uniforms lie in [0, 1) on a grid of 2^-24 (float32) or 2^-53 (float64), so 1 - u1 is in (0, 1]
// and exact, and Box-Muller never takes log(0); |randn| <= 5.8 (float32) or 8.6 (float64). Box-Muller runs
// in double so that float32 results are the same on CPU and CUDA (libm and CUDA differ by an ulp in double
// at most, which almost never survives rounding to float); float64 results may differ by an ulp.
// randint's multiply-shift has a bias of at most (high - low) / 2^64 per value, and needs no rejection
// loop, so every element costs the same fixed lanes.
#pragma once
#include <cmath>
#include <cstdint>
#include <numbers>

#include "tensor/host_device.h"
#include "tensor/tensor.h"

namespace scorch {

// ---- Philox-4x32-10 --------------------------------------------------------------------------------

struct PhiloxBlock {  // a counter, or the 128 bits that Philox makes from it
  uint32_t v[4];
};
struct PhiloxKey {
  uint32_t v[2];
};

inline constexpr uint32_t kPhiloxM0 = 0xD2511F53, kPhiloxM1 = 0xCD9E8D57;  // round multipliers
inline constexpr uint32_t kPhiloxW0 = 0x9E3779B9, kPhiloxW1 = 0xBB67AE85;  // key bumps: golden ratio, sqrt(3) - 1

SCORCH_HOST_DEVICE constexpr PhiloxBlock philox4x32_10(PhiloxBlock c, PhiloxKey k) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k.v[0] += kPhiloxW0;
      k.v[1] += kPhiloxW1;
    }
    const uint64_t p0 = uint64_t{kPhiloxM0} * c.v[0];
    const uint64_t p1 = uint64_t{kPhiloxM1} * c.v[2];
    c = {{static_cast<uint32_t>(p1 >> 32) ^ c.v[1] ^ k.v[0], static_cast<uint32_t>(p1),
          static_cast<uint32_t>(p0 >> 32) ^ c.v[3] ^ k.v[1], static_cast<uint32_t>(p0)}};
  }
  return c;
}

SCORCH_HOST_DEVICE constexpr PhiloxKey philox_key(uint64_t seed) {
  return {{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
}
SCORCH_HOST_DEVICE constexpr PhiloxBlock philox_counter(uint64_t block) {
  return {{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0}};
}

// ---- One counter block -> values (the layout above) ------------------------------------------------

// Values that one block gives: 4 float32 uniforms or normals, 2 of everything else.
template <typename T>
inline constexpr int kRandPerBlock = sizeof(T) == 4 ? 4 : 2;
inline constexpr int kRandintPerBlock = 2;

SCORCH_HOST_DEVICE inline uint64_t philox_word64(const PhiloxBlock& r, int j) {
  return uint64_t{r.v[2 * j + 1]} << 32 | r.v[2 * j];
}
SCORCH_HOST_DEVICE inline float uniform_float(uint32_t w) { return static_cast<float>(w >> 8) * 0x1p-24f; }
SCORCH_HOST_DEVICE inline double uniform_double(uint64_t x) { return static_cast<double>(x >> 11) * 0x1p-53; }

// Two independent N(0, 1) values from two uniforms in [0, 1).
SCORCH_HOST_DEVICE inline void box_muller(double u1, double u2, double& z0, double& z1) {
  const double r = std::sqrt(-2.0 * std::log(1.0 - u1));  // 1 - u1 is in (0, 1]: never log(0)
  const double t = 2.0 * std::numbers::pi * u2;
  z0 = r * std::cos(t);
  z1 = r * std::sin(t);
}

SCORCH_HOST_DEVICE inline void rand_block(const PhiloxBlock& r, float out[4]) {
  for (int j = 0; j < 4; ++j) out[j] = uniform_float(r.v[j]);
}
SCORCH_HOST_DEVICE inline void rand_block(const PhiloxBlock& r, double out[2]) {
  for (int j = 0; j < 2; ++j) out[j] = uniform_double(philox_word64(r, j));
}
SCORCH_HOST_DEVICE inline void randn_block(const PhiloxBlock& r, float out[4]) {
  for (int j = 0; j < 2; ++j) {
    double z0, z1;
    box_muller(uniform_float(r.v[2 * j]), uniform_float(r.v[2 * j + 1]), z0, z1);
    out[2 * j] = static_cast<float>(z0);
    out[2 * j + 1] = static_cast<float>(z1);
  }
}
SCORCH_HOST_DEVICE inline void randn_block(const PhiloxBlock& r, double out[2]) {
  box_muller(uniform_double(philox_word64(r, 0)), uniform_double(philox_word64(r, 1)), out[0], out[1]);
}
// `range` = high - low as an unsigned 64-bit number (so [INT64_MIN, INT64_MAX) does not overflow).
template <typename T>
SCORCH_HOST_DEVICE inline void randint_block(const PhiloxBlock& r, int64_t low, uint64_t range, T out[2]) {
  for (int j = 0; j < 2; ++j) {
#ifdef __CUDA_ARCH__
    const uint64_t delta = __umul64hi(philox_word64(r, j), range);
#else
    const uint64_t delta = static_cast<uint64_t>((static_cast<unsigned __int128>(philox_word64(r, j)) * range) >> 64);
#endif
    out[j] = static_cast<T>(static_cast<int64_t>(static_cast<uint64_t>(low) + delta));
  }
}

// The three draws as functors over one block (what the CPU loop and the CUDA kernel both call).
struct UniformBlock {
  template <typename T>
  SCORCH_HOST_DEVICE void operator()(const PhiloxBlock& r, T* out) const {
    rand_block(r, out);
  }
};
struct NormalBlock {
  template <typename T>
  SCORCH_HOST_DEVICE void operator()(const PhiloxBlock& r, T* out) const {
    randn_block(r, out);
  }
};
struct IntegerBlock {
  int64_t low;
  uint64_t range;
  template <typename T>
  SCORCH_HOST_DEVICE void operator()(const PhiloxBlock& r, T* out) const {
    randint_block(r, low, range, out);
  }
};

// Block b of a draw of n values (P per block) from counter block `first` on: writes
// out[b P .. min(n, (b + 1) P)). One CUDA thread does this per block (cuda/random.cu); the tests run it
// on the CPU against the CPU fill.
template <typename T, int P, typename BlockFn>
SCORCH_HOST_DEVICE inline void write_random_block(T* out, int64_t n, uint64_t first, int64_t b, PhiloxKey key,
                                                  const BlockFn& fn) {
  T v[P];
  fn(philox4x32_10(philox_counter(first + static_cast<uint64_t>(b)), key), v);
  for (int j = 0; j < P && b * P + j < n; ++j) out[b * P + j] = v[j];
}

// ---- Generator -----------------------------------------------------------------------------------

// A seed (the Philox key) and an offset (the next unused counter block). Copying a Generator copies its
// state; saving (seed, offset) and restoring them replays the same numbers. NOTE: not thread-safe; give
// each thread its own Generator.
class Generator {
 public:
  static constexpr uint64_t kDefaultSeed = 0;
  explicit Generator(uint64_t seed = kDefaultSeed) : seed_(seed) {}

  uint64_t seed() const { return seed_; }
  void set_seed(uint64_t seed) {  // restarts the stream: offset 0
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }
  PhiloxKey key() const { return philox_key(seed_); }

  // Hands out `blocks` counter blocks for one draw: returns the first and moves the offset past them.
  uint64_t reserve(uint64_t blocks) {
    const uint64_t first = offset_;
    offset_ += blocks;
    return first;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide generator that the overloads without a Generator draw from (seed kDefaultSeed).
Generator& default_generator();
// Reseeds the default generator and restarts its stream.
void manual_seed(uint64_t seed);

// ---- Factories -------------------------------------------------------------------------------------
// On the CPU or a CUDA device (options.device), the same values for the same generator state.

// Uniform on [0, 1); float32 or float64.
Tensor rand(const Shape& shape, Generator& gen, TensorOptions options = {});
Tensor rand(const Shape& shape, TensorOptions options = {});
// Standard normal N(0, 1); float32 or float64.
Tensor randn(const Shape& shape, Generator& gen, TensorOptions options = {});
Tensor randn(const Shape& shape, TensorOptions options = {});
// Integers uniform on [low, high), stored in any dtype (int64 by default); needs low < high.
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen,
               TensorOptions options = {.dtype = kInt64});
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options = {.dtype = kInt64});

}  // namespace scorch
