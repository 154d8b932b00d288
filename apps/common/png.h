// png.h: 8-bit grayscale PNG files (libpng) with text chunks, and image grids of samples.
//
// write_png_gray encodes in memory (png_set_write_fn) and writes the file with write_file_atomic
// (tensor/file_io.h), so a reader never sees half a PNG. Text entries become tEXt chunks (Latin-1 in
// the PNG spec, so only for ASCII values) or, when the value has other bytes (UTF-8 such as "σ"),
// iTXt chunks; both come before the image data. PNG keywords are 1 to 79 printable ASCII characters
// with no leading, trailing or double spaces (PNG spec 11.3.4.2); anything else is rejected.
//
// libpng reports errors by longjmp: the functions that call it keep no C++ object with a destructor
// alive across setjmp, and the error handler copies the message into a fixed buffer, so an error
// becomes a std::runtime_error naming the file, with no undefined behaviour.
//
// png_defect checks that bytes are one whole PNG file, as a figure written by another program
// (gnuplot) must be before it replaces the old one: the 8-byte signature, then chunks (PNG spec 5.3:
// 4-byte big-endian length up to 2^31 - 1, 4-byte type, data, CRC-32 of type and data), the first
// IHDR, the last IEND, ending exactly at the end of the bytes. A file cut short (a full disk, a killed
// writer) fails it, whatever the cut.
//
// image_grid lays N images out as torchvision.utils.make_grid does: min(columns, N) per row, rows
// as needed, `padding` pixels around and between cells; padding and empty cells are mid-gray (128)
// so that both black and white digits stand out from it. Each value is clamped to [0, 1] and
// becomes round(255 v); NaN becomes 0 (black). `scale` repeats every pixel scale x scale times.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace scorch::app {

// Row-major, one byte a pixel, 0 black, 255 white.
struct GrayImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;
};

inline constexpr uint8_t kGridPadValue = 128;

// Throws std::invalid_argument naming the path on bad sizes or text keys, std::runtime_error on a
// libpng or file error.
void write_png_gray(const std::string& path, const std::vector<uint8_t>& pixels, int width, int height,
                    const std::map<std::string, std::string>& text = {});
inline void write_png_gray(const std::string& path, const GrayImage& image,
                           const std::map<std::string, std::string>& text = {}) {
  write_png_gray(path, image.pixels, image.width, image.height, text);
}

// Reads an 8-bit grayscale PNG (other kinds throw) and its tEXt/iTXt chunks: for tests and tools.
struct GrayPng {
  GrayImage image;
  std::map<std::string, std::string> text;
};
GrayPng read_png_gray(const std::string& path);

// "" when `bytes` are a whole PNG file (see above), else what is wrong: "empty", "no PNG signature",
// "truncated in chunk 3 (IDAT)", "ends without an IEND chunk", ...
std::string png_defect(std::string_view bytes);

// images [N, 1, H, W], float32 or float64 on the CPU, N >= 1; columns, scale >= 1, padding >= 0.
GrayImage image_grid(const Tensor& images, int columns, int padding = 2, int scale = 1);

}  // namespace scorch::app
