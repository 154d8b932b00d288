#include "autograd/engine.h"

#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/shape.h"
#include "autograd/profiler.h"

namespace scorch {

namespace {

Tensor accumulate(const Tensor& sum, const Tensor& g) { return sum.defined() ? add(sum, g) : g; }

// One backward pass. `targets` empty: accumulate into leaves' .grad(). Otherwise return the gradient
// of each target, visiting only the nodes from which a target can be reached.
class GraphTask {
 public:
  GraphTask(const TensorList& targets, const GradOptions& options) : targets_(targets), options_(options) {
    for (size_t i = 0; i < targets.size(); ++i) {
      if (!targets[i].requires_grad())
        throw std::invalid_argument("grad: input " + std::to_string(i) + " " + describe(targets[i]) +
                                    " does not require grad");
      if (targets[i].grad_fn())
        node_target_.emplace(targets[i].grad_fn().get(), i);
      else
        leaf_target_.emplace(targets[i].impl(), i);
    }
    results_.resize(targets.size());
  }

  TensorList run(const TensorList& outputs, const TensorList& grad_outputs) {
    std::vector<Node*> roots;
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Tensor& out = outputs[i];
      if (!out.requires_grad())
        throw std::invalid_argument("backward: output " + std::to_string(i) + " " + describe(out) +
                                    " does not require grad and has no grad_fn");
      Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
      if (!g.defined()) {
        if (out.numel() != 1)
          throw std::invalid_argument("backward: a gradient can be implied only for a one-element output, got " +
                                      describe(out) + "; pass grad_outputs");
        g = ones_like(out);
      } else if (g.shape() != out.shape() || g.dtype() != out.dtype()) {
        throw std::invalid_argument("backward: grad_output " + describe(g) + " does not match output " + describe(out));
      }
      if (out.grad_fn()) {
        Node* n = out.grad_fn().get();
        buffer_[n] = accumulate(buffer_[n], g);
        roots.push_back(n);
      } else {
        deliver_to_leaf(out, std::move(g));
      }
    }
    count_dependencies(roots);
    // Ready nodes are held by shared_ptr: releasing a node frees its inputs, which may hold the
    // last reference to the next node.
    std::vector<std::shared_ptr<Node>> ready;
    for (Node* r : roots)
      if (dependencies_[r] == 0 && needed(r)) ready.push_back(r->shared_from_this()), dependencies_[r] = -1;
    while (!ready.empty()) {
      const std::shared_ptr<Node> node = std::move(ready.back());
      ready.pop_back();
      visit(node.get(), ready);
    }
    if (!options_.allow_unused)
      for (size_t i = 0; i < results_.size(); ++i)
        if (!results_[i].defined())
          throw std::invalid_argument("grad: input " + std::to_string(i) + " was not used to compute the outputs");
    return std::move(results_);
  }

 private:
  // Is a target reachable from `root` (always true when accumulating into leaves)? Memoised; an
  // explicit post-order walk, so that graphs hundreds of thousands of ops deep do not overflow the stack.
  bool needed(Node* root) {
    if (targets_.empty()) return true;
    if (auto it = needed_.find(root); it != needed_.end()) return it->second;
    std::vector<std::pair<Node*, bool>> stack{{root, false}};  // (node, its inputs already pushed)
    while (!stack.empty()) {
      auto [node, expanded] = stack.back();
      if (needed_.count(node)) {
        stack.pop_back();
        continue;
      }
      if (!expanded) {
        stack.back().second = true;
        for (const Tensor& in : node->inputs())
          if (in.requires_grad() && in.grad_fn() && !needed_.count(in.grad_fn().get()))
            stack.emplace_back(in.grad_fn().get(), false);
        continue;
      }
      stack.pop_back();
      bool result = node_target_.count(node) > 0;
      for (const Tensor& in : node->inputs())
        if (in.requires_grad() && (in.grad_fn() ? needed_.at(in.grad_fn().get()) : leaf_target_.count(in.impl()) > 0))
          result = true;
      needed_[node] = result;
    }
    return needed_.at(root);
  }

