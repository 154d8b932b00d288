// The gmm app end to end: a --quick run writes every promised file, and bad flags exit with code 2
// and one clear line. Runs the real binary (build/bin/gmm, next to this test binary).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include "app_runner.h"
#include "tensor/npy.h"

namespace {

namespace fs = std::filesystem;

std::string gmm_binary() { return scorch::testing::app_binary("gmm"); }
using scorch::testing::run_command;
using scorch::testing::shell_quote;

TEST(GmmApp, QuickRunWritesEveryFile) {
  if (!fs::exists(gmm_binary())) GTEST_SKIP() << "gmm binary not built";
  const fs::path out = fs::temp_directory_path() / ("scorch_gmm_quick_" + std::to_string(::getpid()));
  const fs::path graph = out / "graph.dot";
  const auto [code, log] = run_command(shell_quote(gmm_binary()) + " --quick --seed 3 --out " + shell_quote(out) +
                                       " --dump-graph " + shell_quote(graph));
  ASSERT_EQ(code, 0) << log;
  for (const char* name :
       {"fig1_samples.png", "fig2_true_score.png", "fig3_learned_score.png", "fig4_langevin_true.png",
        "fig5_langevin_learned.png", "fig6_annealed_learned.png", "loss.png", "true_samples.npy", "langevin_true.npy",
        "langevin_learned.npy", "annealed_learned.npy", "score_true.csv", "score_learned.csv", "loss.csv",
        "model.safetensors", "metrics.json"}) {
    EXPECT_TRUE(fs::exists(out / name)) << name;
    EXPECT_GT(fs::exists(out / name) ? fs::file_size(out / name) : 0, 0u) << name;
  }
  for (const char* name : {"true_samples.npy", "langevin_true.npy", "langevin_learned.npy", "annealed_learned.npy"}) {
    const scorch::Tensor x = scorch::load_npy((out / name).string());
    EXPECT_EQ(x.dtype(), scorch::kFloat32) << name;
    EXPECT_EQ(x.shape(), (scorch::Shape{1000, 2})) << name;
  }
  std::ifstream metrics_file(out / "metrics.json");
  const nlohmann::json m = nlohmann::json::parse(metrics_file);
  for (const char* set : {"langevin_true", "langevin_learned", "annealed_learned", "annealed_true"}) {
    ASSERT_TRUE(m["samples"].contains(set)) << set;
    EXPECT_EQ(m["samples"][set]["mode_fraction"].size(), 2u);
    EXPECT_TRUE(m["samples"][set]["mmd2"].is_number());
  }
  EXPECT_TRUE(m["field"]["relative_error"].is_number());
  EXPECT_TRUE(m["timing"]["total_s"].is_number());
  EXPECT_TRUE(m.contains("mmd2_noise_floor"));
  // --dump-graph: the first step's loss graph, the mlp's parameters under their module paths.
  std::ifstream graph_file(graph);
  const std::string dot((std::istreambuf_iterator<char>(graph_file)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(dot.starts_with("digraph autograd {"));
  for (const char* name : {"net.0.weight\\n[128, 3]", "net.0.bias\\n[128]", "net.4.weight\\n[2, 128]"})
    EXPECT_NE(dot.find(name), std::string::npos) << name;
  fs::remove_all(out);
}

TEST(GmmApp, BadFlagsExitWithCodeTwoAndNameTheFlag) {
  if (!fs::exists(gmm_binary())) GTEST_SKIP() << "gmm binary not built";
  const std::pair<const char*, const char*> cases[] = {{"--lr -1", "--lr"},
                                                       {"--model resnet", "--model"},
                                                       {"--means 5,5", "--means"},
                                                       {"--weights 0.8,x", "--weights"},
                                                       {"--covariances '1,2,2,1;1,0,0,1'", "positive definite"},
                                                       {"--device cuda", "--device"},
                                                       {"--steps 0", "--steps"}};
  for (const auto& [flags, expected] : cases) {
    const auto [code, log] = run_command(shell_quote(gmm_binary()) + " --quick --out /nonexistent/never " + flags);
    EXPECT_EQ(code, 2) << flags << ": " << log;
    EXPECT_NE(log.find(expected), std::string::npos) << flags << ": " << log;
  }
  const auto [help_code, help] = run_command(shell_quote(gmm_binary()) + " --help");
  EXPECT_EQ(help_code, 0);
  EXPECT_NE(help.find("--objective"), std::string::npos);
}

}  // namespace
