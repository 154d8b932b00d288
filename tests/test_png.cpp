// Grayscale PNGs and image grids (apps/common/png.h): pixels and text chunks (tEXt and, for UTF-8,
// iTXt) survive a round trip through libpng, the grid puts each image, its padding and its clamped
// bytes where the header says, and bad paths, keys, sizes and files give errors naming the file.
#include <gmock/gmock.h>

#include <cmath>

#include "apps/common/png.h"
#include "tensor/file_io.h"
#include "temp_dir.h"
#include "test_util.h"

namespace scorch::app {
namespace {

using scorch::testing::error_of;
using scorch::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(Png, RoundTripsPixelsAndText) {
  TempDir dir;
  GrayImage image{5, 3, {}};
  for (int i = 0; i < 15; ++i) image.pixels.push_back(uint8_t(i * 17));
  const std::map<std::string, std::string> text = {{"Software", "scorch"}, {"sigma", "σ_min = 0.01"}, {"step", "2000"}};
  write_png_gray(dir.file("a.png"), image, text);
  const std::string bytes = read_file(dir.file("a.png"));
  EXPECT_EQ(bytes.substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_THAT(bytes, AllOf(HasSubstr("tEXtSoftware"), HasSubstr("iTXtsigma")));
  const GrayPng png = read_png_gray(dir.file("a.png"));
  EXPECT_EQ(png.image.width, 5);
  EXPECT_EQ(png.image.height, 3);
  EXPECT_EQ(png.image.pixels, image.pixels);
  EXPECT_EQ(png.text, text);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"a.png"});  // written atomically: no temporary left
}

// 5 images [2, 3] in 3 columns, padding 1, scale 2: cells of 7 x 5 pixels, a 22 x 11 grid.
TEST(ImageGrid, LayoutPaddingAndClamping) {
  std::vector<double> v(5 * 2 * 3, 0.25);
  v[4 * 6 + 1 * 3 + 2] = 0.5;  // image 4, row 1, column 2
  v[0] = -0.5, v[1] = 2.0, v[2] = NAN;
  const GrayImage grid = image_grid(from_vector(v, {5, 1, 2, 3}), /*columns=*/3, /*padding=*/1, /*scale=*/2);
  ASSERT_EQ(grid.width, 22);
  ASSERT_EQ(grid.height, 11);
  const auto at = [&](int x, int y) { return int(grid.pixels[y * grid.width + x]); };
  EXPECT_EQ(at(0, 0), kGridPadValue);
  EXPECT_EQ(at(7, 3), kGridPadValue);   // between images 0 and 1
  EXPECT_EQ(at(17, 8), kGridPadValue);  // the empty sixth cell
  EXPECT_EQ(at(1, 1), 0);               // -0.5 clamped, scaled 2 x 2
  EXPECT_EQ(at(2, 2), 0);
  EXPECT_EQ(at(3, 1), 255);  // 2.0 clamped
  EXPECT_EQ(at(5, 2), 0);    // NaN
  EXPECT_EQ(at(1, 3), 64);   // round(0.25 * 255)
  // Image 4: row 1, column 1, origin (1 + 7, 1 + 5); its pixel (row 1, column 2) covers x 12-13, y 8-9.
  for (int y : {8, 9})
    for (int x : {12, 13}) EXPECT_EQ(at(x, y), 128) << x << "," << y;
  EXPECT_EQ(at(11, 8), 64);
}

TEST(ImageGrid, FewerImagesThanColumnsMakeOneShortRow) {
  const GrayImage grid = image_grid(zeros({2, 1, 4, 4}, {.dtype = kFloat64}), 8);
  EXPECT_EQ(grid.width, 2 * 6 + 2);
  EXPECT_EQ(grid.height, 6 + 2);
}

TEST(ImageGrid, RejectsBadArguments) {
  EXPECT_THAT(error_of<std::invalid_argument>([] { image_grid(zeros({4, 3, 2, 2}), 2); }), HasSubstr("[4, 3, 2, 2]"));
  EXPECT_THAT(error_of<std::invalid_argument>([] { image_grid(zeros({0, 1, 2, 2}), 2); }), HasSubstr("N, H, W >= 1"));
  EXPECT_THAT(error_of<std::invalid_argument>([] { image_grid(zeros({1, 1, 2, 2}), 0); }), HasSubstr("columns >= 1"));
}

TEST(Png, BadPathKeysAndSizesNameTheFile) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/a.png");
  const std::vector<uint8_t> pixels(6, 0);
  EXPECT_THAT(error_of<std::runtime_error>([&] { write_png_gray(path, pixels, 3, 2); }),
              AllOf(HasSubstr(path), HasSubstr("No such file or directory")));
  const std::string ok = dir.file("a.png");
  for (const std::string& key : {std::string(80, 'k'), std::string(""), std::string(" lead"), std::string("a  b")})
    EXPECT_THAT(error_of<std::invalid_argument>([&] {
                  write_png_gray(ok, pixels, 3, 2, {{key, "v"}});
                }),
                AllOf(HasSubstr(ok), HasSubstr("1 to 79 printable ASCII")))
        << key;
  EXPECT_THAT(error_of<std::invalid_argument>([&] {
                write_png_gray(ok, pixels, 3, 2, {{"k", std::string("a\0b", 3)}});
              }),
              AllOf(HasSubstr(ok), HasSubstr("NUL")));
  EXPECT_THAT(error_of<std::invalid_argument>([&] { write_png_gray(ok, pixels, 4, 2); }),
              AllOf(HasSubstr(ok), HasSubstr("6 pixels for 4 x 2")));
  write_png_gray(ok, pixels, 3, 2, {{std::string(79, 'k'), "longest key"}});
  EXPECT_EQ(read_png_gray(ok).text.at(std::string(79, 'k')), "longest key");
}

TEST(Png, CorruptFilesNameTheFile) {
  TempDir dir;
  write_png_gray(dir.file("a.png"), std::vector<uint8_t>(64 * 64, 7), 64, 64);
  const std::string good = read_file(dir.file("a.png"));
  std::string bad_crc = good;
  bad_crc[29] ^= 1;  // the IHDR chunk's CRC (8 signature + 4 length + 4 type + 13 data)
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"GIF89a, not a PNG", "Not a PNG file"}, {good.substr(0, good.size() / 2), "truncated"}, {bad_crc, "CRC error"}};
  for (const auto& [bytes, message] : cases) {
    write_file_atomic(dir.file("bad.png"), bytes);
    EXPECT_THAT(error_of<std::runtime_error>([&] { read_png_gray(dir.file("bad.png")); }),
                AllOf(HasSubstr(dir.file("bad.png")), HasSubstr("cannot decode PNG"), HasSubstr(message)));
  }
  EXPECT_THAT(error_of<std::runtime_error>([&] { read_png_gray(dir.file("none.png")); }),
              HasSubstr(dir.file("none.png")));
}

}  // namespace
}  // namespace scorch::app
