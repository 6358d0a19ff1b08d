// Optimisers over a list of parameter tensors, PyTorch semantics (kernels/adam/README.md and
// kernels/sgd/README.md have the update formulas). The step runs as one fused kernel over all
// parameters on either device.
// State (moments, step count) is exposed so checkpoints can save and restore it for resume.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace unet {

struct AdamOptions {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
};
struct SgdOptions {
  float lr = 1e-2f, momentum = 0.9f, weight_decay = 0.0f;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Applies one update from each parameter's .grad (parameters without a gradient are skipped).
  virtual void step() = 0;
  void zero_grad();
  void set_lr(float lr) { lr_ = lr; }
  float lr() const { return lr_; }
  int64_t step_count() const { return step_; }
  void set_step_count(int64_t s) { step_ = s; }
  const std::vector<Tensor>& params() const { return params_; }
  // Per-parameter state tensors (Adam: m then v; SGD: momentum buffer), on the params' device.
  virtual std::vector<std::pair<std::string, Tensor*>> state() = 0;

 protected:
  explicit Optimizer(std::vector<Tensor> params, float lr);
  std::vector<Tensor> params_;
  float lr_;
  int64_t step_ = 0;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options = {});
  void step() override;
  std::vector<std::pair<std::string, Tensor*>> state() override;

 private:
  AdamOptions options_;
  std::vector<Tensor> m_, v_;
};

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<Tensor> params, const SgdOptions& options = {});
  void step() override;
  std::vector<std::pair<std::string, Tensor*>> state() override;

 private:
  SgdOptions options_;
  std::vector<Tensor> buf_;
};

}  // namespace unet
