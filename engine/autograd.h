// Define-by-run reverse-mode autograd (DESIGN.md section 3). Each differentiable op that sees an
// input requiring grad records a Node: its inputs (the graph edges) and a backward function that
// maps the output's gradient to one gradient per input (undefined where an input needs none).
// Tensor::backward() orders the nodes reverse-topologically, calls each once, accumulates
// gradients where a tensor feeds several ops (U-Net skips), stores leaf gradients in .grad and
// then frees every node's saved tensors.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace unet {

struct Node {
  using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;
  std::string op;              // for error messages: "conv2d", ...
  std::vector<Tensor> inputs;  // edges; an input with requires_grad false gets no gradient
  BackwardFn backward;         // captures the saved tensors (detached); reset after use
};

// Recording is on by default; NoGradGuard turns it off in its scope (inference, optimiser steps).
bool grad_mode_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when recording is on and some input requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);
// Attaches a node to `output` (marks it requires_grad). Call only when needs_grad(inputs).
void record(Tensor& output, const std::string& op, std::vector<Tensor> inputs, Node::BackwardFn fn);

// Runs the backward sweep from `root` with the given seed gradient (same shape as root).
void run_backward(const Tensor& root, const Tensor& seed);

}  // namespace unet
