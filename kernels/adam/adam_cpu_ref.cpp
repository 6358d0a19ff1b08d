// adam CPU naive reference: plain loops over the slots and their elements, the executable spec for
// the fast CPU path and the CUDA kernel (float math, bias corrections in double on the host). 28
// bytes and ~12 FLOPs (one sqrt, one division) per element. Also defines the argument checks and
// the per-step constants every backend uses.
#include <cmath>
#include <string>

#include "kernels/adam/adam.h"
#include "kernels/adam/adam_check.h"
#include "kernels/common/param_slots.h"

namespace unet::kernels {
namespace detail {

void adam_check_args(const char* op, const AdamHyper& h, const ParamSlot* slots, int count) {
  param_slots_check_common(op, h.lr, h.weight_decay, h.step, count, slots);
  if (!(h.beta1 >= 0.0f && h.beta1 < 1.0f)) {
    param_slots_fail(op, "beta1 must be in [0, 1), got " + param_slots_num(h.beta1));
  }
  if (!(h.beta2 >= 0.0f && h.beta2 < 1.0f)) {
    param_slots_fail(op, "beta2 must be in [0, 1), got " + param_slots_num(h.beta2));
  }
  if (!(h.eps >= 0.0f) || !std::isfinite(h.eps)) {
    param_slots_fail(op, "eps must be finite and >= 0, got " + param_slots_num(h.eps));
  }
  param_slots_check_slots(op, slots, count, true, true);
}

AdamConsts adam_consts(const AdamHyper& h) {
  const double bc1 = 1.0 - std::pow(double(h.beta1), double(h.step));
  const double bc2 = 1.0 - std::pow(double(h.beta2), double(h.step));
  return {h.beta1,
          h.beta2,
          float(1.0 - double(h.beta1)),
          float(1.0 - double(h.beta2)),
          float(double(h.lr) / bc1),
          float(std::sqrt(bc2)),
          h.eps,
          h.weight_decay};
}

}  // namespace detail

void adam_step_ref(const AdamHyper& h, const ParamSlot* slots, int count) {
  detail::adam_check_args("adam_step_ref", h, slots, count);
  const detail::AdamConsts k = detail::adam_consts(h);
  for (int s = 0; s < count; ++s) {
    const ParamSlot& t = slots[s];
    for (int64_t i = 0; i < t.n; ++i)
      detail::adam_element(k, t.param[i], t.grad[i], t.m[i], t.v[i]);
  }
}

}  // namespace unet::kernels
