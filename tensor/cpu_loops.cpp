#include "tensor/cpu_loops.h"

namespace scorch {

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  const Shape& ts = t.shape();
  const int lead = shape.size() - ts.size();
  Shape out = Shape::filled(shape.size(), 0);
  for (int d = 0; d < ts.size(); ++d) out[lead + d] = ts[d] == 1 ? 0 : t.strides()[d];
  return out;
}

void set_num_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(std::max(n, 1));
#else
  (void)n;
#endif
}

}  // namespace scorch
