// parallel.h: the one way scorch splits CPU work over threads.
//
// OpenMP, whose pool is shared with OpenBLAS because we link OpenBLAS's OpenMP build (see
// perf-notes.md: the pthread build and OpenMP fight over the cores). Work below `grain` items stays
// on the calling thread: waking the pool costs a few microseconds, more than a small op takes.
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace scorch {

inline int num_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}
void set_num_threads(int n);
// The index of the calling thread in the current parallel region (0 outside one): a slot in
// per-thread scratch buffers.
inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Elementwise work per thread below which we stay serial (about 10 µs of a simple kernel).
inline constexpr int64_t kGrainElementwise = 32768;

// The grain for items (rows, planes, groups) of `elements_per_item` elements each: enough items per
// chunk for about kGrainElementwise elements of work, and at least one.
inline int64_t grain_for(int64_t elements_per_item) {
  return std::max<int64_t>(1, kGrainElementwise / std::max<int64_t>(1, elements_per_item));
}

// Calls f(begin, end) on disjoint chunks covering [0, n). NOTE: f must not throw (an exception cannot
// leave an OpenMP region: the program would terminate); check arguments before the loop. Chunk boundaries are multiples
// of `align` so that results never depend on the thread count (the RNG relies on this).
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f, int64_t align = 1) {
  const int threads =
      static_cast<int>(std::min<int64_t>(num_threads(), std::max<int64_t>(n / std::max<int64_t>(grain, 1), 1)));
  if (threads <= 1) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t chunk = ((n + nt - 1) / nt + align - 1) / align * align;
    const int64_t begin = std::min<int64_t>(n, t * chunk), end = std::min<int64_t>(n, begin + chunk);
    if (begin < end) f(begin, end);
  }
#endif
}

}  // namespace scorch
