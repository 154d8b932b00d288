// matmul.h: matrix products with batch dims, as numpy.matmul / torch.matmul.
//
// a [..., M, K] @ b [..., K, N] -> y [..., M, N], batch dims broadcast; a 1-d a is [1, K] (that dim
// is dropped from y), a 1-d b is [K, 1] (likewise), so two 1-d operands give their 0-d dot product.
// Each product is one OpenBLAS sgemm/dgemm call; a matrix whose rows or columns are unit-stride (e.g.
// a transpose view) goes to BLAS as is, with the transpose flag; other layouts are copied first.
//   ga = sum_to(g @ b^T, a.shape)      gb = sum_to(a^T @ g, b.shape)      (b^T: last two dims swapped)
// Only the inputs that require grad get one. Throws std::invalid_argument naming both shapes when they
// do not match, e.g. "matmul: a [2, 3] and b [4, 5] do not match (K: 3 vs 4)".
#pragma once
#include "tensor/tensor.h"

namespace scorch {

Tensor matmul(const Tensor& a, const Tensor& b);

// linear: y = x W^T + b, x [..., K], W [N, K], b [N] (may be undefined) -> y [..., N], as
// torch.nn.functional.linear; one gemm that accumulates onto rows of b.
//   gx = g W      gW = g^T x (leading dims flattened into rows)      gb = sum of g over the rows
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);
// Floating-point operations of matmul(a, b): 2 M N K per product, times the broadcast batch size.
double matmul_flops(const Tensor& a, const Tensor& b);

}  // namespace scorch
