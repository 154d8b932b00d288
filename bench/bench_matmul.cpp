// bench_matmul.cpp: linear layers of the GMM mlp (below), and square float32 matmul y [n, n] = a [n, n] @ b [n, n], n = 512 and 1024 (2 n^3 FLOP
// each), next to a raw cblas_sgemm of the same shapes: the difference is what scorch adds (checks,
// allocating y, dispatch). matmul/bT reads b through a transpose view (x @ w^T, as a linear layer),
// which goes to BLAS with the transpose flag instead of a copy.
// Compare with the FMA roof, 230-250 GFLOP/s on 2 threads, and with OpenBLAS at 2048^3, about
// 208 GFLOP/s with the Haswell kernels (perf-notes.md; bench_main prints the kernels in use).
// Counters per call: FLOP/s from 2 M N K FLOP (linear: 2 rows in out, the bias add not counted), and
// bytes_per_second from the compulsory traffic, every operand read and the output written once, float32:
// matmul 4 (M K + K N + M N) bytes; linear 4 (rows in + out in + out + rows out) bytes.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace scorch {
namespace {

void set_rates(benchmark::State& state, double flops_per_iteration, int64_t floats_per_iteration) {
  state.counters["FLOP/s"] =
      benchmark::Counter(flops_per_iteration * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * floats_per_iteration * int64_t{sizeof(float)});
}

void matmul_f32(benchmark::State& state, bool transposed_b) {
  const int64_t n = state.range(0);
  Generator gen(0);
  const Tensor a = randn({n, n}, gen), w = randn({n, n}, gen);
  const Tensor b = transposed_b ? transpose(w, 0, 1) : w;
  for (auto _ : state) {
    Tensor y = matmul(a, b);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_rates(state, matmul_flops(a, b), 3 * n * n);
}

void cblas_sgemm_f32(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Generator gen(0);
  const Tensor a = randn({n, n}, gen), b = randn({n, n}, gen), c = empty({n, n});
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n,
                0.0f, c.data<float>(), n);
    benchmark::ClobberMemory();
  }
  set_rates(state, 2.0 * n * n * n, int64_t{3} * n * n);
}

// linear(x [rows, in], W [out, in], b [out]): the mlp's layers at B1's batch (512) and B4's (10,000).
// in = 3 and out = 2 take the thin kernel (K or N <= 4), the rest one gemm onto rows of b.
void linear_f32(benchmark::State& state) {
  const int64_t rows = state.range(0), in = state.range(1), out = state.range(2);
  Generator gen(0);
  const Tensor x = randn({rows, in}, gen), w = randn({out, in}, gen), b = randn({out}, gen);
  for (auto _ : state) {
    Tensor y = linear(x, w, b);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_rates(state, 2.0 * rows * in * out, rows * in + out * in + out + rows * out);
}

BENCHMARK(linear_f32)->Name("linear")->ArgNames({"rows", "in", "out"})
    ->Args({512, 3, 128})->Args({512, 128, 128})->Args({512, 128, 2})
    ->Args({10000, 3, 128})->Args({10000, 128, 128})->Args({10000, 128, 2})
    ->Unit(benchmark::kMicrosecond)->UseRealTime();

BENCHMARK_CAPTURE(matmul_f32, b, false)->Name("matmul")->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(matmul_f32, bT, true)->Name("matmul/bT")->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(cblas_sgemm_f32)->Name("cblas_sgemm")->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace scorch
