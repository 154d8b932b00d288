// reduce.h: sum, mean and max over dims (or over everything), with keepdim.
//
// Negative dims count from the end; an empty dims list reduces over every dim. Sums accumulate in
// double for float32 inputs (so a sum over 16M elements keeps ~7 digits).
//   sum   y = sum_R a              ga = expand(g, a.shape)           (g unsqueezed at R when !keepdim)
//   mean  y = sum_R a / |R|        ga = expand(g, a.shape) / |R|
//   max   y = max_R a              ga = expand(g) [a == y] / count(a == y)   (ties share, as torch.amax)
//   sum_to(t, shape): sums t down to `shape` (the inverse of broadcasting); returns t when equal.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace scorch {

Tensor sum(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor max(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor sum_to(const Tensor& a, const Shape& shape);

}  // namespace scorch
