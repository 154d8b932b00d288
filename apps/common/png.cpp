#include "apps/common/png.h"

#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string_view>

#include "tensor/file_io.h"

namespace scorch::app {
namespace {

// What libpng's callbacks share with us. The error message is a fixed buffer: the error handler runs
// just before a longjmp, so it must not build C++ objects.
struct PngIo {
  char error[256] = "unknown libpng error";
  std::string* out = nullptr;  // writing: the encoded bytes
  std::string_view in;         // reading: the file, and how far libpng has read it
  size_t pos = 0;
};

void on_error(png_structp png, png_const_charp message) {
  auto* io = static_cast<PngIo*>(png_get_error_ptr(png));
  std::snprintf(io->error, sizeof io->error, "%s", message);
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}  // e.g. a chunk it does not know: nothing to act on

void write_bytes(png_structp png, png_bytep data, size_t n) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  bool failed = false;
  try {
    io->out->append(reinterpret_cast<const char*>(data), n);
  } catch (const std::bad_alloc&) {
    failed = true;
  }
  if (failed) png_error(png, "out of memory");  // outside the catch block: its exception must not be skipped
}
void flush_bytes(png_structp) {}

void read_bytes(png_structp png, png_bytep data, size_t n) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  if (io->in.size() - io->pos < n) png_error(png, "the file is truncated");
  std::memcpy(data, io->in.data() + io->pos, n);
  io->pos += n;
}

// A libpng read or write struct with its info struct, destroyed together.
struct PngHandle {
  PngHandle(bool write, PngIo& io, const std::string& path) : write(write) {
    png = write ? png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, on_error, on_warning)
                : png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, on_error, on_warning);
    if (png) info = png_create_info_struct(png);
    if (!info) {
      destroy();
      throw std::runtime_error(path + ": cannot create libpng's structs (out of memory)");
    }
  }
  ~PngHandle() { destroy(); }
  PngHandle(const PngHandle&) = delete;
  PngHandle& operator=(const PngHandle&) = delete;
  void destroy() {  // both accept null pointers
    if (write)
      png_destroy_write_struct(&png, &info);
    else
      png_destroy_read_struct(&png, &info, nullptr);
  }

  bool write;
  png_structp png = nullptr;
  png_infop info = nullptr;
};

// The functions below hold every libpng call that may fail, behind setjmp. NOTE: no object with a
// destructor may live in their frames, since libpng's longjmp would skip it.
bool encode(png_structp png, png_infop info, const uint8_t* pixels, int width, int height, png_textp text, int n_text) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (n_text > 0) png_set_text(png, info, text, n_text);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) png_write_row(png, pixels + size_t(y) * width);
  png_write_end(png, info);
  return true;
}

struct PngHeader {
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
};
bool decode_header(png_structp png, png_infop info, PngHeader* h) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  png_get_IHDR(png, info, &h->width, &h->height, &h->bit_depth, &h->color_type, &h->interlace, nullptr, nullptr);
  return true;
}
bool decode_rows(png_structp png, png_infop info, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, info);  // text chunks after the image data land in info too
  return true;
}

// PNG spec 11.3.4.2: 1-79 Latin-1 characters, no leading, trailing or consecutive spaces; we allow
// printable ASCII only, which every reader shows the same way.
void check_keyword(const std::string& path, const std::string& key, const std::string& value) {
  bool ok = !key.empty() && key.size() <= 79 && key.front() != ' ' && key.back() != ' ' &&
            key.find("  ") == std::string::npos;
  for (char c : key) ok = ok && c >= 0x20 && c <= 0x7e;
  if (!ok)
    throw std::invalid_argument(
        "write_png_gray: " + path + ": text key \"" + key +
        "\" must be 1 to 79 printable ASCII characters without leading, trailing or double spaces");
  if (value.find('\0') != std::string::npos)
    throw std::invalid_argument("write_png_gray: " + path + ": text value of \"" + key + "\" contains a NUL byte");
}

bool is_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

uint32_t big_endian_u32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | uint32_t{b[3]};
}

uint8_t to_byte(double v) {
  return std::isnan(v) ? 0 : static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255));
}

}  // namespace

void write_png_gray(const std::string& path, const std::vector<uint8_t>& pixels, int width, int height,
                    const std::map<std::string, std::string>& text) {
  if (width < 1 || height < 1 || pixels.size() != size_t(width) * size_t(height))
    throw std::invalid_argument("write_png_gray: " + path + ": " + std::to_string(pixels.size()) + " pixels for " +
                                std::to_string(width) + " x " + std::to_string(height));
  std::vector<png_text> chunks;
  for (const auto& [key, value] : text) {
    check_keyword(path, key, value);
    png_text chunk{};
    chunk.compression = is_ascii(value) ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
    chunk.key = const_cast<char*>(key.c_str());  // libpng copies, never writes through these
    chunk.text = const_cast<char*>(value.c_str());
    chunk.text_length = value.size();
    chunks.push_back(chunk);
  }
  std::string bytes;
  PngIo io;
  io.out = &bytes;
  const PngHandle png(/*write=*/true, io, path);
  png_set_write_fn(png.png, &io, write_bytes, flush_bytes);
  if (!encode(png.png, png.info, pixels.data(), width, height, chunks.data(), static_cast<int>(chunks.size())))
    throw std::runtime_error(path + ": cannot encode PNG: " + io.error);
  write_file_atomic(path, bytes);
}

