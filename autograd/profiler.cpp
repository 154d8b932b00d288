// profiler.cpp: the shared event buffer, the Chrome trace writer, the summary table and the
// SCORCH_PROFILE profiler (see profiler.h).
#include "autograd/profiler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "tensor/backend.h"
#include "tensor/file_io.h"

namespace scorch {
namespace detail {

std::atomic<bool> profiler_on{false};

namespace {

// Declared before the SCORCH_PROFILE profiler below, so destroyed after it.
struct Buffer {
  std::mutex mutex;
  std::vector<ProfileEvent> events;
  int profilers = 0;  // alive and running
};
Buffer& buffer() {
  static Buffer b;
  return b;
}

std::atomic<int> next_thread{0};
thread_local int thread_index = -1;
thread_local int open_depth = 0;

int this_thread() {
  if (thread_index < 0) thread_index = next_thread.fetch_add(1);
  return thread_index;
}

}  // namespace

int64_t profiler_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int profiler_enter() { return open_depth++; }
void profiler_leave() { --open_depth; }

void profiler_record(ProfileEvent event) {
  event.thread = this_thread();
  Buffer& b = buffer();
  std::lock_guard lock(b.mutex);
  if (b.profilers > 0) b.events.push_back(std::move(event));
}

void OpTimer::finish(std::string_view name, ProfilePhase phase, const TensorList& inputs, const Tensor& out,
                     double flops, const Tensor* grad) const {
  // An op on a CUDA device returns once its kernels are queued: wait for them, so that the event spans
  // the device's work. Profiling thus serializes host and device (as CUDA_LAUNCH_BLOCKING=1 does) and
  // each event times its own kernels, the previous op's having finished before it started.
  for (const Tensor* t : {&out, grad}) {
    if (t && t->defined() && t->device().is_cuda()) {
      backend::synchronize(t->device().index);
      break;
    }
  }
  ProfileEvent e;
  e.start_ns = start_ns_;
  e.end_ns = profiler_now_ns();
  e.name = phase == ProfilePhase::backward ? std::string(name) + "_backward" : std::string(name);
  e.phase = phase;
  e.depth = depth_;
  e.flops = flops;
  e.shapes.reserve(inputs.size() + (grad ? 1 : 0));
  auto add = [&e](const Tensor& t) {
    if (!t.defined()) return;
    if (e.device.empty()) e.dtype = t.dtype(), e.device = t.device().str();
    e.bytes += static_cast<double>(t.numel()) * dtype_size(t.dtype());
  };
  if (grad) e.shapes.push_back(grad->shape()), add(*grad);
  for (const Tensor& t : inputs) {
    e.shapes.push_back(t.defined() ? t.shape() : Shape());
    add(t);
  }
  add(out);
  profiler_record(std::move(e));
}

}  // namespace detail

Profiler::Profiler() {
  detail::Buffer& b = detail::buffer();
  std::lock_guard lock(b.mutex);
  first_ = b.events.size();
  ++b.profilers;
  detail::profiler_on.store(true, std::memory_order_relaxed);
}

Profiler::~Profiler() { stop(); }

void Profiler::stop() {
  if (!running_) return;
  running_ = false;
  detail::Buffer& b = detail::buffer();
  std::lock_guard lock(b.mutex);
  events_.assign(b.events.begin() + static_cast<std::ptrdiff_t>(first_), b.events.end());
  if (--b.profilers == 0) {
    detail::profiler_on.store(false, std::memory_order_relaxed);
    b.events.clear();
  }
}

std::vector<ProfileEvent> Profiler::events() const {
  if (!running_) return events_;
  detail::Buffer& b = detail::buffer();
  std::lock_guard lock(b.mutex);
  return {b.events.begin() + static_cast<std::ptrdiff_t>(first_), b.events.end()};
}

namespace {

std::string_view phase_name(ProfilePhase p) {
  return p == ProfilePhase::forward ? "forward" : p == ProfilePhase::backward ? "backward" : "range";
}

}  // namespace

void Profiler::write_chrome_trace(const std::string& path) const {
  std::vector<ProfileEvent> events = this->events();
  // By start time, enclosing events first (they start no later and end no earlier).
  std::stable_sort(events.begin(), events.end(), [](const ProfileEvent& a, const ProfileEvent& b) {
    return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.depth < b.depth;
  });
  const int64_t origin = events.empty() ? 0 : events.front().start_ns;
  nlohmann::json list = nlohmann::json::array();
  for (const ProfileEvent& e : events) {
    nlohmann::json args = {{"phase", phase_name(e.phase)}, {"depth", e.depth}};
    if (e.phase != ProfilePhase::range) {
      nlohmann::json shapes = nlohmann::json::array();
      for (const Shape& s : e.shapes) {
        std::vector<int64_t> dims;
        for (int i = 0; i < s.size(); ++i) dims.push_back(s[i]);
        shapes.push_back(dims);
      }
      args["shapes"] = shapes;
      args["dtype"] = dtype_name(e.dtype);
      args["device"] = e.device;
      args["flops"] = e.flops;
      args["bytes"] = e.bytes;
    }
    list.push_back({{"name", e.name},
                    {"cat", phase_name(e.phase)},
                    {"ph", "X"},
                    {"ts", static_cast<double>(e.start_ns - origin) / 1e3},
                    {"dur", static_cast<double>(e.end_ns - e.start_ns) / 1e3},
                    {"pid", 0},
                    {"tid", e.thread},
                    {"args", args}});
  }
  const nlohmann::json trace = {{"traceEvents", list}, {"displayTimeUnit", "ms"}};
  write_file_atomic(path, trace.dump() + "\n");
}

std::string Profiler::summary(const MachinePeak* peak) const {
  const std::vector<ProfileEvent> events = this->events();
  struct Row {
    int64_t calls = 0;
    double total_ns = 0, self_ns = 0, flops = 0, bytes = 0;
  };
  std::map<std::string, Row> ops, ranges;
  // Events end children first, so each thread's child time at depth d + 1 is complete when the
  // event at depth d ends: self = duration - that sum.
  std::map<int, std::vector<double>> child_ns;
  for (const ProfileEvent& e : events) {
    std::vector<double>& c = child_ns[e.thread];
    if (c.size() < static_cast<size_t>(e.depth) + 2) c.resize(e.depth + 2, 0.0);
    const double dur = static_cast<double>(e.end_ns - e.start_ns);
    const double self = std::max(0.0, dur - c[e.depth + 1]);
    c[e.depth + 1] = 0;
    c[e.depth] += dur;
    Row& r = (e.phase == ProfilePhase::range ? ranges : ops)[e.name];
    r.calls += 1, r.total_ns += dur, r.self_ns += self, r.flops += e.flops, r.bytes += e.bytes;
  }
  std::vector<std::pair<std::string, Row>> rows(ops.begin(), ops.end());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second.self_ns > b.second.self_ns; });
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %8s %11s %11s %10s %9s %8s%s\n", "op", "calls", "total ms", "self ms",
                "mean us", "GFLOP/s", "GB/s", peak ? "  % roof" : "");
  out += line;
  double self_sum = 0;
  for (const auto& [name, r] : rows) {
    const double s = std::max(r.self_ns, 1.0);  // flops / ns = GFLOP/s, bytes / ns = GB/s
    char gflops[16] = "-";
    if (r.flops > 0) std::snprintf(gflops, sizeof gflops, "%.2f", r.flops / s);
    // No share where the counted bytes were not all moved (a view or a no-op: above 100% of the
    // memory roof) or where the time is mostly in nested ops (a backward node and its formula's ops).
    char share[16] = "";
    if (peak) {
      const double f = roof_share(r.flops / s, r.bytes / s, *peak);
      if (f <= 1 && r.self_ns >= 0.5 * r.total_ns)
        std::snprintf(share, sizeof share, "  %6.1f", 100 * f);
      else
        std::snprintf(share, sizeof share, "  %6s", "-");
    }
    std::snprintf(line, sizeof line, "%-28s %8lld %11.3f %11.3f %10.2f %9s %8.2f%s\n", name.c_str(),
                  static_cast<long long>(r.calls), r.total_ns / 1e6, r.self_ns / 1e6, r.self_ns / 1e3 / r.calls, gflops,
                  r.bytes / s, share);
    out += line;
    self_sum += r.self_ns;
  }
  std::snprintf(line, sizeof line, "%-28s %8s %11s %11.3f\n", "(all ops, self)", "", "", self_sum / 1e6);
  out += line;
  if (!ranges.empty()) {
    std::snprintf(line, sizeof line, "\n%-28s %8s %11s\n", "range", "calls", "total ms");
    out += line;
    for (const auto& [name, r] : ranges) {
      std::snprintf(line, sizeof line, "%-28s %8lld %11.3f\n", name.c_str(), static_cast<long long>(r.calls),
                    r.total_ns / 1e6);
      out += line;
    }
  }
  return out;
}

