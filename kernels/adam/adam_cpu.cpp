// adam CPU fast path: the same per-element expression as the reference (adam_check.h), OpenMP SIMD
// threads over the elements of each large tensor. 28 bytes and ~12 FLOPs per element.
#include "kernels/adam/adam.h"
#include "kernels/adam/adam_check.h"

namespace unet::kernels {
void adam_step_cpu(const AdamHyper& h, const ParamSlot* slots, int count) {
  detail::adam_check_args("adam_step_cpu", h, slots, count);
  const detail::AdamConsts k = detail::adam_consts(h);
  for (int s = 0; s < count; ++s) {
    const ParamSlot t = slots[s];
#pragma omp parallel for simd schedule(static) if (t.n >= kParamSlotsParallelMin)
    for (int64_t i = 0; i < t.n; ++i)
      detail::adam_element(k, t.param[i], t.grad[i], t.m[i], t.v[i]);
  }
}

}  // namespace unet::kernels
