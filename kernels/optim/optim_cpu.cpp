// optim CPU backends: the reference (plain loops over slots and elements) and the OpenMP fast path
// (the same per-element expression, threads over the elements of each large tensor). Adam moves
// 28 bytes and ~12 FLOPs per element (one sqrt, one division), SGD 20 bytes and ~4 FLOPs.
#include "kernels/optim/optim.h"
#include "kernels/optim/optim_detail.h"

namespace unet::kernels {
namespace {

constexpr int64_t kParallelMin = 1 << 15;  // below this a tensor's update is cheaper than a fork

}  // namespace

void adam_step_ref(const AdamHyper& h, const ParamSlot* slots, int count) {
  const auto k = optim_detail::adam_consts("adam_step_ref", h, slots, count);
  for (int s = 0; s < count; ++s) {
    const ParamSlot& t = slots[s];
    for (int64_t i = 0; i < t.n; ++i)
      optim_detail::adam_element(k, t.param[i], t.grad[i], t.m[i], t.v[i]);
  }
}

void adam_step_cpu(const AdamHyper& h, const ParamSlot* slots, int count) {
  const auto k = optim_detail::adam_consts("adam_step_cpu", h, slots, count);
  for (int s = 0; s < count; ++s) {
    const ParamSlot t = slots[s];
#pragma omp parallel for simd schedule(static) if (t.n >= kParallelMin)
    for (int64_t i = 0; i < t.n; ++i)
      optim_detail::adam_element(k, t.param[i], t.grad[i], t.m[i], t.v[i]);
  }
}

void sgd_step_ref(const SgdHyper& h, const ParamSlot* slots, int count) {
  optim_detail::sgd_check("sgd_step_ref", h, slots, count);
  const bool use_buf = h.momentum != 0.0f;
  for (int s = 0; s < count; ++s) {
    const ParamSlot& t = slots[s];
    for (int64_t i = 0; i < t.n; ++i) {
      optim_detail::sgd_element(h.lr, h.momentum, h.weight_decay, h.step == 1, t.param[i],
                                t.grad[i], use_buf ? &t.m[i] : nullptr);
    }
  }
}

void sgd_step_cpu(const SgdHyper& h, const ParamSlot* slots, int count) {
  optim_detail::sgd_check("sgd_step_cpu", h, slots, count);
  const bool use_buf = h.momentum != 0.0f;
  const bool first = h.step == 1;
  for (int s = 0; s < count; ++s) {
    const ParamSlot t = slots[s];
#pragma omp parallel for schedule(static) if (t.n >= kParallelMin)
    for (int64_t i = 0; i < t.n; ++i) {
      optim_detail::sgd_element(h.lr, h.momentum, h.weight_decay, first, t.param[i], t.grad[i],
                                use_buf ? &t.m[i] : nullptr);
    }
  }
}

}  // namespace unet::kernels
