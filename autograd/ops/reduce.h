// reduce.h: sum, mean and max over dims (or over everything), with keepdim; sum_to.
//
// With R the reduced dims (|R| elements folded into each output) and g the gradient of the output y:
//   sum   y = sum_R a              ga = expand(g, a.shape)           (g unsqueezed at R when !keepdim)
//   mean  y = sum_R a / |R|        ga = expand(g, a.shape) / |R|
//   max   y = max_R a              ga = expand(g) [a == y] / count(a == y)   (ties share, as torch.amax)
//   sum_to(t, shape): sums t down to `shape` (the inverse of broadcasting: over the leading dims that
//   shape lacks and the dims where it has 1); returns t itself when the shapes are equal.
// Negative dims count from the end; an empty dims list reduces over every dim. A dim out of range
// throws std::out_of_range, a repeated dim std::invalid_argument. Sums accumulate in double, also for
// float32 inputs (so a sum over 16M elements keeps ~7 digits). Over an empty dim, sum gives 0 and
// mean NaN; max throws (the max of nothing is undefined). max propagates NaN.
// Reference: torch.sum, torch.mean, torch.amax.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace scorch {

Tensor sum(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor max(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor sum_to(const Tensor& a, const Shape& shape);

}  // namespace scorch
