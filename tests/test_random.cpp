// test_random.cpp: Philox-4x32-10 against Random123's known answers, the stream layout that random.h
// documents (which the CUDA backend must match), reproducibility (seed/offset, thread count, split
// draws), the distributions' moments, and the argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "tensor/parallel.h"
#include "tensor/random.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::ThreadCountGuard;

::testing::AssertionResult throws_with(const std::function<void()>& f, const std::string& expected) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find(expected) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message \"" << e.what() << "\" lacks \"" << expected << "\"";
  }
  return ::testing::AssertionFailure() << "no std::invalid_argument thrown";
}

struct Moments {
  double mean = 0, var = 0;
};
Moments moments(const std::vector<double>& v) {
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(v.size());
  return m;
}

// The three philox4x32 10 lines of Random123's tests/kat_vectors (DEShawResearch/random123 at
// 9545ff6413f258be2f04c1d319d99aaef7521150): counter, key, expected output.
TEST(Philox, KnownAnswerVectors) {
  struct Kat {
    PhiloxBlock counter;
    PhiloxKey key;
    PhiloxBlock expected;
  };
  const Kat kats[] = {
      {{{0x00000000, 0x00000000, 0x00000000, 0x00000000}},
       {{0x00000000, 0x00000000}},
       {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       {{0xffffffff, 0xffffffff}},
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       {{0xa4093822, 0x299f31d0}},
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const PhiloxBlock out = philox4x32_10(k.counter, k.key);
    for (int j = 0; j < 4; ++j)
      EXPECT_EQ(out.v[j], k.expected.v[j]) << "word " << j << ", key " << std::hex << k.key.v[0];
  }
}

// Recomputes chosen elements from philox4x32_10 with the formulas of random.h's header comment.
TEST(Random, LayoutMatchesHeader) {
  // The offset puts the draws across the carry into the counter's second word.
  const uint64_t seed = 0x0123456789abcdefULL, offset = 0xfffffffeULL;
  const PhiloxKey key{{0x89abcdef, 0x01234567}};
  auto words = [&](int64_t block) {
    const uint64_t b = offset + static_cast<uint64_t>(block);
    return philox4x32_10({{static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32), 0, 0}}, key);
  };
  auto u32 = [](uint32_t w) { return (w >> 8) * 0x1p-24; };
  auto u64 = [](uint32_t lo, uint32_t hi) { return ((static_cast<uint64_t>(hi) << 32 | lo) >> 11) * 0x1p-53; };
  auto at_offset = [&](auto draw) {
    Generator g(seed);
    g.set_offset(offset);
    return draw(g).values();
  };
  const auto rf = at_offset([](Generator& g) { return rand({11}, g); });
  const auto rd = at_offset([](Generator& g) { return rand({11}, g, {.dtype = kFloat64}); });
  const auto nf = at_offset([](Generator& g) { return randn({11}, g); });
  const auto nd = at_offset([](Generator& g) { return randn({11}, g, {.dtype = kFloat64}); });
  const auto ri = at_offset([](Generator& g) { return randint(-5, 1000, {11}, g); });
  const double two_pi = 2 * std::numbers::pi;
  for (int64_t i : {0, 3, 6, 10}) {
    PhiloxBlock w = words(i / 4);
    const int lane = static_cast<int>(i % 4), pair = lane / 2;
    EXPECT_EQ(rf[i], static_cast<float>(u32(w.v[lane]))) << "rand float32, element " << i;
    const double r = std::sqrt(-2 * std::log(1 - u32(w.v[2 * pair]))), t = two_pi * u32(w.v[2 * pair + 1]);
    EXPECT_EQ(nf[i], static_cast<float>(lane % 2 ? r * std::sin(t) : r * std::cos(t))) << "randn float32, " << i;

    w = words(i / 2);
    const int j = static_cast<int>(i % 2);
    EXPECT_EQ(rd[i], u64(w.v[2 * j], w.v[2 * j + 1])) << "rand float64, element " << i;
    const double r64 = std::sqrt(-2 * std::log(1 - u64(w.v[0], w.v[1]))), t64 = two_pi * u64(w.v[2], w.v[3]);
    EXPECT_EQ(nd[i], j ? r64 * std::sin(t64) : r64 * std::cos(t64)) << "randn float64, element " << i;
    const unsigned __int128 x = static_cast<uint64_t>(w.v[2 * j + 1]) << 32 | w.v[2 * j];
    EXPECT_EQ(ri[i], -5.0 + static_cast<double>(static_cast<uint64_t>((x * 1005) >> 64))) << "randint, " << i;
  }
}

TEST(Random, SameSeedAndOffsetGiveSameNumbers) {
  Generator a(42), b(42), other_seed(43);
  const std::vector<double> x = randn({1000}, a).values();
  EXPECT_EQ(x, randn({1000}, b).values());
  EXPECT_NE(x, randn({1000}, other_seed).values());
  EXPECT_NE(x, randn({1000}, a).values()) << "a second draw must continue the stream";
  // Saving and restoring (seed, offset), as a checkpoint does, replays the numbers.
  const uint64_t saved_seed = a.seed(), saved_offset = a.offset();
  const std::vector<double> y = randn({999}, a, {.dtype = kFloat64}).values();
  Generator restored;
  restored.set_seed(saved_seed);
  restored.set_offset(saved_offset);
  EXPECT_EQ(y, randn({999}, restored, {.dtype = kFloat64}).values());
  EXPECT_EQ(restored.offset(), a.offset());
}

TEST(Random, DefaultGeneratorFollowsManualSeed) {
  manual_seed(7);
  const std::vector<double> x = randn({2, 5}).values();
  EXPECT_EQ(default_generator().offset(), 3u);  // 10 float32 normals: ceil(10 / 4) blocks
  manual_seed(7);
  EXPECT_EQ(x, randn({2, 5}).values());
  Generator g(7);
  EXPECT_EQ(x, randn({2, 5}, g).values());
  manual_seed(7);
  randn({2, 5});
  EXPECT_EQ(rand({3}).values(), rand({3}, g).values()) << "both generators are at offset 3";
}

// 100003 values: odd, and above 2 x kGrainRandom so that two threads really split the work.
TEST(Random, SameStreamOnOneAndTwoThreads) {
  ThreadCountGuard guard;
  auto draw_all = [] {
    Generator g(5);
    std::vector<std::vector<double>> out;
    for (DType t : {kFloat32, kFloat64}) {
      out.push_back(rand({100003}, g, {.dtype = t}).values());
      out.push_back(randn({100003}, g, {.dtype = t}).values());
      out.push_back(randint(-9, 1 << 20, {100003}, g, {.dtype = t}).values());
    }
    out.push_back(randint(0, 256, {100003}, g, {.dtype = kUInt8}).values());
    return out;
  };
  set_num_threads(1);
  const auto one = draw_all();
  set_num_threads(2);
  const auto two = draw_all();
  for (size_t k = 0; k < one.size(); ++k) EXPECT_EQ(one[k], two[k]) << "draw " << k;
}

// A draw of n takes ceil(n / per_block) blocks; draws whose sizes are multiples of per_block continue one
// stream exactly, and a partial last block is skipped.
TEST(Random, ConsecutiveDrawsContinueOneStream) {
  struct Kind {
    const char* name;
    std::function<Tensor(int64_t, Generator&)> draw;
    int per_block;
  };
  const Kind kinds[] = {
      {"rand float32", [](int64_t n, Generator& g) { return rand({n}, g); }, 4},
      {"rand float64", [](int64_t n, Generator& g) { return rand({n}, g, {.dtype = kFloat64}); }, 2},
      {"randn float32", [](int64_t n, Generator& g) { return randn({n}, g); }, 4},
      {"randn float64", [](int64_t n, Generator& g) { return randn({n}, g, {.dtype = kFloat64}); }, 2},
      {"randint int64", [](int64_t n, Generator& g) { return randint(0, 1000, {n}, g); }, 2},
  };
  for (const Kind& k : kinds) {
    Generator whole_gen(11), split_gen(11);
    const std::vector<double> whole = k.draw(8 * k.per_block, whole_gen).values();
    std::vector<double> split = k.draw(3 * k.per_block, split_gen).values();
    EXPECT_EQ(split_gen.offset(), 3u) << k.name;
    const std::vector<double> partial = k.draw(2 * k.per_block - 1, split_gen).values();  // 2 blocks, 1 lane unused
    EXPECT_EQ(split_gen.offset(), 5u) << k.name;
    const std::vector<double> rest = k.draw(3 * k.per_block, split_gen).values();
    split.insert(split.end(), partial.begin(), partial.end());
    split.push_back(whole[5 * k.per_block - 1]);  // the skipped lane
    split.insert(split.end(), rest.begin(), rest.end());
    EXPECT_EQ(split, whole) << k.name;
  }
}

TEST(Random, EmptyAndZeroDimShapes) {
  Generator g(3);
  EXPECT_EQ(randn({0, 4}, g).numel(), 0);
  EXPECT_EQ(g.offset(), 0u) << "an empty draw must not consume blocks";
  EXPECT_EQ(randn(Shape{}, g).dim(), 0);
  EXPECT_EQ(g.offset(), 1u);
  const Tensor x = randn({2, 3}, g, {.dtype = kFloat64, .requires_grad = true});
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
}

// Boundary words: the uniforms stay inside [0, 1), so 1 - u1 > 0 and every normal is finite.
TEST(Random, UniformsNeverReachOne) {
  EXPECT_EQ(uniform_float(0), 0.0f);
  EXPECT_LT(uniform_float(0xffffffffu), 1.0f);
  EXPECT_LT(uniform_double(~uint64_t{0}), 1.0);
  float zf[4];
  double zd[2];
  for (uint32_t w : {0u, 0xffffffffu}) {
    randn_block({{w, w, w, w}}, zf);
    randn_block({{w, w, w, w}}, zd);
    for (float z : zf) EXPECT_TRUE(std::isfinite(z) && std::abs(z) < 5.8f) << z;
    for (double z : zd) EXPECT_TRUE(std::isfinite(z) && std::abs(z) < 8.6) << z;
  }
}

// n = 1e6 normals. Standard errors: mean 1e-3, variance sqrt(2 / n) = 1.4e-3, P(|z| < 1) 4.7e-4, the
// product of a Box-Muller pair 1.4e-3; each bound is 5 or more standard errors.
TEST(Random, RandnMoments) {
  for (DType t : {kFloat32, kFloat64}) {
    Generator g(2024);
    const std::vector<double> z = randn({1000000}, g, {.dtype = t}).values();
    const Moments m = moments(z);
    const double n = static_cast<double>(z.size());
    EXPECT_LT(std::abs(m.mean), 5 / std::sqrt(n)) << dtype_name(t);
    EXPECT_LT(std::abs(m.var - 1), 0.01) << dtype_name(t);
    double inside = 0, pair_product = 0;
    for (size_t i = 0; i < z.size(); i += 2) {
      inside += (std::abs(z[i]) < 1) + (std::abs(z[i + 1]) < 1);
      pair_product += z[i] * z[i + 1];
    }
    EXPECT_NEAR(inside / n, std::erf(1 / std::sqrt(2.0)), 3e-3) << dtype_name(t);
    EXPECT_LT(std::abs(pair_product / (n / 2)), 0.01) << dtype_name(t) << ": cos and sin halves correlate";
  }
}

// n = 1e6 uniforms: mean 1/2 (standard error 2.9e-4), variance 1/12; float64 uses more than 32 bits.
TEST(Random, RandRangeAndMoments) {
  for (DType t : {kFloat32, kFloat64}) {
    Generator g(99);
    const std::vector<double> u = rand({1000000}, g, {.dtype = t}).values();
    for (double x : u) ASSERT_TRUE(x >= 0 && x < 1) << x << " (" << dtype_name(t) << ")";
    const Moments m = moments(u);
    EXPECT_NEAR(m.mean, 0.5, 1.5e-3) << dtype_name(t);
    EXPECT_NEAR(m.var, 1.0 / 12, 1e-3) << dtype_name(t);
  }
  Generator g(1);
  int fine = 0;
  for (double x : rand({1000}, g, {.dtype = kFloat64}).values())
    fine += std::ldexp(x, 32) != std::floor(std::ldexp(x, 32));
  EXPECT_GT(fine, 900) << "float64 uniforms should carry 53 random bits";
}

// 10 values, 1e6 draws: chi-square with 9 degrees of freedom, which exceeds 37 with probability 2.6e-5.
TEST(Random, RandintRangeAndUniformity) {
  Generator g(123);
  const std::vector<double> v = randint(-3, 7, {1000000}, g).values();
  std::vector<double> counts(10, 0);
  for (double x : v) {
    ASSERT_TRUE(x >= -3 && x < 7 && x == std::floor(x)) << x;
    ++counts[static_cast<size_t>(x + 3)];
  }
  double chi2 = 0;
  for (double c : counts) chi2 += (c - 1e5) * (c - 1e5) / 1e5;
  EXPECT_LT(chi2, 37.0);
  // Float dtypes hold the same integers; ranges past 2^32 and the full int64 range work.
  for (double x : randint(0, 5, {1000}, g, {.dtype = kFloat32}).values())
    ASSERT_TRUE(x >= 0 && x < 5 && x == std::floor(x));
  const Tensor big = randint(0, int64_t{1} << 40, {1000}, g);
  const Moments m = moments(big.values());
  EXPECT_NEAR(m.mean / std::ldexp(1.0, 40), 0.5, 0.05);
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  const Tensor full_range = randint(lo, hi, {1000}, g);
  int negative = 0;
  for (int64_t i = 0; i < 1000; ++i) negative += full_range.data<int64_t>()[i] < 0;
  EXPECT_NEAR(negative, 500, 80);
}

TEST(Random, RejectsBadArguments) {
  Generator g;
  EXPECT_TRUE(throws_with([&] { randn({2, -1}, g); }, "randn: negative size in shape [2, -1]"));
  EXPECT_TRUE(throws_with([&] { rand({-3}, g); }, "rand: negative size in shape [-3]"));
  EXPECT_TRUE(throws_with([&] { randint(0, 2, {-1}); }, "randint: negative size in shape [-1]"));
  EXPECT_TRUE(throws_with([&] { randint(5, 5, {3}, g); }, "randint: expected low < high, got low 5, high 5"));
  EXPECT_TRUE(throws_with([&] { randint(0, 300, {3}, g, {.dtype = kUInt8}); }, "randint: [0, 300) does not fit uint8"));
  EXPECT_TRUE(
      throws_with([&] { randn({3}, g, {.dtype = kInt64}); }, "randn: expected a float32 or float64 tensor, got int64"));
  EXPECT_TRUE(
      throws_with([&] { rand({3}, g, {.dtype = kUInt8}); }, "rand: expected a float32 or float64 tensor, got uint8"));
  // "randn: this build has no CUDA backend", "randn: no CUDA device" or "randn: cuda:99 does not exist (...)"
  const std::string cuda_msg = testing::error_of([&] { randn({3}, g, {.device = Device::cuda(99)}); });
  EXPECT_EQ(cuda_msg.rfind("randn: ", 0), 0u) << cuda_msg;
  EXPECT_EQ(g.offset(), 0u) << "a rejected draw must not consume blocks";
}

}  // namespace
}  // namespace scorch
