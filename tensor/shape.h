// shape.h: Shape (sizes or strides of up to kMaxDims dimensions, stored inline so that making a
// tensor does not touch the heap), contiguous strides, dim wrapping and NumPy broadcasting.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace scorch {

inline constexpr int kMaxDims = 8;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<int64_t>& dims) { assign(dims.begin(), dims.end()); }
  static Shape filled(int ndim, int64_t value);

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t& operator[](int i) { return d_[i]; }
  int64_t back() const { return d_[n_ - 1]; }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + n_; }
  int64_t* begin() { return d_.data(); }
  int64_t* end() { return d_.data() + n_; }
  void push_back(int64_t v);
  void insert(int pos, int64_t v);
  void erase(int pos);
  int64_t numel() const;  // product of the sizes; 1 for a 0-d shape
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  friend bool operator==(const Shape& a, const Shape& b) {
    return a.n_ == b.n_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  template <typename It>
  void assign(It first, It last);
  std::array<int64_t, kMaxDims> d_{};
  int n_ = 0;
};

std::string to_string(const Shape& s);  // "[2, 3]"
// A double for an error message, as %g writes it ("-1e-09", "0.01"; std::to_string gives "-0.000000").
std::string format_number(double v);
std::ostream& operator<<(std::ostream& os, const Shape& s);

// Row-major strides (in elements) of a shape.
Shape contiguous_strides(const Shape& shape);
// Wraps a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int wrap_dim(std::string_view op, int64_t dim, int ndim);
// NumPy broadcasting of two shapes; throws "op: cannot broadcast a [2, 3] with b [4, 3] (dim 0: 2 vs 4)".
Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b);

template <typename It>
void Shape::assign(It first, It last) {
  for (; first != last; ++first) push_back(static_cast<int64_t>(*first));
}

}  // namespace scorch
