// vec_math.h: elementary functions that the compiler can vectorise inside the elementwise loops.
//
// glibc's vector math (libmvec) is only used by GCC under -ffast-math, so a loop calling expf runs one
// element at a time. exp_vec(float) is Cephes' expf written branch-free: x = n ln2 + r with
// |r| <= ln2/2 (ln2 split in two parts so that r is exact), exp(r) by a degree-6 polynomial, and 2^n
// put into the exponent bits as two factors (n reaches 128, one past the largest float exponent, which
// is how large x overflows to inf). Error at most 2 ulp (tests/ops/test_elementwise.cpp sweeps it);
// x below -87.3 gives 0 (expf would give a denormal). Double keeps std::exp (gradchecks run in double).
// NOTE: the loops vectorise only with -fno-trapping-math (set in CMakeLists.txt), which lets GCC turn
// the selects below into blends.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

namespace scorch {

inline float exp_vec(float x) {
  float xc = x < -87.3f ? -87.3f : x;  // NaN passes through to the result
  xc = xc > 89.0f ? 89.0f : xc;
  // n = round(x / ln2) by the 1.5 * 2^23 trick (floor() would not vectorise).
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = std::fma(n, -0.693359375f, xc);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r) + 1.0f;
  const int32_t ni = static_cast<int32_t>(n), half = ni >> 1;
  const float y = p * std::bit_cast<float>((half + 127) << 23) * std::bit_cast<float>((ni - half + 127) << 23);
  return x < -87.3f ? 0.0f : y;
}
inline double exp_vec(double x) { return std::exp(x); }

}  // namespace scorch
