// Bad input to the apps, end to end. Every case of kCases runs the real binary (build/bin/gmm or
// build/bin/mnist, next to this test binary) in a scratch folder that holds the files the cases name
// (make_scratch), and must
//   - exit with the case's code: 2 for a bad flag value or combination (found before any work), 1 for a
//     runtime problem (missing or damaged files, a checkpoint of another model, NaN weights);
//   - print exactly one line on stderr, "<app>: <message>", with the case's substring in it, and nothing
//     on stdout: no usage dump, no "terminate called", no signal (a signal or a timeout fails the code).
// docs/errors.md holds this table with the lines the apps printed; the DocsTableIsUpToDate test fails
// when it differs. Rewrite it with
//   SCORCH_WRITE_ERRORS_MD=1 build/bin/scorch_tests --gtest_filter='BadInputTest.*'
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>

#include "app_runner.h"
#include "nn/safetensors.h"
#include "nn/score_models.h"
#include "synthetic_digits.h"
#include "tensor/file_io.h"
#include "tensor/idx.h"

namespace {

namespace fs = std::filesystem;
using scorch::testing::write_digits;

struct BadInput {
  const char* what;    // the case, as docs/errors.md lists it
  const char* app;     // gmm or mnist
  const char* args;    // shell words, run in the scratch folder
  int code;            // expected exit code
  const char* expect;  // a substring of the message
};

// mnist sampling from the scratch folder's tiny checkpoint, short.
#define SAMPLE "--inference_only --weights w/best.safetensors --n-samples 1 "
// mnist training on the scratch folder's valid digits, past the flag checks.
#define TRAIN "--data-dir digits --batch 8 --steps 1 --width 8 "

const BadInput kCases[] = {
    // gmm: every flag, malformed and out of range.
    {"empty output folder", "gmm", "--out ''", 2, "--out: must not be empty"},
    {"output folder is a file", "gmm", "--out a_file", 1, "--out a_file: cannot create the folder"},
    {"seed not a number", "gmm", "--seed abc", 2, "--seed: must be an integer"},
    {"negative seed", "gmm", "--seed -1", 2, "got '-1'"},
    {"seed past 2^64", "gmm", "--seed 99999999999999999999", 2, "--seed"},
    {"mixture weight not a number", "gmm", "--weights 0.8,x", 2, "--weights: 'x' is not a number"},
    {"NaN mixture weight", "gmm", "--weights nan,0.2", 2, "--weights: 'nan' is not a number"},
    {"negative mixture weight", "gmm", "--weights -1,2", 2, "weights must be positive"},
    {"one mean for two weights", "gmm", "--means 5,5", 2, "need 2 components"},
    {"NaN mean", "gmm", "--means 'nan,5;-5,-5'", 2, "--means: 'nan' is not a number"},
    {"3-d means", "gmm", "--means '5,5,5;-5,-5,-5'", 2, "the gmm app is 2-D"},
    {"covariance not positive definite", "gmm", "--covariances '1,2,2,1;1,0,0,1'", 2, "positive definite"},
    {"infinite covariance", "gmm", "--covariances 'inf,0,0,1;1,0,0,1'", 2, "--covariances: 'inf' is not a number"},
    {"unknown model", "gmm", "--model resnet", 2, "--model: resnet not in {mlp,mlp-uncond}"},
    {"empty model", "gmm", "--model ''", 2, "--model"},
    {"unknown objective", "gmm", "--objective esm", 2, "--objective"},
    {"empty objective", "gmm", "--objective ''", 2, "--objective"},
    {"steps not a number", "gmm", "--steps abc", 2, "--steps: must be an integer in [1, 100000000], got 'abc'"},
    {"zero steps", "gmm", "--steps 0", 2, "--steps"},
    {"steps in exponent notation", "gmm", "--steps 1e3", 2, "got '1e3'"},
    {"zero batch", "gmm", "--batch 0", 2, "--batch: must be an integer in [1, 100000]"},
    {"huge batch", "gmm", "--batch 10000000", 2, "--batch"},
    {"negative learning rate", "gmm", "--lr -1", 2, "--lr: must be a finite number > 0, got '-1'"},
    {"NaN learning rate", "gmm", "--lr nan", 2, "got 'nan'"},
    {"infinite learning rate", "gmm", "--lr inf", 2, "got 'inf'"},
    {"empty learning rate", "gmm", "--lr ''", 2, "got ''"},
    {"unknown lr schedule", "gmm", "--lr-schedule linear", 2, "--lr-schedule"},
    {"EMA decay above 1", "gmm", "--ema 1.5", 2, "--ema: must be a number in [0.5, 1]"},
    {"NaN EMA decay", "gmm", "--ema nan", 2, "--ema"},
    {"zero sigma-max", "gmm", "--sigma-max 0", 2, "--sigma-max: must be a number in [1e-10, 1e+10]"},
    {"huge sigma-max", "gmm", "--sigma-max 1e300", 2, "got '1e300'"},
    {"sigma-min not a number", "gmm", "--sigma-min abc", 2, "--sigma-min"},
    {"sigma-min above sigma-max", "gmm", "--sigma-min 20", 2, "--sigma-min: must be below --sigma-max"},
    {"one noise level", "gmm", "--levels 1", 2, "--levels: must be an integer in [2, 100000]"},
    {"levels not a number", "gmm", "--levels x", 2, "--levels"},
    {"negative dsm sigma", "gmm", "--dsm-sigma -0.1", 2, "--dsm-sigma"},
    {"infinite dsm sigma", "gmm", "--dsm-sigma inf", 2, "--dsm-sigma"},
    {"unknown sampler", "gmm", "--sampler ald", 2, "--sampler"},
    {"one particle", "gmm", "--n-samples 1", 2, "--n-samples: must be an integer in [2, 1000000]"},
    {"huge particle count", "gmm", "--n-samples 100000000", 2, "--n-samples"},
    {"zero Langevin step", "gmm", "--step-size 0", 2, "--step-size"},
    {"NaN Langevin step", "gmm", "--step-size nan", 2, "--step-size"},
    {"negative Langevin steps", "gmm", "--n-steps -1", 2, "--n-steps"},
    {"fractional Langevin steps", "gmm", "--n-steps 2.5", 2, "--n-steps"},
    {"negative steps per level", "gmm", "--steps-per-level -5", 2, "--steps-per-level"},
    {"zero step_lr", "gmm", "--step-lr 0", 2, "--step-lr"},
    {"step_lr not a number", "gmm", "--step-lr abc", 2, "--step-lr"},
    {"steps per level not a number", "gmm", "--steps-per-level x", 2, "--steps-per-level"},
    {"negative field sigma", "gmm", "--field-sigma -5", 2, "--field-sigma: must be -1 (the model's default), 0"},
    {"NaN field sigma", "gmm", "--field-sigma nan", 2, "--field-sigma"},
    {"field sigma not a number", "gmm", "--field-sigma abc", 2, "--field-sigma"},
    {"unknown device", "gmm", "--device gpu", 2, "--device: must be cpu, cuda or cuda:N, got 'gpu'"},
    {"device index past the limit", "gmm", "--device cuda:128", 2, "--device: must be cpu, cuda or cuda:N"},
    {"empty device", "gmm", "--device ''", 2, "--device"},
    {"negative threads", "gmm", "--threads -1", 2, "--threads: must be an integer in [0, 4096]"},
    {"threads not a number", "gmm", "--threads many", 2, "--threads"},
    {"profile into a folder", "gmm", "--profile digits", 2, "--profile: 'digits' is a folder, not a file"},
    {"profile under a file", "gmm", "--profile a_file/trace.json", 1, "cannot create its folder a_file"},
    {"profile name too long for its temporary file", "gmm", "--profile $(printf %0250d 0)", 2,
     "--profile: the file name is 250 bytes; it must be at most 219"},
    {"graph into a folder", "gmm", "--dump-graph .", 2, "--dump-graph: '.' is a folder"},
    {"graph under a file", "gmm", "--dump-graph a_file/g.dot", 1,
     "--dump-graph a_file/g.dot: cannot create its folder"},
    {"value for a switch", "gmm", "--quick=abc", 2, "--quick"},
    {"unknown flag", "gmm", "--bogus", 2, "not expected: --bogus"},
    {"stray argument", "gmm", "extra", 2, "not expected: extra"},
    {"flag without its value", "gmm", "--out", 2, "--out"},

    // mnist: the settings (training and sampling flags are checked together, before any work).
    {"missing config file", "mnist", "--config missing.toml", 2, "--config missing.toml: cannot read it: No such file"},
    {"config with an unknown key", "mnist", "--config extra.toml", 2,
     "--config extra.toml, line 2: unknown key 'bogus'"},
    {"config that is not TOML", "mnist", "--config notes.txt", 2, "--config notes.txt, line 1: not TOML"},
    {"config of 2 MiB", "mnist", "--config big.toml", 2,
     "--config big.toml: 2097152 bytes; a config file is at most 1 MiB"},
    {"config with binary bytes", "mnist", "--config binary.toml", 2, "--config binary.toml, line 2: not TOML"},
    {"config with a bad value", "mnist", "--config bad_value.toml", 2,
     "--config bad_value.toml, line 1: --lr: must be"},
    {"config with an unclosed string", "mnist", "--config unclosed.toml", 2,
     "--config unclosed.toml, line 2: key 'samples-dir': the string is not closed"},
    {"config setting a key twice", "mnist", "--config twice.toml", 2,
     "--config twice.toml, line 3: key 'lr': set a second time"},
    {"config with two names of one flag", "mnist", "--config aliases.toml", 2,
     "line 2: key 'inference-only' sets --inference_only again (line 1 set it)"},
    {"config with an array for a number", "mnist", "--config array.toml", 2, "line 1: key 'lr' holds an array"},
    {"config with a table for a string", "mnist", "--config table.toml", 2, "line 1: key 'model' holds a table"},
    {"config setting a command-line flag", "mnist", "--config profile.toml", 2,
     "line 1: key 'profile': --profile is a flag of the command line only"},
    {"config is /dev/zero", "mnist", "--config /dev/zero", 2,
     "--config /dev/zero: not a regular file (a character device)"},
    {"config is a FIFO", "mnist", "--config fifo.toml", 2, "--config fifo.toml: not a regular file (a FIFO)"},
    {"config is a folder", "mnist", "--config digits", 2, "--config digits: not a regular file (a folder)"},
    {"empty config name", "mnist", "--config ''", 2, "--config: must not be empty"},
    {"run's config.toml is a folder", "mnist", TRAIN "--weights-dir config_is_a_folder --resume", 2,
     "config_is_a_folder/config.toml: not a regular file (a folder)"},
    {"unknown dataset", "mnist", "--dataset kmnist", 2, "--dataset"},
    {"empty dataset", "mnist", "--dataset ''", 2, "--dataset"},
    {"validation share too large", "mnist", "--val-fraction 0.9", 2,
     "--val-fraction: must be a number in [0.001, 0.5]"},
    {"NaN validation share", "mnist", "--val-fraction nan", 2, "--val-fraction"},
    {"unknown model", "mnist", "--model resnet", 2, "--model"},
    {"width not a multiple of 8", "mnist", "--width 12", 2, "--width: unet-small's width must be a multiple of 8"},
    {"huge width", "mnist", "--width 1024", 2, "--width: must be an integer in [0, 256]"},
    {"negative width", "mnist", "--width -8", 2, "--width"},
    {"width not a number", "mnist", "--width x", 2, "--width"},
    {"refinenet too narrow", "mnist", "--model refinenet --width 1", 2, "refinenet's ngf must be at least 2"},
    {"NaN sigma-max", "mnist", "--sigma-max nan", 2, "--sigma-max"},
    {"huge sigma-max", "mnist", "--sigma-max 1e300", 2, "--sigma-max"},
    {"sigma-min above sigma-max", "mnist", "--sigma-min 2", 2, "--sigma-min: must be below --sigma-max"},
    {"one noise level", "mnist", "--levels 1", 2, "--levels"},
    {"huge level count", "mnist", "--levels 100000", 2, "--levels: must be an integer in [2, 10000]"},
    {"zero sigma-min", "mnist", "--sigma-min 0", 2, "--sigma-min"},
    {"unknown noise mode", "mnist", "--noise gaussian", 2, "--noise"},
    {"empty noise mode", "mnist", "--noise ''", 2, "--noise"},
    {"refinenet with log-uniform noise", "mnist", "--model refinenet --noise log-uniform", 2, "--noise: refinenet"},
    {"zero batch", "mnist", "--batch 0", 2, "--batch: must be an integer in [1, 4096]"},
    {"huge batch", "mnist", "--batch 100000", 2, "--batch"},
    {"batch not a number", "mnist", "--batch x", 2, "--batch"},
    {"zero learning rate", "mnist", "--lr 0", 2, "--lr"},
    {"learning rate not a number", "mnist", "--lr abc", 2, "--lr"},
    {"NaN learning rate", "mnist", "--lr nan", 2, "--lr"},
    {"zero steps", "mnist", "--steps 0", 2, "--steps"},
    {"fractional steps", "mnist", "--steps 1.5", 2, "--steps"},
    {"negative epochs", "mnist", "--epochs -1", 2, "--epochs"},
    {"epochs not a number", "mnist", "--epochs x", 2, "--epochs"},
    {"EMA decay above 1", "mnist", "--ema 1.5", 2, "--ema"},
    {"NaN EMA decay", "mnist", "--ema nan", 2, "--ema"},
    {"EMA warm-up not a boolean", "mnist", "--ema-warmup maybe", 2, "--ema-warmup"},
    {"negative clipping norm", "mnist", "--clip -1", 2, "--clip"},
    {"NaN clipping norm", "mnist", "--clip nan", 2, "--clip"},
    {"negative patience", "mnist", "--patience -1", 2, "--patience"},
    {"fractional patience", "mnist", "--patience 2.5", 2, "--patience"},
    {"NaN min-delta", "mnist", "--min-delta nan", 2, "--min-delta"},
    {"negative min-delta", "mnist", "--min-delta -1", 2, "--min-delta"},
    {"zero validation interval", "mnist", "--val-interval 0", 2, "--val-interval"},
    {"validation interval in exponent notation", "mnist", "--val-interval 1e3", 2, "--val-interval"},
    {"negative seed", "mnist", "--seed -1", 2, "--seed"},
    {"empty seed", "mnist", "--seed ''", 2, "--seed"},
    {"unknown device", "mnist", "--device cuda0", 2, "--device: must be cpu, cuda or cuda:N, got 'cuda0'"},
    {"negative threads", "mnist", "--threads -1", 2, "--threads"},
    {"too many threads", "mnist", "--threads 5000", 2, "--threads"},
    {"threads not a number", "mnist", "--threads x", 2, "--threads"},
    {"empty weights folder", "mnist", "--weights-dir ''", 2, "--weights-dir: must not be empty"},
    {"value for a switch", "mnist", "--resume=maybe", 2, "--resume"},
    {"--overwrite with --resume", "mnist", "--overwrite --resume", 2,
     "--overwrite: starts a new training run; it does not go with --resume"},
    {"unknown sampler", "mnist", "--sampler magic", 2, "--sampler"},
    {"zero images", "mnist", "--n-samples 0", 2, "--n-samples"},
    {"fractional image count", "mnist", "--n-samples 2.5", 2, "--n-samples"},
    {"huge image count", "mnist", "--n-samples 10000000", 2, "--n-samples: must be an integer in [1, 100000]"},
    {"zero Langevin steps per level", "mnist", "--steps-per-level 0", 2, "--steps-per-level"},
    {"steps per level not a number", "mnist", "--steps-per-level x", 2, "--steps-per-level"},
    {"zero step_lr", "mnist", "--step-lr 0", 2, "--step-lr"},
    {"infinite step_lr", "mnist", "--step-lr inf", 2, "--step-lr"},
    {"denoise not a boolean", "mnist", "--denoise maybe", 2, "--denoise"},
    {"unknown ODE solver", "mnist", "--ode-solver rk4", 2, "--ode-solver"},
    {"one sampling level", "mnist", "--sample-steps 1", 2, "--sample-steps: must be 0"},
    {"negative sampling levels", "mnist", "--sample-steps -1", 2, "--sample-steps"},
    {"sampling levels not a number", "mnist", "--sample-steps x", 2, "--sample-steps"},
    {"NaN rtol", "mnist", "--rtol nan", 2, "--rtol"},
    {"zero rtol", "mnist", "--rtol 0", 2, "--rtol"},
    {"negative atol", "mnist", "--atol -1", 2, "--atol"},
    {"NaN atol", "mnist", "--atol nan", 2, "--atol"},
    {"unknown predictor", "mnist", "--predictor euler", 2, "--predictor"},
    {"too many corrector steps", "mnist", "--corrector-steps 1001", 2, "--corrector-steps"},
    {"corrector steps not a number", "mnist", "--corrector-steps x", 2, "--corrector-steps"},
    {"zero snr", "mnist", "--snr 0", 2, "--snr"},
    {"NaN snr", "mnist", "--snr nan", 2, "--snr"},
    {"negative warm start", "mnist", "--warm-start -1", 2, "--warm-start"},
    {"warm start not a number", "mnist", "--warm-start x", 2, "--warm-start"},
    {"zero rho", "mnist", "--rho 0", 2, "--rho"},
    {"infinite rho", "mnist", "--rho inf", 2, "--rho"},
    {"negative rho", "mnist", "--rho -1", 2, "--rho"},
    {"profile into a folder", "mnist", "--profile digits", 2, "--profile"},
    {"profile name too long for its temporary file", "mnist", "--profile $(printf %0250d 0)", 2,
     "--profile: the file name is 250 bytes; it must be at most 219 (NAME_MAX 255 less 36"},
    {"graph name too long, in a new folder", "mnist", "--dump-graph new/$(printf %0230d 0).dot", 2,
     "--dump-graph: the file name is 234 bytes"},
    {"sampling and resuming", "mnist", "--inference_only --resume", 2, "--resume: continues training"},
    {"graph of a sampling run", "mnist", "--inference_only --dump-graph g.dot", 2, "--dump-graph: applies to training"},
    {"unknown flag", "mnist", "--bogus 3", 2, "not expected"},
    {"flag without its value", "mnist", "--lr", 2, "--lr"},

    // mnist training: the data and the folders.
    {"missing data folder (default data/mnist)", "mnist", "", 1, "data/mnist/train-images-idx3-ubyte.gz: not found"},
    {"missing data folder", "mnist", "--data-dir nowhere", 1, "nowhere/train-images-idx3-ubyte.gz: not found"},
    {"empty data folder (the default)", "mnist", "--data-dir ''", 1,
     "data/mnist/train-images-idx3-ubyte.gz: not found"},
    {"data folder is a file", "mnist", "--data-dir a_file", 1, "a_file/train-images-idx3-ubyte.gz: not found"},
    {"images not 28 x 28", "mnist", "--data-dir digits30", 1, "images are 30 x 30"},
    {"label outside 0..9", "mnist", "--data-dir labels13", 1, "is outside 0..9"},
    {"corrupt gzip", "mnist", "--data-dir corrupt_gz", 1, "corrupt gzip stream"},
    {"truncated IDX", "mnist", "--data-dir truncated_idx", 1, "truncated"},
    {"float IDX holding NaN", "mnist", "--data-dir float_idx", 1, "IDX type byte"},
    {"images and labels disagree", "mnist", "--data-dir mismatch", 1, "do not match"},
    {"batch larger than the data", "mnist", "--data-dir digits", 1, "--batch 64 is larger than the training split"},
    {"weights folder is a file", "mnist", "--weights-dir a_file", 1, "--weights-dir a_file: cannot create"},
    {"new run over a saved one", "mnist", TRAIN "--weights-dir w", 1, "w/last.safetensors exists: continue that run"},
    {"resume without a checkpoint", "mnist", TRAIN "--weights-dir fresh --resume", 1, "no checkpoint to resume from"},
    {"resume from a gmm model", "mnist", TRAIN "--weights-dir resume_gmm --resume", 1, "not an mnist checkpoint"},
    {"profile under a file", "mnist", "--profile a_file/t.json", 1, "cannot create its folder a_file"},

    // mnist sampling: the checkpoint.
    {"no checkpoint (default model_weights/)", "mnist", "--inference_only", 1, "best.safetensors: no such checkpoint"},
    {"missing checkpoint", "mnist", "--inference_only --weights missing.safetensors", 1, "no such checkpoint"},
    {"empty checkpoint path (the default)", "mnist", "--inference_only --weights ''", 1,
     "model_weights/best.safetensors: no such checkpoint"},
    {"empty checkpoint", "mnist", "--inference_only --weights empty.safetensors", 1, "empty.safetensors: truncated"},
    {"truncated checkpoint", "mnist", "--inference_only --weights truncated.safetensors", 1, "truncated.safetensors"},
    {"text file as checkpoint", "mnist", "--inference_only --weights notes.txt", 1, "notes.txt"},
    {"folder as checkpoint", "mnist", "--inference_only --weights digits", 1, "digits"},
    {"gmm model as checkpoint", "mnist", "--inference_only --weights gmm.safetensors", 1, "not an mnist checkpoint"},
    {"checkpoint of another width", "mnist", "--inference_only --weights width16.safetensors", 1,
     "not those of the model its settings name (unet-small, width 16)"},
    {"checkpoint of another model", "mnist", "--inference_only --weights refinenet.safetensors", 1,
     "(refinenet, width 8)"},
    {"checkpoint with broken settings", "mnist", "--inference_only --weights bad_config.safetensors", 1, "(config)"},
    {"NaN weights", "mnist", "--inference_only --weights nan.safetensors", 1, "holds 8 NaN or infinite values"},
    {"infinite weights", "mnist", "--inference_only --weights inf.safetensors", 1, "NaN or infinite"},
    {"samples folder empty", "mnist", SAMPLE "--samples-dir ''", 2, "--samples-dir: must not be empty"},
    {"samples folder is a file", "mnist", SAMPLE "--samples-dir a_file", 1, "--samples-dir a_file: cannot create"},
};

void write_text(const fs::path& path, const std::string& text) { scorch::write_file_atomic(path.string(), text); }

// A copy of checkpoint `from` with tensor `name` set to `value` everywhere, or with its settings edited.
void write_edited(const fs::path& from, const fs::path& to, const std::string& name, double value,
                  const std::string& old_setting = "", const std::string& new_setting = "") {
  scorch::nn::SafetensorsFile f = scorch::nn::load_safetensors(from.string());
  if (!name.empty()) f.tensors[name] = scorch::full(f.tensors.at(name).shape(), value);
  std::string& config = f.metadata.at("config");
  if (!old_setting.empty()) config.replace(config.find(old_setting), old_setting.size(), new_setting);
  scorch::nn::save_safetensors(to.string(), f.tensors, f.metadata);
}

// The files the cases name.
void make_scratch(const fs::path& dir) {
  write_digits(dir / "digits", 40);
  write_digits(dir / "digits30", 40, 30);
  write_digits(dir / "labels13", 40, 28, 13);
  write_digits(dir / "mismatch", 40);
  write_digits(dir / "mismatch_labels", 30);
  fs::copy_file(dir / "mismatch_labels" / "train-labels-idx1-ubyte.gz", dir / "mismatch" / "train-labels-idx1-ubyte.gz",
                fs::copy_options::overwrite_existing);
  write_digits(dir / "truncated_idx", 40);
  scorch::write_idx((dir / "truncated_idx" / "train-images-idx3-ubyte.gz").string(),  // plain: no zlib in the message
                    scorch::zeros({40, 28, 28}, {.dtype = scorch::kUInt8}), /*gzip=*/false);
  write_digits(dir / "float_idx", 2);
  write_digits(dir / "corrupt_gz", 2);
  write_text(dir / "corrupt_gz" / "train-images-idx3-ubyte.gz", std::string("\x1f\x8b", 2) + " not gzip after all");
  const std::string images = scorch::read_file((dir / "truncated_idx" / "train-images-idx3-ubyte.gz").string());
  write_text(dir / "truncated_idx" / "train-images-idx3-ubyte.gz", images.substr(0, images.size() / 2));
  // Plain IDX of type 0x0D (float32), [2, 28, 28], every value NaN: MNIST files are bytes.
  std::string floats = {0, 0, 0x0d, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int i = 0; i < 2 * 28 * 28; ++i) floats.append(reinterpret_cast<const char*>(&nan), sizeof nan);
  write_text(dir / "float_idx" / "train-images-idx3-ubyte.gz", floats);

  write_text(dir / "a_file", "a file where a folder should be\n");
  write_text(dir / "notes.txt", "just some notes\n");
  write_text(dir / "extra.toml", "lr = 0.001\nbogus = 3\n");
  write_text(dir / "bad_value.toml", "lr = -1\n");
  write_text(dir / "unclosed.toml", "lr = 0.001\nsamples-dir = \"a#b\n");
  write_text(dir / "big.toml", std::string(2 << 20, '#'));
  constexpr char kBinary[] = "lr = 0.001\n\x01\x00\xff\x1b[31m = 2\n";  // NUL, not UTF-8, a terminal escape
  write_text(dir / "binary.toml", std::string(kBinary, sizeof kBinary - 1));
  write_text(dir / "twice.toml", "lr = 0.001\nsteps = 3\nlr = 0.002\n");
  write_text(dir / "aliases.toml", "inference_only = true\ninference-only = false\n");
  write_text(dir / "array.toml", "lr = [0.001, 0.002]\n");
  write_text(dir / "table.toml", "[model]\nname = \"unet-small\"\n");
  write_text(dir / "profile.toml", "profile = \"trace.json\"\n");
  ASSERT_EQ(::mkfifo((dir / "fifo.toml").c_str(), 0644), 0);  // read, it would block: refused unopened
  fs::create_directories(dir / "config_is_a_folder" / "config.toml");
  write_text(dir / "empty.safetensors", "");

  // A one-step unet-small of width 8, and checkpoints derived from it.
  const auto [code, log] =
      scorch::testing::run_command("cd '" + dir.string() + "' && " + scorch::testing::app_binary("mnist") +
                                   " --data-dir digits --weights-dir w --width 8 --batch 8 --steps 1 --threads 1");
  ASSERT_EQ(code, 0) << log;
  const fs::path best = dir / "w" / "best.safetensors";
  const std::string bytes = scorch::read_file(best.string());
  write_text(dir / "truncated.safetensors", bytes.substr(0, bytes.size() / 2));
  write_edited(best, dir / "nan.safetensors", "ema.conv_in.bias", NAN);
  write_edited(best, dir / "inf.safetensors", "ema.conv_out.weight", INFINITY);
  write_edited(best, dir / "width16.safetensors", "", 0, "width=8", "width=16");
  write_edited(best, dir / "refinenet.safetensors", "", 0, "model=\"unet-small\"", "model=\"refinenet\"");
  write_edited(best, dir / "bad_config.safetensors", "", 0, "\nlr=", "\nlearning_rate=");
  // What the gmm app writes: the mlp's weights, with no mnist metadata.
  scorch::Generator gen(0);
  scorch::nn::save_module((dir / "gmm.safetensors").string(), *scorch::nn::make_score_model("mlp", gen),
                          {{"model", "mlp"}});
  fs::create_directories(dir / "resume_gmm");
  fs::copy_file(dir / "gmm.safetensors", dir / "resume_gmm" / "last.safetensors");
}

struct Outcome {
  int code;
  std::string out, err;
};

// Runs `app args` in `dir` with stdout and stderr apart; a run past 60 s is killed (exit code 124).
Outcome run_in(const fs::path& dir, const std::string& app, const std::string& args) {
  const fs::path err = dir / "stderr.txt";
  const auto [code, out] =
      scorch::testing::run_command_stdout("cd '" + dir.string() + "' && timeout 60 " +
                                          scorch::testing::app_binary(app) + " " + args + " 2>'" + err.string() + "'");
  return {code, out, scorch::read_file(err.string())};
}

// The markdown table of docs/errors.md: one row per case with the line the app printed.
std::string markdown_row(size_t i, const BadInput& c, const Outcome& o) {
  auto cell = [](std::string s) {
    for (size_t at = s.find('|'); at != std::string::npos; at = s.find('|', at + 2)) s.replace(at, 1, "\\|");
    return s;
  };
  std::string line = o.err.substr(0, o.err.find('\n'));
  std::ostringstream row;
  row << "| " << i + 1 << " | " << c.what << " | `" << cell(std::string(c.app) + (*c.args ? " " : "") + c.args)
      << "` | " << o.code << " | `" << cell(line) << "` |\n";
  return row.str();
}

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = fs::temp_directory_path() / ("scorch_bad_input_" + std::to_string(::getpid()));
    fs::remove_all(scratch_);
    fs::create_directories(scratch_);
    make_scratch(scratch_);
  }
  static void TearDownTestSuite() { fs::remove_all(scratch_); }
  void SetUp() override {
    for (const char* app : {"gmm", "mnist"})
      if (!fs::exists(scorch::testing::app_binary(app))) GTEST_SKIP() << app << " binary not built";
  }

  // Every case's outcome and the table (run once per process).
  static const std::vector<Outcome>& outcomes() {
    static const std::vector<Outcome> all = [] {
      std::vector<Outcome> v;
      for (const BadInput& c : kCases) v.push_back(run_in(scratch_, c.app, c.args));
      return v;
    }();
    return all;
  }
  static std::string table() {
    std::string t = "| # | case | command | exit | stderr (one line) |\n|---:|---|---|---:|---|\n";
    for (size_t i = 0; i < std::size(kCases); ++i) t += markdown_row(i, kCases[i], outcomes()[i]);
    return t;
  }

  static inline fs::path scratch_;
};

