// graph_export.h: the autograd graph behind a tensor as Graphviz DOT text, for looking at what a
// loss is made of (render with `dot -Tpng graph.dot -o graph.png`).
//
// One DOT node per recorded op (label: op name and output shape, "conv2d\n[64, 32, 28, 28]"), per
// leaf that requires grad (its module path "down0.conv1.weight" when `names` has it, else
// "leaf\n[shape]") and per constant input, i.e. a tensor without grad (a small grey "const\n[shape]").
// One node "output\n[shape]" for the tensor itself. Edges run the way data flows: from each input to
// the op that consumes it, once per use (mul(a, a) has two edges a -> mul). Leaves and constants are
// told apart by their TensorImpl, so a tensor used by several ops is one node with several out-edges.
//
// The graph is walked with an explicit stack, each node once, so graphs hundreds of thousands of ops
// deep export without overflowing the stack. Export before backward (or backward with retain_graph):
// backward frees each node's inputs, after which only the last op is left to show.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace scorch {

// Names for leaves, as nn::Module::named_parameters() returns them (nn::NamedTensors is this type;
// autograd/ takes the plain vector so that it does not depend on nn/).
using GraphNames = std::vector<std::pair<std::string, Tensor>>;

// The DOT text of the graph that produced `output`.
std::string graph_dot(const Tensor& output, const GraphNames& names = {});

// Writes graph_dot(output, names) to `path` atomically (tensor/file_io.h); throws naming the path.
void dump_graph(const Tensor& output, const std::string& path, const GraphNames& names = {});

}  // namespace scorch
