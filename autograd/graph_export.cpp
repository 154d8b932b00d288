#include "autograd/graph_export.h"

#include <sstream>
#include <unordered_map>

#include "autograd/node.h"
#include "tensor/file_io.h"

namespace scorch {

namespace {

// A quoted DOT label of two lines: `head` (quotes and backslashes escaped) over the shape.
std::string label(const std::string& head, const Shape& shape) {
  std::string out = "\"";
  for (const char c : head) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\\n" + to_string(shape) + "\"";
}

class DotWriter {
 public:
  explicit DotWriter(const GraphNames& names) {
    for (const auto& [name, t] : names)
      if (t.defined()) names_.emplace(t.impl(), name);
  }

  std::string run(const Tensor& output) {
    nodes_ << "  out [label=" << label("output", output.shape())
           << ", shape=box, style=\"rounded,filled\", fillcolor=\"#c7e9c0\"];\n";
    edges_ << "  n" << id_of(output) << " -> out;\n";
    // Each op node is pushed when first seen (id_of), so it is expanded exactly once.
    while (!stack_.empty()) {
      const Node* node = stack_.back();
      stack_.pop_back();
      const int64_t id = node_ids_.at(node);
      for (const Tensor& in : node->inputs()) edges_ << "  n" << id_of(in) << " -> n" << id << ";\n";
    }
    return "digraph autograd {\n  node [fontname=\"Helvetica\", fontsize=10];\n" + nodes_.str() + edges_.str() + "}\n";
  }

 private:
  // The DOT id ("n" and this number) of the node that stands for t: its op, or the leaf or constant
  // itself. Declared on first sight.
  int64_t id_of(const Tensor& t) {
    if (const Node* node = t.grad_fn().get()) {
      const auto [it, fresh] = node_ids_.emplace(node, next_id_);
      if (fresh) {
        nodes_ << "  n" << next_id_++ << " [label=" << label(std::string(node->name()), t.shape()) << ", shape=box];\n";
        stack_.push_back(node);
      }
      return it->second;
    }
    const auto [it, fresh] = leaf_ids_.emplace(t.impl(), next_id_);
    if (!fresh) return it->second;
    nodes_ << "  n" << next_id_++ << " [label=";
    if (t.requires_grad()) {
      const auto name = names_.find(t.impl());
      nodes_ << (name != names_.end() ? label(name->second, t.shape()) : label("leaf", t.shape()))
             << ", shape=ellipse, style=filled, fillcolor=\"#c6dbef\"];\n";
    } else {
      nodes_ << label("const", t.shape())
             << ", shape=box, style=filled, fillcolor=\"#e0e0e0\", color=\"#909090\", fontsize=7, height=0.2];\n";
    }
    return it->second;
  }

  std::unordered_map<const TensorImpl*, std::string> names_;
  std::unordered_map<const Node*, int64_t> node_ids_;
  std::unordered_map<const TensorImpl*, int64_t> leaf_ids_;
  std::vector<const Node*> stack_;
  std::ostringstream nodes_, edges_;
  int64_t next_id_ = 0;
};

}  // namespace

std::string graph_dot(const Tensor& output, const GraphNames& names) {
  if (!output.defined()) throw std::invalid_argument("graph_dot: the output tensor is undefined");
  return DotWriter(names).run(output);
}

void dump_graph(const Tensor& output, const std::string& path, const GraphNames& names) {
  write_file_atomic(path, graph_dot(output, names));
}

}  // namespace scorch
