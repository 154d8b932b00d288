// peak.h: this machine's roofs, measured on all of scorch's threads, so that a benchmark (bench_peak,
// bench_conv2d, bench/roofline) or the profiler's summary can report the share of peak reached on
// whatever machine it runs on (not a figure copied from a spec sheet).
//   fma    independent chains of 512-bit (or 256-bit without AVX-512) fused multiply-adds in registers:
//          the compute roof, 2 FLOP per lane per FMA
//   sgemm  scorch's float gemm (blas_gemm: oneDNN or OpenBLAS, sgemm_library()) on 2048^3, best of
//          three: the roof a BLAS-lowered conv can approach
//   stream a + s b into c over 3 x 64 MiB (STREAM triad; 12 bytes per element): the memory roof
#pragma once

namespace scorch {

struct MachinePeak {
  double fma_gflops = 0;
  double sgemm_gflops = 0;
  double stream_gbs = 0;
};

// Measured on first use (about a second), then cached for the process.
const MachinePeak& machine_peak();

double measure_fma_gflops(double seconds = 0.3);
double measure_sgemm_gflops(int n = 2048, int repeats = 3);
double measure_stream_gbs(int repeats = 5);

// The share of its roof that a kernel reaching `gflops` and `gbs` attains, by the roofline model: its roof
// is min(fma roof, intensity * stream roof) with intensity = FLOP / byte, so the share is
// max(gflops / fma roof, gbs / stream roof) (0.5 is 50%). Without FLOPs (gflops = 0), the memory share.
double roof_share(double gflops, double gbs, const MachinePeak& peak);

}  // namespace scorch