  // Counts, for each needed node, how many edges from needed nodes point at it.
  void count_dependencies(const std::vector<Node*>& roots) {
    std::vector<Node*> stack = roots;
    std::unordered_set<Node*> seen(roots.begin(), roots.end());
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      if (!needed(node)) continue;
      for (const Tensor& in : node->inputs()) {
        Node* next = in.grad_fn().get();
        if (!next || !needed(next)) continue;
        ++dependencies_[next];
        if (seen.insert(next).second) stack.push_back(next);
      }
    }
  }

  void visit(Node* node, std::vector<std::shared_ptr<Node>>& ready) {
    Tensor g = std::move(buffer_[node]);
    buffer_.erase(node);
    if (auto t = node_target_.find(node); t != node_target_.end())
      results_[t->second] = accumulate(results_[t->second], g);
    const TensorList inputs = node->inputs();  // a copy: release() below clears the node's list
    TensorList grads;
    if (g.defined() && (targets_.empty() || has_needed_input(node))) grads = node->backward(g);
    if (!options_.retain_graph && !options_.create_graph) node->release();
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& in = inputs[i];
      if (!in.requires_grad()) continue;
      Tensor gi = i < grads.size() ? std::move(grads[i]) : Tensor();  // moved: a leaf may keep it as is
      if (Node* next = in.grad_fn().get()) {
        if (!needed(next)) continue;
        if (gi.defined()) buffer_[next] = accumulate(buffer_[next], gi);
        if (--dependencies_[next] == 0) ready.push_back(in.grad_fn());
      } else if (gi.defined()) {
        deliver_to_leaf(in, std::move(gi));
      }
    }
  }

  bool has_needed_input(Node* node) {
    for (const Tensor& in : node->inputs())
      if (in.requires_grad() && (in.grad_fn() ? needed(in.grad_fn().get()) : leaf_target_.count(in.impl()) > 0))
        return true;
    return false;
  }

  void deliver_to_leaf(const Tensor& leaf, Tensor g) {
    if (!targets_.empty()) {
      if (auto t = leaf_target_.find(leaf.impl()); t != leaf_target_.end())
        results_[t->second] = accumulate(results_[t->second], g);
      return;
    }
    const Tensor& old = leaf.grad();
    if (old.defined()) {
      leaf.set_grad(add(old, g));
      return;
    }
    // .grad() must not share memory with anything else (add's backward hands one tensor to both
    // inputs; clip_grad_norm scales grads in place): keep g only when nothing else holds it.
    const bool exclusive = g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 && g.is_contiguous();
    leaf.set_grad(exclusive ? std::move(g) : clone(g));  // clone is differentiable under create_graph
  }

  const TensorList& targets_;
  GradOptions options_;
  std::unordered_map<Node*, size_t> node_target_;
  std::unordered_map<TensorImpl*, size_t> leaf_target_;
  std::unordered_map<Node*, bool> needed_;
  std::unordered_map<Node*, int> dependencies_;
  std::unordered_map<Node*, Tensor> buffer_;
  TensorList results_;
};

}  // namespace

void backward(const TensorList& outputs, const TensorList& grad_outputs, GradOptions options) {
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
    throw std::invalid_argument("backward: " + std::to_string(grad_outputs.size()) + " grad_outputs for " +
                                std::to_string(outputs.size()) + " outputs");
  GradModeGuard mode(options.create_graph);
  const TensorList no_targets;
  GraphTask(no_targets, options).run(outputs, grad_outputs);
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                GradOptions options) {
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
    throw std::invalid_argument("grad: " + std::to_string(grad_outputs.size()) + " grad_outputs for " +
                                std::to_string(outputs.size()) + " outputs");
  if (inputs.empty()) throw std::invalid_argument("grad: no inputs given");
  GradModeGuard mode(options.create_graph);
  return GraphTask(inputs, options).run(outputs, grad_outputs);
}

void Tensor::backward(const Tensor& grad, bool retain_graph, bool create_graph) const {
  scorch::backward({*this}, grad.defined() ? TensorList{grad} : TensorList{},
                   {.retain_graph = retain_graph, .create_graph = create_graph});
}

}  // namespace scorch