TEST_F(BadInputTest, EveryCaseExitsWithItsCodeAndOneLine) {
  ASSERT_FALSE(HasFatalFailure());
  for (size_t i = 0; i < std::size(kCases); ++i) {
    const BadInput& c = kCases[i];
    const Outcome& o = outcomes()[i];
    SCOPED_TRACE(std::string(c.app) + " " + c.args + "  (" + c.what + ")");
    EXPECT_EQ(o.code, c.code) << o.err;
    EXPECT_EQ(o.out, "");
    const std::string prefix = std::string(c.app) + ": ";
    EXPECT_TRUE(o.err.starts_with(prefix) && o.err.ends_with("\n") && o.err.find('\n') == o.err.size() - 1)
        << "stderr must be one line starting with '" << prefix << "':\n"
        << o.err;
    EXPECT_NE(o.err.find(c.expect), std::string::npos) << "expected '" << c.expect << "' in: " << o.err;
  }
}

// A device that is not here: the message depends on the build and the machine (no backend, no device,
// or not that many devices), so it is checked here rather than in the documented table.
TEST_F(BadInputTest, AMissingCudaDeviceIsAUsageError) {
  for (const char* app : {"gmm", "mnist"}) {
    const Outcome o = run_in(scratch_, app, "--device cuda:99");
    EXPECT_EQ(o.code, 2) << o.err;
    EXPECT_TRUE(o.err.starts_with(std::string(app) + ": --device cuda:99: ")) << o.err;
    const bool known = o.err.find("this build has no CUDA backend") != std::string::npos ||
                       o.err.find("no CUDA device") != std::string::npos ||
                       o.err.find("cuda:99 does not exist") != std::string::npos;
    EXPECT_TRUE(known) << o.err;
  }
}

