// reduce.cpp: sum, mean, max and sum_to (formulas in reduce.h); the CUDA kernels are in cuda/reduce.cu.
//
// One CPU kernel serves the three ops: out[o] = finish(fold over r of a[o, r]), where o runs over the
// kept dims in row-major order (the order of the contiguous output) and r over the reduced dims. Both
// index sets are LoopPlans over a's own strides, so views are read in place. Two loop orders, chosen
// by which dim is contiguous in memory:
//   rows     a reduced dim (sum over the last dim, sum of everything): each output folds contiguous
//            runs, with kLanes accumulators so that the loop vectorises;
//   columns  a kept dim (bias gradient [N, C] -> [C]): a block of outputs is updated one input row
//            at a time, each row a contiguous, vectorised pass.
// Threads split the outputs. When there are too few outputs to share (sum of everything), they split
// the reduced range instead, in fixed chunks whose partial results are merged in chunk order, so that
// results do not depend on the thread count.
#include "autograd/ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "autograd/apply.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/shape.h"
#include "tensor/backend.h"
#include "tensor/cpu_loops.h"
#include "tensor/reduce_plan.h"

namespace scorch {
namespace {

constexpr int kLanes = 16;              // independent accumulators of a contiguous fold
constexpr int64_t kColumnBlock = 1024;  // outputs updated together in the columns order (8 KiB of double: L1)
constexpr int64_t kFewOutputs = 64;     // below this many outputs, threads split the reduced range
constexpr int64_t kChunk = 65536;       // reduced elements per chunk of that split

// The fold of a reduction: its accumulator type, start value, step and the merge of two partials.
template <typename T>
struct SumFold {
  using Acc = double;  // float32 sums accumulate in double: 16M elements keep ~7 digits
  static Acc init() { return 0; }
  static Acc step(Acc acc, T x) { return acc + static_cast<Acc>(x); }
  static Acc merge(Acc a, Acc b) { return a + b; }
};

template <typename T>
struct MaxFold {
  using Acc = T;
  static Acc init() { return -std::numeric_limits<T>::infinity(); }
  static Acc step(Acc acc, T x) { return x > acc || std::isnan(x) ? x : acc; }  // NaN wins, as in torch.amax
  static Acc merge(Acc a, Acc b) { return step(a, b); }
};

// Folds p[0], p[s], ..., p[(n-1) s] into acc. On a contiguous run, kLanes independent accumulators
// break the dependency chain (FP addition is not associative, so the compiler may not split one
// accumulator by itself) and let the loop vectorise.
template <typename F, typename T>
typename F::Acc fold_run(typename F::Acc acc, const T* p, int64_t n, int64_t s) {
  int64_t i = 0;
  if (s == 1 && n >= kLanes) {
    std::array<typename F::Acc, kLanes> lane;
    lane.fill(F::init());
    for (; i + kLanes <= n; i += kLanes)
      for (int k = 0; k < kLanes; ++k) lane[k] = F::step(lane[k], p[i + k]);
    for (int width = kLanes / 2; width > 0; width /= 2)  // a tree: 4 dependent merges, not 16
      for (int k = 0; k < width; ++k) lane[k] = F::merge(lane[k], lane[k + width]);
    acc = F::merge(acc, lane[0]);
  }
  for (; i < n; ++i) acc = F::step(acc, p[i * s]);
  return acc;
}

// acc[o - o_begin] = fold of a[o, r] over r in [r_begin, r_end), for o in [o_begin, o_end): the rows order.
template <typename F, typename T>
void fold_rows(const ReducePlan& p, const T* a, int64_t o_begin, int64_t o_end, int64_t r_begin, int64_t r_end,
               typename F::Acc* acc) {
  for_each_row<1>(p.kept, o_begin, o_end, [&](const auto& off, const auto& st, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
      typename F::Acc sum = F::init();
      for_each_row<1>(p.reduced, r_begin, r_end, [&](const auto& roff, const auto& rst, int64_t m) {
        sum = fold_run<F>(sum, a + off[0] + j * st[0] + roff[0], m, rst[0]);
      });
      *acc++ = sum;
    }
  });
}

// The same in the columns order: the innermost kept dim has stride 1, so for each reduced index r
// the outputs of a block read one contiguous row a[o .. o + kColumnBlock, r].
template <typename F, typename T>
void fold_columns(const ReducePlan& p, const T* a, int64_t o_begin, int64_t o_end, int64_t r_begin, int64_t r_end,
                  typename F::Acc* acc) {
  for_each_row<1>(p.kept, o_begin, o_end, [&](const auto& off, const auto&, int64_t n) {
    for (int64_t j0 = 0; j0 < n; j0 += kColumnBlock) {
      typename F::Acc* block = acc + j0;
      const int64_t width = std::min(kColumnBlock, n - j0);
      std::fill(block, block + width, F::init());
      for_each_row<1>(p.reduced, r_begin, r_end, [&](const auto& roff, const auto& rst, int64_t m) {
        const T* row = a + off[0] + j0 + roff[0];
        const int64_t s = rst[0];
        int64_t i = 0;
        // Four rows per pass over the block, in the same order as one by one: a quarter of the loads and
        // stores of the block.
        for (; i + 4 <= m; i += 4, row += 4 * s)
          for (int64_t j = 0; j < width; ++j)
            block[j] = F::step(F::step(F::step(F::step(block[j], row[j]), row[s + j]), row[2 * s + j]), row[3 * s + j]);
        for (; i < m; ++i, row += s)
          for (int64_t j = 0; j < width; ++j) block[j] = F::step(block[j], row[j]);
      });
    }
    acc += n;
  });
}

// out (contiguous, one element per output) = finish(fold of a over the dims in mask).
template <typename F, typename T, typename Finish>
void reduce_cpu(const Tensor& a, uint32_t mask, Tensor& out, Finish finish) {
  using Acc = typename F::Acc;
  const ReducePlan p = make_reduce_plan(a, mask);
  const T* in = a.data<T>();
  T* y = out.data<T>();
  if (p.length == 0) {  // an empty fold (and the loop plans would divide by the zero size)
    std::fill(y, y + p.outputs, finish(F::init()));
    return;
  }
  const bool rows_contiguous = p.length > 1 && p.reduced.strides[0].back() == 1;
  const bool columns = p.outputs > 1 && p.kept.strides[0].back() == 1 && !rows_contiguous;
  auto fold = [&](int64_t o_begin, int64_t o_end, int64_t r_begin, int64_t r_end, Acc* acc) {
    if (columns)
      fold_columns<F>(p, in, o_begin, o_end, r_begin, r_end, acc);
    else
      fold_rows<F>(p, in, o_begin, o_end, r_begin, r_end, acc);
  };
  if (p.outputs < kFewOutputs && p.length >= 2 * kChunk) {
    const int64_t chunks = (p.length + kChunk - 1) / kChunk;
    std::vector<Acc> partial(chunks * p.outputs);
    parallel_for(chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c)
        fold(0, p.outputs, c * kChunk, std::min(p.length, (c + 1) * kChunk), &partial[c * p.outputs]);
    });
    for (int64_t o = 0; o < p.outputs; ++o) {
      Acc acc = partial[o];
      for (int64_t c = 1; c < chunks; ++c) acc = F::merge(acc, partial[c * p.outputs + o]);
      y[o] = finish(acc);
    }
    return;
  }
  parallel_for(p.outputs, grain_for(p.length), [&](int64_t begin, int64_t end) {
    std::vector<Acc> acc(end - begin);
    fold(begin, end, 0, p.length, acc.data());
    for (int64_t o = begin; o < end; ++o) y[o] = finish(acc[o - begin]);
  });
}

