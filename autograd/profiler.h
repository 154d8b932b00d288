// profiler.h: a per-op profiler with user ranges, written as a Chrome trace (Perfetto,
// chrome://tracing) and summed up as a text table.
//
//   {
//     scorch::Profiler profiler;                 // on from here to the end of the scope
//     for (...) {
//       scorch::ProfileRange step("train_step");       // a user range: an event enclosing the ops below
//       loss = ...; loss.backward();
//     }
//     profiler.write_chrome_trace("trace.json"); // open it in https://ui.perfetto.dev
//     std::fputs(profiler.summary().c_str(), stderr);
//   }
//
// While a Profiler is alive every op run through apply/apply_list records one event (name, input
// shapes, dtype, device, start and end in steady_clock ns, thread, nesting depth, FLOPs and bytes);
// the engine records each node's backward as "<name>_backward", with the shapes of the grad and of
// the node's inputs. The ops a backward formula runs are recorded too, one level deeper, so a
// backward event's time includes them ("total"); the summary also gives each op's "self" time,
// without the events nested in it. FLOPs come from an optional Op::flops(inputs, out) (matmul,
// linear, conv2d and its backward maps); bytes are the input and output bytes (numel * itemsize),
// an upper bound for views, which move nothing. An op on a CUDA device is waited for before its event
// ends (cuda::synchronize), so its time is its kernels' time; profiling therefore serializes host and
// device, and a profiled CUDA run is slower than an unprofiled one. Nsight Systems, with the NVTX
// ranges below, shows the overlapped timeline instead.
//
// SCORCH_PROFILE=trace.json in the environment turns a profiler on for the whole process (a static
// object in profiler.cpp): at exit it writes the trace there and prints the summary to stderr.
//
// Off, the cost in apply is one test of a global flag. Events go to one mutex-protected buffer: ops
// are launched from the main thread (OpenMP workers never call apply), so the lock is uncontended.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/peak.h"
#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace scorch {

enum class ProfilePhase : uint8_t { forward, backward, range };

struct ProfileEvent {
  std::string name;  // op name, "<op>_backward", or the range's name
  ProfilePhase phase = ProfilePhase::forward;
  std::vector<Shape> shapes;         // inputs (backward: the grad first, then the node's inputs)
  DType dtype = kFloat32;            // of the first input
  std::string device;                // "cpu", "cuda:0"; empty for ranges
  int64_t start_ns = 0, end_ns = 0;  // steady_clock
  int thread = 0;                    // a small per-thread index, in order of first use
  int depth = 0;                     // open ranges and ops enclosing this event on its thread
  double flops = 0;                  // 0 where the op does not say
  double bytes = 0;
};

namespace detail {
extern std::atomic<bool> profiler_on;
}
inline bool profiler_enabled() { return detail::profiler_on.load(std::memory_order_relaxed); }

class Profiler {
 public:
  Profiler();
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // Stops recording (the destructor does it too); the events stay readable.
  void stop();
  // The events recorded since this profiler started, in the order they ended.
  std::vector<ProfileEvent> events() const;
  // Chrome trace-event JSON ("ph": "X" complete events, ts and dur in µs), written atomically.
  void write_chrome_trace(const std::string& path) const;
  // A table sorted by self time: op, calls, total ms, self ms, mean µs (self), GFLOP/s, GB/s, and,
  // given this machine's roofs (tensor/peak.h), "% roof": the share of the roof that bounds the op
  // (roof_share), "-" where it means nothing (a share above 100%: a view or no-op whose counted bytes
  // never moved; a backward node with most of its time in the ops of its formula); then the ranges.
  std::string summary(const MachinePeak* peak = nullptr) const;

 private:
  size_t first_;  // index of this profiler's first event in the shared buffer
  bool running_ = true;
  std::vector<ProfileEvent> events_;  // filled by stop()
};

// A user range: one event from construction to destruction, enclosing what runs meanwhile.
class ProfileRange {
 public:
  explicit ProfileRange(std::string name);
  ~ProfileRange();
  ProfileRange(const ProfileRange&) = delete;
  ProfileRange& operator=(const ProfileRange&) = delete;

 private:
  std::string name_;
  int64_t start_ns_ = -1;  // -1: the profiler was off when the range opened
  int depth_ = 0;
};

namespace detail {

// Trace ranges: every op, backward node and ProfileRange also opens a range of its name in the device
// backend's trace (tensor/backend.h: NVTX under CUDA), so that Nsight Systems timelines read like the
// source, whether or not a Profiler is alive. Without a tool attached a range costs a few ns; without a
// backend, a call to an empty function.
class TraceRange {
 public:
  explicit TraceRange(const char* name) { backend::range_push(name); }
  ~TraceRange() { backend::range_pop(); }
  TraceRange(const TraceRange&) = delete;
  TraceRange& operator=(const TraceRange&) = delete;
};

int64_t profiler_now_ns();
int profiler_enter();  // the depth of the new event on this thread; opens a level
void profiler_leave();
void profiler_record(ProfileEvent event);

// Times one op in apply. Constructed on every call: off, it holds `false` and does nothing else.
class OpTimer {
 public:
  OpTimer() : active_(profiler_enabled()) {
    if (active_) [[unlikely]] {
      depth_ = profiler_enter();
      start_ns_ = profiler_now_ns();
    }
  }
  ~OpTimer() {
    if (active_) [[unlikely]]
      profiler_leave();
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;
  bool active() const { return active_; }
  // Records the event; `inputs` give shapes, dtype, device and bytes (plus `out`, when defined).
  void finish(std::string_view name, ProfilePhase phase, const TensorList& inputs, const Tensor& out, double flops,
              const Tensor* grad = nullptr) const;

 private:
  bool active_;
  int depth_ = 0;
  int64_t start_ns_ = 0;
};

}  // namespace detail
}  // namespace scorch
