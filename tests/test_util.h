// test_util.h: what every op test shares: seeded inputs in several layouts, closeness with a report,
// and gradcheck/gradgradcheck as a GoogleTest assertion.
//
// Inputs come from std::mt19937_64, not from scorch's RNG, so an RNG bug cannot hide an op bug.
#pragma once
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "tensor/parallel.h"

namespace scorch::testing {

// How an input is laid out in memory: the op must give the same answer for each.
enum class Layout { contiguous, transposed, strided };

inline const char* layout_name(Layout l) {
  return l == Layout::contiguous ? "contiguous" : l == Layout::transposed ? "transposed" : "strided";
}

// Uniform values in [lo, hi) with the given shape, dtype and layout; values depend only on seed and
// shape (element i in row-major order is the same for every layout).
inline Tensor make_input(const Shape& shape, DType dtype, uint64_t seed, Layout layout = Layout::contiguous,
                         double lo = -1.0, double hi = 1.0, bool requires_grad = false) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(shape.numel());
  for (double& x : v) x = u(rng);
  Tensor base = from_vector(v, shape, {.dtype = dtype});
  Tensor t = base;
  if (layout == Layout::transposed && shape.size() >= 2) {
    // Store the last two dims swapped, then view them back: same values, column-major innermost.
    const int n = shape.size();
    Tensor stored = base.transpose(n - 2, n - 1).contiguous();
    t = stored.transpose(n - 2, n - 1);
  } else if (layout == Layout::strided && shape.size() >= 1) {
    // Every other element of a twice-as-long buffer along the last dim.
    Shape wide = shape;
    wide[wide.size() - 1] *= 2;
    Tensor buffer = zeros(wide, {.dtype = dtype});
    t = buffer.slice(-1, 0, wide.back(), 2);
    t.copy_(base);
  }
  if (requires_grad) t = t.detach().requires_grad_();
  return t;
}

struct Tolerance {
  double rtol = 1e-6;
  double atol = 1e-7;
};

// Same shape and |a - b| <= atol + rtol |b| everywhere (b is the reference).
inline ::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, Tolerance tol = {}) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shape " << to_string(a.shape()) << " vs reference "
                                         << to_string(b.shape());
  const std::vector<double> va = a.values(), vb = b.values();
  for (size_t i = 0; i < va.size(); ++i) {
    const bool nan_ok = std::isnan(va[i]) && std::isnan(vb[i]);
    if (!nan_ok && !(std::abs(va[i] - vb[i]) <= tol.atol + tol.rtol * std::abs(vb[i])))
      return ::testing::AssertionFailure()
             << "element " << i << " (row-major) of " << to_string(a.shape()) << ": got " << va[i] << ", reference "
             << vb[i] << " (rtol " << tol.rtol << ", atol " << tol.atol << ")";
  }
  return ::testing::AssertionSuccess();
}

// The message of the exception of type E that f throws, or "(no exception)" when it throws none
// (an exception of another type propagates and fails the test).
template <typename E = std::exception, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no exception)";
}

// Restores the OpenMP thread count that a test changes.
struct ThreadCountGuard {
  int saved = num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

// gradcheck and, when second_order, gradgradcheck, reporting the worst entry on failure.
inline ::testing::AssertionResult grads_ok(const DifferentiableFn& f, const TensorList& inputs,
                                           const GradcheckOptions& options = {}, bool second_order = true) {
  GradcheckResult r = gradcheck(f, inputs, options);
  if (r && second_order) r = gradgradcheck(f, inputs, options);
  if (r) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.message;
}

}  // namespace scorch::testing
