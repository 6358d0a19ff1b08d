#include "engine/autograd.h"

#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "engine/ops.h"

namespace unet {

namespace {
thread_local bool g_grad_mode = true;
}  // namespace

bool grad_mode_enabled() { return g_grad_mode; }
NoGradGuard::NoGradGuard() : previous_(g_grad_mode) { g_grad_mode = false; }
NoGradGuard::~NoGradGuard() { g_grad_mode = previous_; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_mode) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

void record(Tensor& output, const std::string& op, std::vector<Tensor> inputs,
            Node::BackwardFn fn) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(fn);
  output.set_grad_fn(std::move(node));
  output.set_requires_grad(true);
}

namespace {

// Adds g into slot, allocating on first use. The first gradient is taken as is (no copy), so a
// tensor that feeds one op costs nothing extra.
void accumulate_into(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
    return;
  }
  // Never write into a gradient tensor some other op may still hold: make our own sum.
  slot = add(slot, g);
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& seed) {
  if (!root.requires_grad()) {
    throw std::invalid_argument(
        "backward: " + root.describe() +
        " does not require grad; mark a parameter with set_requires_grad(true)");
  }
  NoGradGuard no_grad;  // gradients of gradients are not recorded
  // Leaf root: its gradient is the seed.
  if (!root.grad_fn()) {
    Tensor g = root.grad();
    accumulate_into(g, seed);
    const_cast<Tensor&>(root).set_grad(g);
    return;
  }
  // Reverse topological order by iterative depth-first search over grad_fn edges.
  // `order` owns the nodes: clearing a node's edges below can drop the last handle to an
  // intermediate tensor, and with it that tensor's grad_fn, before the sweep reaches it.
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root.grad_fn(), 0}};
  visited.insert(root.grad_fn().get());
  while (!stack.empty()) {
    std::shared_ptr<Node> node = stack.back().first;
    size_t& next = stack.back().second;
    if (next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      std::shared_ptr<Node> child = in.defined() ? in.grad_fn() : nullptr;
      if (child && !visited.count(child.get())) {
        visited.insert(child.get());
        stack.push_back({child, 0});
      }
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  std::unordered_map<Node*, Tensor> pending;  // gradient of each node's output
  pending[root.grad_fn().get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = it->get();
    Tensor grad_out = pending[node];
    pending.erase(node);
    if (!node->backward) {
      throw std::runtime_error(
          "backward: the graph through op '" + node->op +
          "' was already freed by an earlier backward(); run the forward again");
    }
    std::vector<Tensor> grads = node->backward(grad_out);
    node->backward = nullptr;  // frees the saved tensors now, not when the graph dies
    for (size_t i = 0; i < node->inputs.size() && i < grads.size(); ++i) {
      Tensor& in = node->inputs[i];
      if (!grads[i].defined() || !in.defined() || !in.requires_grad()) continue;
      if (in.grad_fn()) {
        accumulate_into(pending[in.grad_fn().get()], grads[i]);
      } else {
        Tensor g = in.grad();
        accumulate_into(g, grads[i]);
        in.set_grad(g);
      }
    }
    node->inputs.clear();  // drop edges: the graph is consumed
  }
}

}  // namespace unet