ProfileRange::ProfileRange(std::string name) : name_(std::move(name)) {
  backend::range_push(name_.c_str());
  if (profiler_enabled()) {
    depth_ = detail::profiler_enter();
    start_ns_ = detail::profiler_now_ns();
  }
}

ProfileRange::~ProfileRange() {
  backend::range_pop();
  if (start_ns_ < 0) return;
  detail::profiler_leave();
  ProfileEvent e;
  e.name = std::move(name_);
  e.phase = ProfilePhase::range;
  e.start_ns = start_ns_;
  e.end_ns = detail::profiler_now_ns();
  e.depth = depth_;
  detail::profiler_record(std::move(e));
}

namespace {

// SCORCH_PROFILE=path: a profiler for the whole process, written out at exit. A static object of
// this file, which every program using an op links (apply reads detail::profiler_on).
struct EnvProfiler {
  std::string path;
  std::unique_ptr<Profiler> profiler;
  EnvProfiler() {
    const char* p = std::getenv("SCORCH_PROFILE");
    if (!p || !*p) return;
    path = p;
    detail::buffer();  // constructed first, so destroyed after this object
    profiler = std::make_unique<Profiler>();
  }
  ~EnvProfiler() {
    if (!profiler) return;
    try {
      profiler->stop();
      profiler->write_chrome_trace(path);
      std::fprintf(stderr, "SCORCH_PROFILE: trace written to %s\n%s", path.c_str(), profiler->summary().c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "SCORCH_PROFILE: %s\n", e.what());
    }
  }
};
const EnvProfiler env_profiler;

}  // namespace
}  // namespace scorch
