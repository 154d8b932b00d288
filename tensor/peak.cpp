// peak.cpp: the roof measurements of peak.h.
#include "tensor/peak.h"

#include "tensor/blas.h"

#include <cblas.h>
// NOTE: GCC 12's avx512fintrin.h trips -Wuninitialized in _mm512_reduce_add_ps (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "tensor/blas.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace scorch {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// 12 independent accumulators cover the FMA latency (4 cycles) times two FMA ports. Returns a sum so
// the compiler cannot drop the loop. FLOPs: iterations * 12 chains * lanes * 2.
constexpr int kChains = 12;

__attribute__((target("avx512f"))) float fma_chains_avx512(int64_t iterations) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1e-3f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  float total = 0;
  for (int i = 0; i < kChains; ++i) total += _mm512_reduce_add_ps(acc[i]);
  return total;
}

__attribute__((target("avx2,fma"))) float fma_chains_avx2(int64_t iterations) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(1e-3f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  alignas(32) float lanes[8];
  float total = 0;
  for (int i = 0; i < kChains; ++i) {
    _mm256_store_ps(lanes, acc[i]);
    for (float v : lanes) total += v;
  }
  return total;
}

}  // namespace

double measure_fma_gflops(double seconds) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int lanes = avx512 ? 16 : 8;
  auto run = [&](int64_t iterations) { return avx512 ? fma_chains_avx512(iterations) : fma_chains_avx2(iterations); };
  // Calibrate on one thread, then run all threads for about `seconds`.
  int64_t iterations = 1 << 16;
  for (auto t0 = Clock::now(); seconds_since(t0) < 0.02; t0 = Clock::now()) {
    iterations *= 2;
    volatile float sink = run(iterations);
    (void)sink;
    if (seconds_since(t0) > 0.02) {
      iterations = static_cast<int64_t>(iterations * seconds / seconds_since(t0));
      break;
    }
  }
  const int threads = num_threads();
  const auto t0 = Clock::now();
  parallel_for(threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      volatile float sink = run(iterations);
      (void)sink;
    }
  });
  return 2.0 * kChains * lanes * iterations * threads / seconds_since(t0) * 1e-9;
}

double measure_sgemm_gflops(int n, int repeats) {
  Generator gen(0);
  const Tensor a = randn({n, n}, gen), b = randn({n, n}, gen), c = empty({n, n});
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    blas_gemm<float>(CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n, 0.0f,
                     c.data<float>(), n);
    best = std::max(best, 2.0 * n * n * n / seconds_since(t0) * 1e-9);
  }
  return best;
}

double measure_stream_gbs(int repeats) {
  const int64_t n = int64_t{16} << 20;  // 64 MiB per float array: far beyond any cache
  std::vector<float> a(n, 1.0f), b(n, 2.0f), c(n, 0.0f);
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) c[i] = a[i] + 3.0f * b[i];
    });
    best = std::max(best, 12.0 * n / seconds_since(t0) * 1e-9);
  }
  volatile float sink = c[n / 2];
  (void)sink;
  return best;
}

const MachinePeak& machine_peak() {
  static const MachinePeak peak{measure_fma_gflops(), measure_sgemm_gflops(), measure_stream_gbs()};
  return peak;
}

double roof_share(double gflops, double gbs, const MachinePeak& peak) {
  const double compute = peak.fma_gflops > 0 ? gflops / peak.fma_gflops : 0;
  const double memory = peak.stream_gbs > 0 ? gbs / peak.stream_gbs : 0;
  return std::max(compute, memory);
}

}  // namespace scorch
