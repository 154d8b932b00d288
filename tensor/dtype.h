// dtype.h: element types and devices, and the one place that turns a runtime dtype into a C++ type.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace scorch {

enum class DType : uint8_t { float32, float64, int64, uint8 };
inline constexpr DType kFloat32 = DType::float32;
inline constexpr DType kFloat64 = DType::float64;
inline constexpr DType kInt64 = DType::int64;
inline constexpr DType kUInt8 = DType::uint8;

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::float32: return 4;
    case DType::float64: return 8;
    case DType::int64: return 8;
    case DType::uint8: return 1;
  }
  return 0;
}
constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
    case DType::uint8: return "uint8";
  }
  return "?";
}
constexpr bool is_floating(DType t) { return t == DType::float32 || t == DType::float64; }

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::float64;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::int64;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::uint8;
}

// Calls f.template operator()<T>() with T the C++ type of a floating dtype:
//   dispatch_float("exp", x.dtype(), [&]<typename T>() { ... });
template <typename F>
decltype(auto) dispatch_float(std::string_view op, DType t, F&& f) {
  switch (t) {
    case DType::float32: return f.template operator()<float>();
    case DType::float64: return f.template operator()<double>();
    default:
      throw std::invalid_argument(std::string(op) + ": expected a float32 or float64 tensor, got " +
                                  std::string(dtype_name(t)));
  }
}
// Same for every dtype.
template <typename F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::float32: return f.template operator()<float>();
    case DType::float64: return f.template operator()<double>();
    case DType::int64: return f.template operator()<int64_t>();
    case DType::uint8: return f.template operator()<uint8_t>();
  }
  throw std::logic_error("dispatch_all: bad dtype");
}

enum class DeviceType : uint8_t { cpu, cuda };

// A device: its type and, for CUDA, the ordinal. Device::cpu() / Device::cuda(0).
struct Device {
  DeviceType type = DeviceType::cpu;
  int8_t index = 0;
  static constexpr Device cpu() { return {DeviceType::cpu, 0}; }
  static constexpr Device cuda(int index = 0) { return {DeviceType::cuda, static_cast<int8_t>(index)}; }
  constexpr bool is_cpu() const { return type == DeviceType::cpu; }
  constexpr bool is_cuda() const { return type == DeviceType::cuda; }
  friend constexpr bool operator==(Device a, Device b) = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

}  // namespace scorch