GrayPng read_png_gray(const std::string& path) {
  const std::string bytes = read_file(path);
  PngIo io;
  io.in = bytes;
  const PngHandle png(/*write=*/false, io, path);
  png_set_read_fn(png.png, &io, read_bytes);
  PngHeader h;
  if (!decode_header(png.png, png.info, &h)) throw std::runtime_error(path + ": cannot decode PNG: " + io.error);
  if (h.color_type != PNG_COLOR_TYPE_GRAY || h.bit_depth != 8 || h.interlace != PNG_INTERLACE_NONE)
    throw std::runtime_error(path + ": not an 8-bit grayscale non-interlaced PNG (color type " +
                             std::to_string(h.color_type) + ", bit depth " + std::to_string(h.bit_depth) + ")");
  GrayPng out;
  out.image = {static_cast<int>(h.width), static_cast<int>(h.height), std::vector<uint8_t>(size_t(h.width) * h.height)};
  std::vector<png_bytep> rows(h.height);
  for (png_uint_32 y = 0; y < h.height; ++y) rows[y] = out.image.pixels.data() + size_t(y) * h.width;
  if (!decode_rows(png.png, png.info, rows.data())) throw std::runtime_error(path + ": cannot decode PNG: " + io.error);
  png_textp text = nullptr;
  const int n_text = png_get_text(png.png, png.info, &text, nullptr);
  for (int i = 0; i < n_text; ++i) out.text[text[i].key] = text[i].text;
  return out;
}

std::string png_defect(std::string_view bytes) {
  static constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  if (bytes.empty()) return "empty";
  if (!bytes.starts_with(kSignature)) return "no PNG signature";
  size_t pos = kSignature.size();
  for (int index = 0;; ++index) {
    if (pos == bytes.size()) return index == 0 ? "no chunk after the signature" : "ends without an IEND chunk";
    if (bytes.size() - pos < 8) return "truncated in the header of chunk " + std::to_string(index);
    const uint32_t length = big_endian_u32(bytes.data() + pos);
    std::string type(bytes.substr(pos + 4, 4));
    for (char& c : type)  // chunk types are 4 ASCII letters; anything else is shown as '?'
      if (!std::isalpha(static_cast<unsigned char>(c))) c = '?';
    const std::string chunk = "chunk " + std::to_string(index) + " (" + type + ")";
    if (length > 0x7fffffffu) return chunk + " claims " + std::to_string(length) + " bytes (at most 2^31 - 1)";
    if (bytes.size() - pos - 8 < size_t{length} + 4) return "truncated in " + chunk;
    const auto* data = reinterpret_cast<const Bytef*>(bytes.data() + pos + 4);  // type and data
    if (crc32(crc32(0, nullptr, 0), data, length + 4) != big_endian_u32(bytes.data() + pos + 8 + length))
      return "bad CRC in " + chunk;
    if (index == 0 && type != "IHDR") return "the first chunk is " + type + ", not IHDR";
    pos += size_t{length} + 12;
    if (type == "IEND")
      return pos == bytes.size() ? "" : std::to_string(bytes.size() - pos) + " bytes after the IEND chunk";
  }
}

GrayImage image_grid(const Tensor& images, int columns, int padding, int scale) {
  if (!images.defined() || images.dim() != 4 || images.size(1) != 1 || images.numel() == 0 ||
      !is_floating(images.dtype()) || !images.device().is_cpu())
    throw std::invalid_argument("image_grid: expected float images [N, 1, H, W] on the CPU with N, H, W >= 1, got " +
                                (images.defined() ? describe(images) : std::string("an undefined tensor")));
  if (columns < 1 || padding < 0 || scale < 1)
    throw std::invalid_argument("image_grid: need columns >= 1, padding >= 0, scale >= 1, got " +
                                std::to_string(columns) + ", " + std::to_string(padding) + ", " +
                                std::to_string(scale));
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  const int64_t cols = std::min<int64_t>(columns, n), rows = (n + cols - 1) / cols;
  const int64_t cell_w = w * scale + padding, cell_h = h * scale + padding;
  const int64_t width = cols * cell_w + padding, height = rows * cell_h + padding;
  if (width > (1 << 20) || height > (1 << 20))
    throw std::invalid_argument("image_grid: a " + std::to_string(width) + " x " + std::to_string(height) +
                                " grid is too large (at most 2^20 pixels a side)");
  GrayImage grid{static_cast<int>(width), static_cast<int>(height),
                 std::vector<uint8_t>(size_t(width) * size_t(height), kGridPadValue)};
  const std::vector<double> values = images.values();  // row-major [N, 1, H, W]
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x0 = padding + (i % cols) * cell_w, y0 = padding + (i / cols) * cell_h;
    for (int64_t y = 0; y < h * scale; ++y)
      for (int64_t x = 0; x < w * scale; ++x)
        grid.pixels[(y0 + y) * width + x0 + x] = to_byte(values[(i * h + y / scale) * w + x / scale]);
  }
  return grid;
}

}  // namespace scorch::app