// The dims a reduction runs over, checked and wrapped once: bit d of mask is set when dim d is reduced.
struct ReduceDims {
  uint32_t mask = 0;
  bool keepdim = false;

  bool reduces(int d) const { return mask >> d & 1u; }
  Shape out_shape(const Shape& in) const {
    Shape out;
    for (int d = 0; d < in.size(); ++d)
      if (!reduces(d))
        out.push_back(in[d]);
      else if (keepdim)
        out.push_back(1);
    return out;
  }
  int64_t count(const Shape& in) const {  // |R|, the number of elements folded into each output
    int64_t n = 1;
    for (int d = 0; d < in.size(); ++d)
      if (reduces(d)) n *= in[d];
    return n;
  }
  // t (shaped like the output) with the reduced dims back as size 1, so that it broadcasts against a.
  Tensor unreduce(const Tensor& t, const Shape& in) const {
    return keepdim ? t : reshape(t, ReduceDims{mask, true}.out_shape(in));
  }
};

std::string join(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

ReduceDims reduce_dims(std::string_view op, const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  if (!a.defined()) throw std::invalid_argument(std::string(op) + ": input 0 is undefined");
  const uint32_t all = (1u << a.dim()) - 1;
  if (dims.empty()) return {all, keepdim};
  ReduceDims r{0, keepdim};
  for (int64_t d : dims) {
    const int w = wrap_dim(op, d, a.dim());
    if (r.reduces(w))
      throw std::invalid_argument(std::string(op) + ": dim " + std::to_string(d) + " appears twice in dims " +
                                  join(dims) + " of a " + std::to_string(a.dim()) + "-d tensor");
    r.mask |= 1u << w;
  }
  r.mask &= all;  // a 0-d tensor accepts dim 0 or -1 and has nothing to reduce
  return r;
}

struct Sum {
  static constexpr std::string_view name = "sum";
  ReduceDims dims;
  Shape out_shape(const Tensor& a) const { return dims.out_shape(a.shape()); }
  void cpu(const Tensor& a, Tensor& out) const {
    dispatch_float(name, a.dtype(), [&]<typename T>() {
      reduce_cpu<SumFold<T>, T>(a, dims.mask, out, [](double s) { return static_cast<T>(s); });
    });
  }
  void device(const Tensor& a, Tensor& out) const { backend::reduce(backend::ReduceKind::sum, a, dims.mask, out); }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {expand(dims.unreduce(g, in[0].shape()), in[0].shape())};
  }
};

