// vec_math.h: elementary functions that the compiler can vectorise inside the elementwise loops.
//
// glibc's vector math (libmvec) is only used by GCC under -ffast-math, so a loop calling expf runs one
// element at a time. exp_vec(float) is Cephes' expf written branch-free: x = n ln2 + r with
// |r| <= ln2/2 (ln2 split in two parts so that r is exact), exp(r) by a degree-6 polynomial, and 2^n
// put into the exponent bits as two factors (n reaches 128, one past the largest float exponent, which
// is how large x overflows to inf). Error at most 2 ulp (tests/ops/test_elementwise.cpp sweeps it);
// x below -87.3 gives 0 (expf would give a denormal). Double keeps std::exp (gradchecks run in double).
// log1p_vec(float) is the same for log1p on t >= 0 (softplus's second term); tanh_vec(float) a rational
// interpolant (Eigen's).
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

// log(1 + t) for t >= 0, as Cephes' logf on u = 1 + t (exponent and mantissa split by bits, mantissa
// moved to [sqrt(1/2), sqrt(2)), degree-9 polynomial), corrected by t / (u - 1) for the rounding of
// u (Goldberg's trick), so that tiny t keep full relative precision. Error a few ulp; softplus's log1p.
inline float log1p_vec(float t) {
  const float u = 1.0f + t;
  const int32_t bits = std::bit_cast<int32_t>(u);
  int32_t e = ((bits >> 23) & 0xff) - 126;  // u = m 2^e, m in [0.5, 1)
  float m = std::bit_cast<float>((bits & 0x007fffff) | 0x3f000000);
  const bool small = m < 0.707106781186547524f;
  e = small ? e - 1 : e;
  m = small ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = std::fma(y, m, -1.1514610310e-1f);
  y = std::fma(y, m, 1.1676998740e-1f);
  y = std::fma(y, m, -1.2420140846e-1f);
  y = std::fma(y, m, 1.4249322787e-1f);
  y = std::fma(y, m, -1.6668057665e-1f);
  y = std::fma(y, m, 2.0000714765e-1f);
  y = std::fma(y, m, -2.4999993993e-1f);
  y = std::fma(y, m, 3.3333331174e-1f);
  y = y * m * z;
  const float fe = static_cast<float>(e);
  y = std::fma(fe, -2.12194440e-4f, y);
  y = std::fma(z, -0.5f, y);
  const float log_u = std::fma(fe, 0.693359375f, m + y);
  const float d = u - 1.0f;
  return d == 0.0f ? t : log_u * (t / d);
}
inline double log1p_vec(double t) { return std::log1p(t); }

// tanh(x) for float as Eigen's generic_fast_tanh_float computes it: x clamped to [-9, 9] (beyond,
// tanh is +-1 in float), then a 13/6-degree rational interpolant, odd over even in x, a few ulp in
// absolute terms near 0 and relative ones elsewhere. Branch-free, so it vectorises; std::tanh does not
// (9 ms on 1M floats against about 0.2 ms). Below |x| = 4e-4 it returns x, which is tanh x in float.
inline float tanh_vec(float x) {
  const float xc = x > 9.0f ? 9.0f : (x < -9.0f ? -9.0f : x);  // NaN passes through
  const float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = std::fma(p, x2, 2.00018790482477e-13f);
  p = std::fma(p, x2, -8.60467152213735e-11f);
  p = std::fma(p, x2, 5.12229709037114e-08f);
  p = std::fma(p, x2, 1.48572235717979e-05f);
  p = std::fma(p, x2, 6.37261928875436e-04f);
  p = std::fma(p, x2, 4.89352455891786e-03f);
  float q = 1.19825839466702e-06f;
  q = std::fma(q, x2, 1.18534705686654e-04f);
  q = std::fma(q, x2, 2.26843463243900e-03f);
  q = std::fma(q, x2, 4.89352518554385e-03f);
  const float y = xc * p / q;
  return std::abs(x) < 0.0004f ? x : y;
}
inline double tanh_vec(double x) { return std::tanh(x); }

}  // namespace scorch
