// sgd CPU fast path: the same per-element expression as the reference (sgd_check.h), OpenMP
// threads over the elements of each large tensor. 20 bytes and ~4 FLOPs per element.
#include "kernels/sgd/sgd.h"
#include "kernels/sgd/sgd_check.h"

namespace unet::kernels {
void sgd_step_cpu(const SgdHyper& h, const ParamSlot* slots, int count) {
  detail::sgd_check_args("sgd_step_cpu", h, slots, count);
  const bool use_buf = h.momentum != 0.0f;
  const bool first = h.step == 1;
  for (int s = 0; s < count; ++s) {
    const ParamSlot t = slots[s];
#pragma omp parallel for schedule(static) if (t.n >= kParamSlotsParallelMin)
    for (int64_t i = 0; i < t.n; ++i) {
      detail::sgd_element(h.lr, h.momentum, h.weight_decay, first, t.param[i], t.grad[i],
                          use_buf ? &t.m[i] : nullptr);
    }
  }
}

}  // namespace unet::kernels
