// graph_export: the DOT text of small known graphs (nodes by label, edges as label pairs), the file
// written, a score model's parameters under their module paths, and a very deep graph.
#include <gmock/gmock.h>

#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "autograd/graph_export.h"
#include "nn/score_models.h"
#include "tensor/file_io.h"
#include "test_util.h"

namespace scorch {
namespace {

using ::testing::UnorderedElementsAre;
using Edge = std::pair<std::string, std::string>;

// The DOT text read back: each node's label (the two label lines joined by a space) and each edge
// as (from label, to label), in the order written.
struct Parsed {
  std::map<std::string, std::string> label;  // DOT id -> label
  std::vector<std::string> labels;
  std::vector<Edge> edges;
};

Parsed parse(const std::string& dot) {
  static const std::regex node_re(R"re(^\s*(\w+) \[label="(.*)\\n(\[[0-9, ]*\])",)re");
  static const std::regex edge_re(R"(^\s*(\w+) -> (\w+);$)");
  Parsed p;
  std::istringstream lines(dot);
  std::vector<std::pair<std::string, std::string>> edge_ids;
  std::smatch m;
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_search(line, m, node_re)) {
      p.label[m[1]] = m[2].str() + " " + m[3].str();
      p.labels.push_back(p.label[m[1]]);
    } else if (std::regex_match(line, m, edge_re)) {
      edge_ids.emplace_back(m[1], m[2]);
    }
  }
  for (const auto& [from, to] : edge_ids) p.edges.emplace_back(p.label.at(from), p.label.at(to));
  return p;
}

Tensor leaf(const Shape& shape, uint64_t seed) {
  return testing::make_input(shape, kFloat64, seed, testing::Layout::contiguous, -1, 1, /*requires_grad=*/true);
}

TEST(GraphExport, SmallGraphHasExactlyItsNodesAndEdges) {
  // y = sum(a * b + a): a feeds mul and add, so it is one node with two out-edges.
  const Tensor a = leaf({2, 3}, 1), b = leaf({2, 3}, 2);
  const Tensor y = sum(mul(a, b) + a);
  const Parsed p = parse(graph_dot(y, {{"a", a}, {"b", b}}));
  EXPECT_THAT(p.labels,
              UnorderedElementsAre("output []", "sum []", "add [2, 3]", "mul [2, 3]", "a [2, 3]", "b [2, 3]"));
  EXPECT_THAT(p.edges, UnorderedElementsAre(Edge{"a [2, 3]", "mul [2, 3]"}, Edge{"b [2, 3]", "mul [2, 3]"},
                                            Edge{"mul [2, 3]", "add [2, 3]"}, Edge{"a [2, 3]", "add [2, 3]"},
                                            Edge{"add [2, 3]", "sum []"}, Edge{"sum []", "output []"}));
}

TEST(GraphExport, UnnamedLeafShowsItsShapeAndConstantsAreGrey) {
  const Tensor a = leaf({3}, 1), b = leaf({3}, 2);
  const Tensor c = from_vector({1, 2, 3}, {.dtype = kFloat64});  // no grad: a constant
  const std::string dot = graph_dot(mul(a, b) * c, {{"a", a}});
  const Parsed p = parse(dot);
  EXPECT_THAT(p.labels, UnorderedElementsAre("output [3]", "mul [3]", "mul [3]", "a [3]", "leaf [3]", "const [3]"));
  EXPECT_NE(dot.find("const\\n[3]\", shape=box, style=filled, fillcolor=\"#e0e0e0\""), std::string::npos) << dot;
  EXPECT_EQ(p.edges.size(), 5u);
}

TEST(GraphExport, OneUseIsOneEdgeAndQuotesAreEscaped) {
  const Tensor a = leaf({2}, 1);
  const std::string dot = graph_dot(mul(a, a), {{"say \"hi\"", a}});
  EXPECT_NE(dot.find(R"(label="say \"hi\"\n[2]")"), std::string::npos) << dot;
  const Parsed p = parse(dot);
  EXPECT_EQ(p.labels.size(), 3u);  // output, mul, a
  EXPECT_EQ(std::count(p.edges.begin(), p.edges.end(), Edge{"say \\\"hi\\\" [2]", "mul [2]"}), 2) << dot;
}

TEST(GraphExport, DumpGraphWritesTheSameText) {
  const Tensor a = leaf({2, 2}, 3);
  const Tensor y = sum(a * a);
  const auto path = std::filesystem::temp_directory_path() / ("scorch_graph_" + std::to_string(::getpid()) + ".dot");
  dump_graph(y, path.string(), {{"a", a}});
  const std::string text = read_file(path.string());
  EXPECT_EQ(text, graph_dot(y, {{"a", a}}));
  EXPECT_TRUE(text.starts_with("digraph autograd {\n")) << text;
  EXPECT_TRUE(text.ends_with("}\n")) << text;
  std::filesystem::remove(path);
  EXPECT_THAT(testing::error_of([&] { dump_graph(y, "/nonexistent/dir/g.dot"); }),
              ::testing::HasSubstr("/nonexistent/dir/g.dot"));
  EXPECT_THAT(testing::error_of([] { graph_dot(Tensor()); }),
              ::testing::HasSubstr("graph_dot: the output tensor is undefined"));
}

TEST(GraphExport, ScoreModelHasOneLeafPerParameterUnderItsModulePath) {
  Generator gen(0);
  const auto model = nn::make_score_model("mlp", gen);
  const Tensor x = randn({8, 2}, gen), sigma = full({8}, 0.5);
  const Tensor s = model->forward(x, sigma);
  const Tensor loss = sum(mul(s, s));
  const nn::NamedTensors params = model->named_parameters();
  const Parsed p = parse(graph_dot(loss, params));
  std::map<std::string, int> count;
  for (const std::string& l : p.labels) ++count[l];
  for (const auto& [name, t] : params) {
    const std::string l = name + " " + to_string(t.shape());
    EXPECT_EQ(count[l], 1) << l;
    EXPECT_EQ(std::count_if(p.edges.begin(), p.edges.end(), [&](const Edge& e) { return e.first == l; }), 1) << l;
  }
  EXPECT_EQ(
      std::count_if(p.labels.begin(), p.labels.end(), [](const std::string& l) { return l.starts_with("leaf "); }), 0);
  EXPECT_EQ(count["output []"], 1);
}

TEST(GraphExport, VeryDeepGraphDoesNotOverflowTheStack) {
  // As Autograd.VeryDeepGraphsDoNotOverflowTheStack: a recursive walk would crash near 400,000 ops.
  const Tensor x = leaf({1}, 1);
  Tensor y = x;
  for (int i = 0; i < 500000; ++i) y = y * 1.0;
  const std::string dot = graph_dot(y, {{"x", x}});  // ~2 million lines: counted, not parsed by regex
  auto occurrences = [&dot](const std::string& what) {
    int64_t n = 0;
    for (size_t at = dot.find(what); at != std::string::npos; at = dot.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(occurrences("[label=\"mul\\n[1]\""), 500000);
  EXPECT_EQ(occurrences("[label=\"x\\n[1]\""), 1);
  EXPECT_EQ(occurrences(" -> "), occurrences("[label=") - 1);  // a tree: every node but the output has one out-edge
}

}  // namespace
}  // namespace scorch
