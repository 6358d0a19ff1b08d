#include "engine/optim.h"

#include <stdexcept>

#include "engine/dispatch.h"
#include "kernels/adam/adam.h"
#include "kernels/sgd/sgd.h"

namespace unet {

Optimizer::Optimizer(std::vector<Tensor> params, float lr) : params_(std::move(params)), lr_(lr) {
  if (params_.empty()) throw std::invalid_argument("optimizer: no parameters to optimise");
  for (const Tensor& p : params_) {
    if (!p.defined() || p.dtype() != DType::kFloat32) {
      throw std::invalid_argument("optimizer: parameters must be defined float32 tensors, got " +
                                  p.describe());
    }
    if (p.device() != params_[0].device()) {
      throw std::invalid_argument("optimizer: parameters on different devices (" +
                                  params_[0].describe() + " and " + p.describe() + ")");
    }
  }
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

namespace {

std::vector<Tensor> zeros_like_all(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params)
    out.push_back(Tensor::zeros(p.shape(), DType::kFloat32, p.device()));
  return out;
}

// Slots for the parameters that have a gradient; checks each gradient matches its parameter.
// Parameter elements in a step, for the profiler's bytes (Adam moves 7 floats per element: reads
// param, grad, m, v, writes param, m, v; SGD 5).
double slot_elements(const std::vector<kernels::ParamSlot>& slots) {
  double n = 0;
  for (const kernels::ParamSlot& s : slots) n += double(s.n);
  return n;
}

std::vector<kernels::ParamSlot> make_slots(std::vector<Tensor>& params, std::vector<Tensor>& m,
                                           std::vector<Tensor>* v) {
  std::vector<kernels::ParamSlot> slots;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor g = params[i].grad();
    if (!g.defined()) continue;
    if (g.shape() != params[i].shape() || g.device() != params[i].device()) {
      throw std::invalid_argument("optimizer: gradient " + g.describe() +
                                  " does not match parameter " + params[i].describe());
    }
    slots.push_back(
        {params[i].f32(), g.f32(), m[i].f32(), v ? (*v)[i].f32() : nullptr, params[i].numel()});
  }
  return slots;
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  m_ = zeros_like_all(params_);
  v_ = zeros_like_all(params_);
}

void Adam::step() {
  std::vector<kernels::ParamSlot> slots = make_slots(params_, m_, &v_);
  if (slots.empty()) return;
  ++step_;
  kernels::AdamHyper h;
  h.lr = lr_;
  h.beta1 = options_.beta1;
  h.beta2 = options_.beta2;
  h.eps = options_.eps;
  h.weight_decay = options_.weight_decay;
  h.step = step_;
  const int count = static_cast<int>(slots.size());
  dispatch(
      {"adam.step", 0, 28.0 * slot_elements(slots)}, params_[0],
      [&] { kernels::adam_step_ref(h, slots.data(), count); },
      [&] { kernels::adam_step_cpu(h, slots.data(), count); },
      [&](kernels::Stream st) { kernels::adam_step_cuda(h, slots.data(), count, st); });
}

std::vector<std::pair<std::string, Tensor*>> Adam::state() {
  std::vector<std::pair<std::string, Tensor*>> s;
  for (size_t i = 0; i < params_.size(); ++i) s.push_back({"m", &m_[i]});
  for (size_t i = 0; i < params_.size(); ++i) s.push_back({"v", &v_[i]});
  return s;
}

Sgd::Sgd(std::vector<Tensor> params, const SgdOptions& options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  buf_ = zeros_like_all(params_);
}

void Sgd::step() {
  std::vector<kernels::ParamSlot> slots = make_slots(params_, buf_, nullptr);
  if (slots.empty()) return;
  ++step_;
  kernels::SgdHyper h;
  h.lr = lr_;
  h.momentum = options_.momentum;
  h.weight_decay = options_.weight_decay;
  h.step = step_;
  const int count = static_cast<int>(slots.size());
  dispatch(
      {"sgd.step", 0, 20.0 * slot_elements(slots)}, params_[0],
      [&] { kernels::sgd_step_ref(h, slots.data(), count); },
      [&] { kernels::sgd_step_cpu(h, slots.data(), count); },
      [&](kernels::Stream st) { kernels::sgd_step_cuda(h, slots.data(), count, st); });
}

std::vector<std::pair<std::string, Tensor*>> Sgd::state() {
  std::vector<std::pair<std::string, Tensor*>> s;
  for (size_t i = 0; i < params_.size(); ++i) s.push_back({"momentum_buffer", &buf_[i]});
  return s;
}

}  // namespace unet
