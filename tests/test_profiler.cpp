// test_profiler.cpp: the profiler on a known small graph, y = sum(a * b + c) and its backward: the
// Chrome trace parses, holds one complete event per op with the expected names, order and shapes,
// ranges enclose their ops; FLOP counts of matmul and conv2d; nothing is recorded when off.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "autograd/ops/conv2d.h"
#include "autograd/ops/matmul.h"
#include "autograd/profiler.h"
#include "tensor/file_io.h"

namespace scorch {
namespace {

using json = nlohmann::json;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("scorch_test_profiler_" + name)).string();
}

// The trace's events whose phase (args.phase) is `phase`, in file order.
std::vector<json> events_of(const json& trace, const std::string& phase) {
  std::vector<json> out;
  for (const json& e : trace.at("traceEvents"))
    if (e.at("args").at("phase") == phase) out.push_back(e);
  return out;
}

std::vector<std::string> names(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const json& e : events) out.push_back(e.at("name"));
  return out;
}

json shape_json(std::vector<int64_t> dims) { return json(dims); }

TEST(Profiler, ChromeTraceOfASmallGraph) {
  const Tensor a = ones({2, 3}).requires_grad_(), b = full({2, 3}, 2.0).requires_grad_();
  const Tensor c = full({3}, 0.5);
  const std::string path = temp_path("trace.json");
  size_t recorded = 0;
  {
    Profiler profiler;
    {
      ProfileRange step("step");
      Tensor y = sum(mul(a, b) + c);
      y.backward();
    }
    profiler.write_chrome_trace(path);
    recorded = profiler.events().size();
    EXPECT_NE(profiler.summary().find("mul"), std::string::npos);
  }
  const json trace = json::parse(read_file(path));
  std::filesystem::remove(path);
  ASSERT_EQ(trace.at("traceEvents").size(), recorded);
  for (const json& e : trace.at("traceEvents")) {
    EXPECT_EQ(e.at("ph"), "X");
    EXPECT_EQ(e.at("pid"), 0);
    EXPECT_GE(e.at("dur").get<double>(), 0.0);
  }
  // The forward, in the order the ops ran, each once, with its input shapes.
  const std::vector<json> forward = events_of(trace, "forward");
  std::vector<json> top;  // the ops the test called, not those run inside a backward formula
  for (const json& e : forward)
    if (e.at("args").at("depth") == 1) top.push_back(e);
  ASSERT_EQ(names(top), (std::vector<std::string>{"mul", "add", "sum"}));
  EXPECT_EQ(top[0]["args"]["shapes"], json({shape_json({2, 3}), shape_json({2, 3})}));
  EXPECT_EQ(top[1]["args"]["shapes"], json({shape_json({2, 3}), shape_json({3})}));
  EXPECT_EQ(top[2]["args"]["shapes"], json({shape_json({2, 3})}));
  EXPECT_EQ(top[0]["args"]["dtype"], "float32");
  EXPECT_EQ(top[0]["args"]["device"], "cpu");
  EXPECT_EQ(top[0]["args"]["bytes"], 3 * 6 * 4.0);  // two inputs and the output, 6 floats each
  // The backward: each node once, in reverse order; the grad's shape comes first.
  const std::vector<json> backward = events_of(trace, "backward");
  ASSERT_EQ(names(backward), (std::vector<std::string>{"sum_backward", "add_backward", "mul_backward"}));
  EXPECT_EQ(backward[0]["args"]["shapes"], json({shape_json({}), shape_json({2, 3})}));
  EXPECT_EQ(backward[2]["args"]["shapes"], json({shape_json({2, 3}), shape_json({2, 3}), shape_json({2, 3})}));
  // The range encloses every other event in time, and each of them is nested below it.
  const std::vector<json> ranges = events_of(trace, "range");
  ASSERT_EQ(names(ranges), std::vector<std::string>{"step"});
  const double begin = ranges[0]["ts"], end = begin + ranges[0]["dur"].get<double>();
  EXPECT_EQ(ranges[0]["args"]["depth"], 0);
  for (const json& e : trace.at("traceEvents")) {
    if (e["name"] == "step") continue;
    EXPECT_GE(e["ts"].get<double>(), begin) << e;
    EXPECT_LE(e["ts"].get<double>() + e["dur"].get<double>(), end + 1e-3) << e;
    EXPECT_GE(e["args"]["depth"].get<int>(), 1) << e;
  }
}

TEST(Profiler, BackwardFormulaOpsNestUnderTheirNode) {
  const Tensor a = ones({4}).requires_grad_(), b = full({4}, 3.0).requires_grad_();
  Profiler profiler;
  mul(a, b).backward(ones({4}));
  profiler.stop();
  const std::vector<ProfileEvent> events = profiler.events();
  const auto node =
      std::find_if(events.begin(), events.end(), [](const ProfileEvent& e) { return e.name == "mul_backward"; });
  ASSERT_NE(node, events.end());
  EXPECT_EQ(node->phase, ProfilePhase::backward);
  int nested = 0;
  for (const ProfileEvent& e : events)
    if (e.depth == node->depth + 1 && e.start_ns >= node->start_ns && e.end_ns <= node->end_ns) ++nested;
  EXPECT_GE(nested, 2);  // grad * b and grad * a
}