struct Mean {
  static constexpr std::string_view name = "mean";
  ReduceDims dims;
  Shape out_shape(const Tensor& a) const { return dims.out_shape(a.shape()); }
  void cpu(const Tensor& a, Tensor& out) const {
    const double count = static_cast<double>(dims.count(a.shape()));  // 0 gives 0/0 = NaN, as torch.mean
    dispatch_float(name, a.dtype(), [&]<typename T>() {
      reduce_cpu<SumFold<T>, T>(a, dims.mask, out, [count](double s) { return static_cast<T>(s / count); });
    });
  }
  void device(const Tensor& a, Tensor& out) const { backend::reduce(backend::ReduceKind::mean, a, dims.mask, out); }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    const Shape& shape = in[0].shape();
    return {expand(dims.unreduce(g, shape) / static_cast<double>(dims.count(shape)), shape)};
  }
};

struct Max {
  static constexpr std::string_view name = "max";
  static constexpr bool needs_output = true;
  ReduceDims dims;
  Shape out_shape(const Tensor& a) const {
    for (int d = 0; d < a.dim(); ++d)
      if (dims.reduces(d) && a.shape()[d] == 0)
        throw std::invalid_argument("max: cannot reduce over dim " + std::to_string(d) + " of size 0 of " +
                                    describe(a) + " (the max of nothing is undefined)");
    return dims.out_shape(a.shape());
  }
  void cpu(const Tensor& a, Tensor& out) const {
    dispatch_float(name, a.dtype(),
                   [&]<typename T>() { reduce_cpu<MaxFold<T>, T>(a, dims.mask, out, [](T m) { return m; }); });
  }
  void device(const Tensor& a, Tensor& out) const { backend::reduce(backend::ReduceKind::max, a, dims.mask, out); }
  // Every element equal to the max gets an equal share of g; eq() has no gradient, so the mask is a
  // constant in the double backward.
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor& out) const {
    const Tensor& a = in[0];
    const Tensor is_max = eq(a, dims.unreduce(out, a.shape()));
    const Tensor count = apply(Sum{{dims.mask, true}}, is_max);
    return {dims.unreduce(g, a.shape()) * is_max / count};
  }
};

}  // namespace

Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return apply(Sum{reduce_dims(Sum::name, a, dims, keepdim)}, a);
}

Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return apply(Mean{reduce_dims(Mean::name, a, dims, keepdim)}, a);
}

Tensor max(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return apply(Max{reduce_dims(Max::name, a, dims, keepdim)}, a);
}

// Sums the leading dims that `shape` lacks and the dims where `shape` has 1 (keeping them as 1),
// then drops the leading ones with a reshape.
Tensor sum_to(const Tensor& a, const Shape& shape) {
  if (!a.defined()) throw std::invalid_argument("sum_to: input 0 is undefined");
  if (a.shape() == shape) return a;
  const int lead = a.dim() - shape.size();
  ReduceDims dims{0, /*keepdim=*/true};
  bool fits = lead >= 0;
  for (int d = 0; fits && d < a.dim(); ++d) {
    if (d < lead || shape[d - lead] == 1)
      dims.mask |= 1u << d;
    else
      fits = shape[d - lead] == a.shape()[d];
  }
  if (!fits)
    throw std::invalid_argument("sum_to: cannot sum " + to_string(a.shape()) + " down to " + to_string(shape) + " (" +
                                to_string(shape) + " does not broadcast to " + to_string(a.shape()) + ")");
  return reshape(apply(Sum{dims}, a), shape);
}

}  // namespace scorch
