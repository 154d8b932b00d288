// bench_matmul.cpp: linear layers of the GMM mlp (below), the gemm libraries on one thread, and square float32 matmul y
// [n, n] = a [n, n] @ b [n, n], n = 512 and 1024 (2 n^3 FLOP each), next to a raw cblas_sgemm of the same shapes: the
// difference is what scorch adds (checks, allocating y, dispatch). matmul/bT reads b through a transpose view (x @ w^T,
// as a linear layer), which goes to BLAS with the transpose flag instead of a copy. Compare with the FMA roof, 230-250
// GFLOP/s on 2 threads, and with OpenBLAS at 2048^3, about 208 GFLOP/s with the Haswell kernels (perf-notes.md;
// bench_main prints the kernels in use). Counters per call: FLOP/s from 2 M N K FLOP (linear: 2 rows in out, the bias
// add not counted), and bytes_per_second from the compulsory traffic, every operand read and the output written once,
// float32: matmul 4 (M K + K N + M N) bytes; linear 4 (rows in + out in + out + rows out) bytes.
#include <benchmark/benchmark.h>
#include <cblas.h>
#if SCORCH_HAS_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include <string>
#include <utility>
#include <vector>

#include "autograd/ops.h"
#include "tensor/parallel.h"
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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n, 0.0f,
                c.data<float>(), n);
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

BENCHMARK(linear_f32)
    ->Name("linear")
    ->ArgNames({"rows", "in", "out"})
    ->Args({512, 3, 128})
    ->Args({512, 128, 128})
    ->Args({512, 128, 2})
    ->Args({10000, 3, 128})
    ->Args({10000, 128, 128})
    ->Args({10000, 128, 2})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

BENCHMARK_CAPTURE(matmul_f32, b, false)
    ->Name("matmul")
    ->Arg(512)
    ->Arg(1024)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(matmul_f32, bT, true)
    ->Name("matmul/bT")
    ->Arg(512)
    ->Arg(1024)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(cblas_sgemm_f32)->Name("cblas_sgemm")->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// The gemm libraries side by side on one thread, on one tile of the shapes scorch runs (tensor/blas.h
// cuts every gemm into tiles, each one single-threaded call): the mlp's 128-wide layers at B4's 10,000
// rows (a tile of 1,264 rows; forward, and the weight gradient over the rows), and unet-small's im2col
// convolutions (C_out x pixels x 9 C_in). What the build calls is blas_gemm's choice (bench context
// "sgemm"); this shows what each library does with the same call.
enum class GemmLibrary { openblas, dnnl };

void sgemm_one_thread(benchmark::State& state, GemmLibrary library, bool ta, bool tb) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Generator gen(0);
  const Tensor a = randn({ta ? k : m, ta ? m : k}, gen), b = randn({tb ? n : k, tb ? k : n}, gen), c = empty({m, n});
  const int64_t lda = a.shape()[1], ldb = b.shape()[1];
  for (auto _ : state) {
    if (library == GemmLibrary::openblas) {
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                  1.0f, a.data<float>(), int(lda), b.data<float>(), int(ldb), 0.0f, c.data<float>(), int(n));
    } else {
#if SCORCH_HAS_DNNL
      dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, a.data<float>(), lda, b.data<float>(), ldb, 0.0f,
                 c.data<float>(), n);
#endif
    }
    benchmark::ClobberMemory();
  }
  set_rates(state, 2.0 * m * n * k, m * k + k * n + m * n);
}

void register_sgemm_one_thread() {
  struct Case {
    const char* name;
    bool ta, tb;
    std::vector<int64_t> mnk;
  };
  const Case cases[] = {{"NT", false, true, {1264, 128, 128}}, {"TN", true, false, {128, 128, 1264}},
                        {"NN", false, false, {64, 1024, 288}}, {"NN", false, false, {128, 256, 576}},
                        {"NN", false, false, {32, 4096, 288}}, {"NN", false, false, {512, 512, 512}}};
  std::vector<std::pair<const char*, GemmLibrary>> libraries = {{"openblas", GemmLibrary::openblas}};
#if SCORCH_HAS_DNNL
  libraries.emplace_back("dnnl", GemmLibrary::dnnl);
#endif
  for (const auto& [library_name, library] : libraries)
    for (const Case& c : cases)
      benchmark::RegisterBenchmark((std::string("sgemm_1thread/") + library_name + "/" + c.name).c_str(),
                                   [=](benchmark::State& state) {
                                     const int saved = num_threads();
                                     set_num_threads(1);
                                     sgemm_one_thread(state, library, c.ta, c.tb);
                                     set_num_threads(saved);
                                   })
          ->Args(c.mnk)
          ->ArgNames({"M", "N", "K"})
          ->Unit(benchmark::kMicrosecond);
}
const bool kRegistered = (register_sgemm_one_thread(), true);

}  // namespace
}  // namespace scorch