TEST(Profiler, FlopCounts) {
  Profiler profiler;
  matmul(ones({2, 3}), ones({3, 4}));
  const Tensor x = ones({2, 3, 9, 9}), w = ones({4, 3, 3, 3});
  conv2d(x, w, Tensor(), {.stride = 2});
  std::vector<ProfileEvent> counted;  // the kernels may run other ops (copies) with no count
  for (const ProfileEvent& e : profiler.events())
    if (e.flops > 0) counted.push_back(e);
  ASSERT_EQ(counted.size(), 2u);
  EXPECT_EQ(counted[0].name, "matmul");
  EXPECT_EQ(counted[0].flops, 48.0);  // 2 M N K = 2 * 2 * 4 * 3
  EXPECT_EQ(counted[1].name, "conv2d");
  EXPECT_EQ(counted[1].flops, 2.0 * 2 * 4 * 4 * 4 * 3 * 3 * 3);  // 2 N K P Q C R S, P = Q = 4
  EXPECT_EQ(counted[1].flops, conv2d_flops(x.shape(), w.shape(), {.stride = 2}));
}

TEST(Profiler, NothingRecordedWhenOff) {
  EXPECT_FALSE(profiler_enabled());
  {
    ProfileRange range("unseen");
    mul(ones({2}), ones({2}));
  }
  Profiler profiler;
  EXPECT_TRUE(profiler_enabled());
  EXPECT_TRUE(profiler.events().empty());
  profiler.stop();
  EXPECT_FALSE(profiler_enabled());
  mul(ones({2}), ones({2}));
  EXPECT_TRUE(profiler.events().empty());
}

TEST(Profiler, RoofShareIsTheBoundingRoofsShare) {
  const MachinePeak peak{.fma_gflops = 200, .sgemm_gflops = 0, .stream_gbs = 50};
  EXPECT_DOUBLE_EQ(roof_share(100, 1, peak), 0.5);          // compute-bound: 100 of 200 GFLOP/s
  EXPECT_DOUBLE_EQ(roof_share(10, 40, peak), 0.8);          // memory-bound: 40 of 50 GB/s
  EXPECT_DOUBLE_EQ(roof_share(0, 5, peak), 0.1);            // no FLOP count: the memory share
  EXPECT_DOUBLE_EQ(roof_share(10, 5, MachinePeak{}), 0.0);  // no roofs measured
}

TEST(Profiler, SummaryWithRoofsHasAShareColumn) {
  Profiler profiler;
  (void)matmul(ones({64, 64}), ones({64, 64}));
  profiler.stop();
  const std::vector<ProfileEvent> events = profiler.events();  // a copy: events() returns by value
  ASSERT_EQ(events.size(), 1u);
  const ProfileEvent& e = events[0];
  const double ns = static_cast<double>(std::max<int64_t>(e.end_ns - e.start_ns, 1));
  // Roofs four times the rates reached: a share near 25% (the summary rounds the rates it divides).
  const MachinePeak peak{.fma_gflops = 4 * e.flops / ns, .sgemm_gflops = 0, .stream_gbs = 4 * e.bytes / ns};
  const std::string with = profiler.summary(&peak), without = profiler.summary();
  EXPECT_NE(with.find("% roof"), std::string::npos) << with;
  EXPECT_EQ(without.find("% roof"), std::string::npos) << without;
  // The matmul row: op calls total self mean GFLOP/s GB/s share, the share from the printed rates.
  const size_t row = with.find("\nmatmul");
  ASSERT_NE(row, std::string::npos) << with;
  std::istringstream line(with.substr(row + 1, with.find('\n', row + 1) - row - 1));
  std::string name;
  double calls, total, self, mean, gflops, gbs, share;
  ASSERT_TRUE(line >> name >> calls >> total >> self >> mean >> gflops >> gbs >> share) << with;
  EXPECT_EQ(calls, 1);
  EXPECT_NEAR(share, 25, 0.5) << with;
  // The share is printed to 0.1 and the rates to 0.01, whose rounding (up to 0.005) moves the share
  // recomputed from them by up to 100 * 0.005 / roof: 1.1 points for a slow first call at 0.11 GB/s.
  const double rounding = 0.05 + 100 * 0.005 * std::max(1 / peak.fma_gflops, 1 / peak.stream_gbs) + 1e-9;
  EXPECT_NEAR(share, 100 * roof_share(gflops, gbs, peak), rounding) << with;
}

}  // namespace
}  // namespace scorch
