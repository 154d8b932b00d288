// bench_main.cpp: the main() of every bench_* program. Google Benchmark's own main, plus the context
// that makes figures comparable across runs: the float gemm's library (oneDNN, or OpenBLAS and the
// kernels OPENBLAS_CORETYPE picks, see perf-notes.md) and the thread counts of OpenBLAS and of scorch's
// OpenMP loops.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdlib>
#include <string>

#include "tensor/blas.h"
#include "tensor/parallel.h"

int main(int argc, char** argv) {
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  benchmark::AddCustomContext("sgemm", scorch::sgemm_library());
  benchmark::AddCustomContext("openblas_corename", openblas_get_corename());
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", coretype ? coretype : "(unset)");
  benchmark::AddCustomContext("scorch_threads", std::to_string(scorch::num_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