TEST_F(BadInputTest, DocsTableIsUpToDate) {
  const fs::path doc = fs::path(SCORCH_SOURCE_DIR) / "docs" / "errors.md";
  const std::string begin = "<!-- table: generated by tests/test_bad_input.cpp -->\n", end = "<!-- end of table -->\n";
  std::string text = fs::exists(doc) ? scorch::read_file(doc.string()) : "";
  const size_t from = text.find(begin) + begin.size(), to = text.find(end);
  ASSERT_TRUE(from >= begin.size() && to != std::string::npos && from <= to) << doc << " lacks the table markers";
  const std::string now = table();
  if (std::getenv("SCORCH_WRITE_ERRORS_MD")) {
    scorch::write_file_atomic(doc.string(), text.replace(from, to - from, now));
    return;
  }
  // Report the first row that differs, not the whole table.
  std::istringstream documented(text.substr(from, to - from)), printed(now);
  for (int line = 1; documented || printed; ++line) {
    std::string a, b;
    std::getline(documented, a);
    std::getline(printed, b);
    ASSERT_EQ(a, b) << doc << " is out of date at line " << line << " of its table; rewrite it with "
                    << "SCORCH_WRITE_ERRORS_MD=1 build/bin/scorch_tests --gtest_filter='BadInputTest.*'";
  }
}

}  // namespace
