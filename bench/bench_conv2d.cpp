// bench_conv2d.cpp: every convolution shape of unet-small at batch 64 (B2's), forward, data gradient
// and weight gradient, with FLOP/s and the share of this machine's FMA roof (tensor/peak.h; 2 N K P Q
// C R S FLOP per map), plus all of the model's convolutions in sequence ("unet_small_convs"): the
// figure the conv issue's "65% of peak" goal reads. Counters: FLOP/s, fma_peak_gflops (the roof, measured
// once per process) and fma_peak_share = FLOP/s / roof (0.65 is 65%), and bytes_per_second from the
// compulsory traffic of each pass, every tensor read or written once, float32 (y = conv output, g its
// gradient, both [N, K, P, Q]):
//   forward          x, w, b read, y written        4 (NCHW + KCRS + K + NKPQ) bytes
//   backward_input   g, w read, gx written          4 (NKPQ + KCRS + NCHW) bytes
//   backward_weight  x, g read, gw written          4 (NCHW + NKPQ + KCRS) bytes
// (the im2col buffers of the gemm lowering are not compulsory and not counted).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tensor/peak.h"
#include "tensor/random.h"

namespace scorch {
namespace {

struct ConvLayer {
  const char* name;
  Shape x, w;
  Conv2dOptions o;
  int count;  // how many layers of unet-small have this shape
};

// unet-small (shared/spec/reference-models.md) at batch 64, layer by layer.
const std::vector<ConvLayer> kUnetLayers = {
    {"conv_in_1to32_28", {64, 1, 28, 28}, {32, 1, 3, 3}, {.padding = 1}, 1},
    {"c32to32_28", {64, 32, 28, 28}, {32, 32, 3, 3}, {.padding = 1}, 3},  // down0 x2, up0.conv2
    {"down_32_28_s2", {64, 32, 28, 28}, {32, 32, 3, 3}, {.stride = 2, .padding = 1}, 1},
    {"c32to64_14", {64, 32, 14, 14}, {64, 32, 3, 3}, {.padding = 1}, 1},
    {"c64to64_14", {64, 64, 14, 14}, {64, 64, 3, 3}, {.padding = 1}, 2},  // down1.conv2, up1.conv2
    {"skip_32to64_14", {64, 32, 14, 14}, {64, 32, 1, 1}, {}, 1},
    {"down_64_14_s2", {64, 64, 14, 14}, {64, 64, 3, 3}, {.stride = 2, .padding = 1}, 1},
    {"c64to128_7", {64, 64, 7, 7}, {128, 64, 3, 3}, {.padding = 1}, 1},
    {"c128to128_7", {64, 128, 7, 7}, {128, 128, 3, 3}, {.padding = 1}, 4},  // down2.conv2, mid x2, up2.conv2
    {"skip_64to128_7", {64, 64, 7, 7}, {128, 64, 1, 1}, {}, 1},
    {"c256to128_7", {64, 256, 7, 7}, {128, 256, 3, 3}, {.padding = 1}, 1},
    {"skip_256to128_7", {64, 256, 7, 7}, {128, 256, 1, 1}, {}, 1},
    {"c128to64_14", {64, 128, 14, 14}, {64, 128, 3, 3}, {.padding = 1}, 2},  // upconv2, up1.conv1
    {"skip_128to64_14", {64, 128, 14, 14}, {64, 128, 1, 1}, {}, 1},
    {"c64to32_28", {64, 64, 28, 28}, {32, 64, 3, 3}, {.padding = 1}, 2},  // upconv1, up0.conv1
    {"skip_64to32_28", {64, 64, 28, 28}, {32, 64, 1, 1}, {}, 1},
    {"conv_out_32to1_28", {64, 32, 28, 28}, {1, 32, 3, 3}, {.padding = 1}, 1},
};

enum class Pass { forward, backward_input, backward_weight, all };

struct Inputs {
  Tensor x, w, b, g;
};

Inputs make_inputs(const ConvLayer& l) {
  Generator gen(0);
  Inputs in{randn(l.x, gen), randn(l.w, gen), randn({l.w[0]}, gen), Tensor()};
  in.g = randn(conv2d_output_shape(l.x, l.w, l.o), gen);
  return in;
}

// Compulsory bytes of one pass (see the top of the file).
double pass_bytes(const ConvLayer& l, Pass pass) {
  const double x = static_cast<double>(l.x.numel()), w = static_cast<double>(l.w.numel());
  const double y = static_cast<double>(conv2d_output_shape(l.x, l.w, l.o).numel()), b = static_cast<double>(l.w[0]);
  const double forward = x + w + b + y, backward_input = y + w + x, backward_weight = x + y + w;
  switch (pass) {
    case Pass::forward: return forward * sizeof(float);
    case Pass::backward_input: return backward_input * sizeof(float);
    case Pass::backward_weight: return backward_weight * sizeof(float);
    case Pass::all: return (forward + backward_input + backward_weight) * sizeof(float);
  }
  return 0;
}

void run_pass(const ConvLayer& l, const Inputs& in, Pass pass) {
  Tensor t;
  if (pass == Pass::forward || pass == Pass::all) t = conv2d(in.x, in.w, in.b, l.o);
  if (pass == Pass::backward_input || pass == Pass::all) t = conv2d_backward_input(in.g, in.w, l.x, l.o);
  if (pass == Pass::backward_weight || pass == Pass::all) t = conv2d_backward_weight(in.x, in.g, l.w, l.o);
  benchmark::DoNotOptimize(t.raw_data());
}

// FLOP/s, the roof and the share of it reached, for `flops` FLOP per iteration, and bytes/s for `bytes`.
void set_counters(benchmark::State& state, double flops, double bytes, double peak_gflops) {
  const double total = flops * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes * static_cast<double>(state.iterations())));
  state.counters["FLOP/s"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
  state.counters["fma_peak_gflops"] = peak_gflops;
  state.counters["fma_peak_share"] = benchmark::Counter(total / (peak_gflops * 1e9), benchmark::Counter::kIsRate);
}

void conv2d_layer(benchmark::State& state, const ConvLayer& layer, Pass pass) {
  const Inputs in = make_inputs(layer);
  const double peak = machine_peak().fma_gflops;  // measured before the timing starts
  for (auto _ : state) run_pass(layer, in, pass);
  set_counters(state, conv2d_flops(layer.x, layer.w, layer.o) * (pass == Pass::all ? 3 : 1), pass_bytes(layer, pass),
               peak);
}

// Every conv of unet-small forward and backward, as one B2 step runs them.
void unet_small_convs(benchmark::State& state) {
  std::vector<Inputs> inputs;
  double flops = 0, bytes = 0;
  for (const ConvLayer& l : kUnetLayers) {
    inputs.push_back(make_inputs(l));
    flops += 3 * l.count * conv2d_flops(l.x, l.w, l.o);
    bytes += l.count * pass_bytes(l, Pass::all);
  }
  const double peak = machine_peak().fma_gflops;
  for (auto _ : state)
    for (size_t i = 0; i < kUnetLayers.size(); ++i)
      for (int c = 0; c < kUnetLayers[i].count; ++c) run_pass(kUnetLayers[i], inputs[i], Pass::all);
  set_counters(state, flops, bytes, peak);
}

int register_benchmarks() {
  const std::pair<Pass, const char*> passes[] = {
      {Pass::forward, "forward"}, {Pass::backward_input, "backward_input"}, {Pass::backward_weight, "backward_weight"}};
  for (const ConvLayer& l : kUnetLayers)
    for (const auto& [pass, pass_name] : passes)
      benchmark::RegisterBenchmark(("conv2d/" + std::string(l.name) + "/" + pass_name).c_str(),
                                   [&l, pass = pass](benchmark::State& s) { conv2d_layer(s, l, pass); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  benchmark::RegisterBenchmark("conv2d/unet_small_convs/fwd_bwd", unet_small_convs)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  return 0;
}
const int registered = register_benchmarks();

}  // namespace
}  // namespace scorch
