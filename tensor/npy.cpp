#include "tensor/npy.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "tensor/file_io.h"

namespace scorch {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr size_t kAlign = 64;         // numpy aligns the data to 64 bytes (ARRAY_ALIGN in numpy/lib/format.py)
constexpr size_t kGrowthDigits = 21;  // numpy's GROWTH_AXIS_MAX_DIGITS

struct Descr {
  std::string_view text;
  DType dtype;
};
constexpr Descr kDescrs[] = {{"<f4", kFloat32}, {"<f8", kFloat64}, {"<i8", kInt64}, {"|u1", kUInt8}};

std::string_view descr_of(DType dtype) {
  for (const Descr& d : kDescrs)
    if (d.dtype == dtype) return d.text;
  throw std::logic_error("npy: no descr for " + std::string(dtype_name(dtype)));
}

DType dtype_of_descr(const std::string& descr, const std::string& path) {
  for (const Descr& d : kDescrs)
    if (d.text == descr) return d.dtype;
  throw std::runtime_error(path + ": dtype '" + descr + "' is not supported (expected '<f4', '<f8', '<i8' or '|u1')");
}

// The dict as numpy writes it: keys sorted, Python reprs, a trailing ", ", then room for shape[0] to
// grow to kGrowthDigits digits.
std::string header_dict(const Tensor& t) {
  std::string shape = "(";
  for (int i = 0; i < t.dim(); ++i) shape += (i ? ", " : "") + std::to_string(t.size(i));
  shape += t.dim() == 1 ? ",)" : ")";  // Python's one-element tuple
  std::string dict =
      "{'descr': '" + std::string(descr_of(t.dtype())) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  if (t.dim() > 0) dict.append(kGrowthDigits - std::to_string(t.size(0)).size(), ' ');
  return dict;
}

struct NpyHeader {
  std::string descr;
  bool fortran_order;
  std::vector<uint64_t> shape;
};

// A recursive-descent reader of the header: a dict literal with exactly the keys 'descr' (a string),
// 'fortran_order' (True/False) and 'shape' (a tuple of non-negative ints), as numpy requires.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  NpyHeader parse() {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<uint64_t>> shape;
    expect('{');
    while (!consume('}')) {
      const std::string key = string_literal();
      expect(':');
      if (key == "descr" && !descr)
        descr = string_literal();
      else if (key == "fortran_order" && !fortran_order)
        fortran_order = boolean();
      else if (key == "shape" && !shape)
        shape = int_tuple();
      else
        fail("unexpected or repeated key '" + key + "'");
      if (!consume(',')) {
        expect('}');
        break;
      }
    }
    if (skip_spaces(); pos_ != text_.size()) fail("text after the dict");
    if (!descr || !fortran_order || !shape) fail("the keys 'descr', 'fortran_order' and 'shape' are all required");
    return {*descr, *fortran_order, *shape};
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    constexpr size_t kShown = 120;  // a corrupt header may be long binary noise
    std::string_view shown = text_.substr(0, std::min(text_.find('\n'), kShown));
    throw std::runtime_error(path_ + ": malformed .npy header: " + what + " at character " + std::to_string(pos_) +
                             " of \"" + std::string(shown) + "\"");
  }
  void skip_spaces() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t')) ++pos_;
  }
  bool consume(char c) {
    skip_spaces();
    if (pos_ == text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }
  std::string string_literal() {
    skip_spaces();
    if (pos_ == text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) fail("expected a quoted string");
    const size_t end = text_.find(text_[pos_], pos_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    skip_spaces();
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  std::vector<uint64_t> int_tuple() {
    std::vector<uint64_t> dims;
    expect('(');
    while (!consume(')')) {
      const size_t start = pos_;
      uint64_t d = 0;
      for (; pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; ++pos_)
        if (__builtin_mul_overflow(d, 10, &d) || __builtin_add_overflow(d, uint64_t(text_[pos_] - '0'), &d))
          fail("dimension too large");
      if (pos_ == start) fail("expected a non-negative integer");
      dims.push_back(d);
      if (!consume(',')) {
        expect(')');
        break;
      }
    }
    return dims;
  }

  std::string_view text_;
  const std::string& path_;
  size_t pos_ = 0;
};

// Checks the magic string, version and header length; returns the header text and where data starts.
std::pair<std::string_view, size_t> split_header(std::string_view bytes, const std::string& path) {
  if (bytes.size() < kMagic.size() + 2 || bytes.substr(0, kMagic.size()) != kMagic)
    throw std::runtime_error(path + ": not a .npy file (it does not start with \"\\x93NUMPY\" and a version)");
  const int major = static_cast<uint8_t>(bytes[6]), minor = static_cast<uint8_t>(bytes[7]);
  if ((major != 1 && major != 2) || minor != 0)
    throw std::runtime_error(path + ": .npy version " + std::to_string(major) + "." + std::to_string(minor) +
                             " is not supported (1.0 and 2.0 are)");
  const size_t length_bytes = major == 1 ? 2 : 4;  // uint16 in 1.0, uint32 in 2.0
  const size_t start = 8 + length_bytes;
  if (bytes.size() < start)
    throw std::runtime_error(path + ": truncated .npy file (" + std::to_string(bytes.size()) + " bytes)");
  size_t header_len = 0;
  for (size_t i = 0; i < length_bytes; ++i) header_len |= size_t{static_cast<uint8_t>(bytes[8 + i])} << (8 * i);
  if (header_len > bytes.size() - start)
    throw std::runtime_error(path + ": header length " + std::to_string(header_len) +
                             " runs past the end of the file (" + std::to_string(bytes.size()) + " bytes)");
  return {bytes.substr(start, header_len), start + header_len};
}

}  // namespace

void save_npy(const std::string& path, const Tensor& t) {
  check_savable(t, "save_npy: " + path);
  write_file_atomic(path, npy_bytes(t));
}

std::string npy_bytes(const Tensor& t) {
  check_savable(t, "npy_bytes");
  const std::string dict = header_dict(t);
  // Spaces and a final '\n' up to a multiple of kAlign; like numpy, at least one space.
  const size_t pad = kAlign - (kMagic.size() + 4 + dict.size() + 1) % kAlign;
  const size_t header_len = dict.size() + pad + 1;  // < 2^16: the dict of an 8-d shape is short
  std::string bytes(kMagic);
  bytes += {'\x01', '\x00', static_cast<char>(header_len & 0xff), static_cast<char>(header_len >> 8)};
  bytes += dict;
  bytes.append(pad, ' ');
  bytes += '\n';
  append_tensor_bytes(bytes, t);
  return bytes;
}

Tensor load_npy(const std::string& path) { return parse_npy(read_file(path), path); }

Tensor parse_npy(std::string_view bytes, const std::string& name) {
  const auto [text, data_start] = split_header(bytes, name);
  const NpyHeader header = HeaderParser(text, name).parse();
  const DType dtype = dtype_of_descr(header.descr, name);
  if (header.fortran_order)
    throw std::runtime_error(name +
                             ": fortran_order is True (column-major data), which is not supported; "
                             "save a C-order array (numpy.ascontiguousarray)");
  const Shape shape = checked_shape(header.shape, dtype, name);
  const size_t expected = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  const size_t have = bytes.size() - data_start;
  if (have != expected)
    throw std::runtime_error(name + ": has " + std::to_string(have) + " bytes of data, but " + to_string(shape) + " " +
                             std::string(dtype_name(dtype)) + " needs " + std::to_string(expected));
  return tensor_from_bytes(bytes.substr(data_start), shape, dtype);
}

}  // namespace scorch
