// sgd CPU naive reference: plain loops over the slots and their elements, the executable spec for
// the fast CPU path and the CUDA kernel. 20 bytes and ~4 FLOPs per element. Also defines the
// argument checks every backend runs.
#include <cmath>

#include "kernels/common/param_slots.h"
#include "kernels/sgd/sgd.h"
#include "kernels/sgd/sgd_check.h"

namespace unet::kernels {
namespace detail {

void sgd_check_args(const char* op, const SgdHyper& h, const ParamSlot* slots, int count) {
  param_slots_check_common(op, h.lr, h.weight_decay, h.step, count, slots);
  if (!(h.momentum >= 0.0f) || !std::isfinite(h.momentum)) {
    param_slots_fail(op, "momentum must be finite and >= 0, got " + param_slots_num(h.momentum));
  }
  param_slots_check_slots(op, slots, count, h.momentum != 0.0f, false);
}

}  // namespace detail

void sgd_step_ref(const SgdHyper& h, const ParamSlot* slots, int count) {
  detail::sgd_check_args("sgd_step_ref", h, slots, count);
  const bool use_buf = h.momentum != 0.0f;
  for (int s = 0; s < count; ++s) {
    const ParamSlot& t = slots[s];
    for (int64_t i = 0; i < t.n; ++i) {
      detail::sgd_element(h.lr, h.momentum, h.weight_decay, h.step == 1, t.param[i], t.grad[i],
                          use_buf ? &t.m[i] : nullptr);
    }
  }
}

}  // namespace unet::kernels
