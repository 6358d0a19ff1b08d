// Internal to the adam backends (not part of the contract): the argument checks every backend runs
// and the per-step constants, computed once on the host so every backend uses the same float
// values (both defined in adam_cpu_ref.cpp), and the per-element update all backends evaluate.
#pragma once

#include <cmath>

#include "kernels/adam/adam.h"
#include "kernels/common/param_slots.h"

namespace unet::kernels::detail {

// Hyperparameters (lr, weight_decay, step, beta1, beta2, eps) and the slot table (every non-empty
// slot needs param, grad, m and v); throws std::invalid_argument naming `op`.
void adam_check_args(const char* op, const AdamHyper& h, const ParamSlot* slots, int count);

// Float constants of one Adam step; bias corrections in double as PyTorch computes them.
struct AdamConsts {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, bias2_sqrt, eps, weight_decay;
};
AdamConsts adam_consts(const AdamHyper& h);

// One element of Adam, the expression every backend uses.
UNET_HOST_DEVICE_INLINE void adam_element(const AdamConsts& k, float& p, float g, float& m,
                                          float& v) {
  const float gd = g + k.weight_decay * p;
  m = k.beta1 * m + k.one_minus_beta1 * gd;
  v = k.beta2 * v + k.one_minus_beta2 * gd * gd;
  p = p - k.step_size * m / (sqrtf(v) / k.bias2_sqrt + k.eps);
}

}  // namespace unet::kernels::detail
