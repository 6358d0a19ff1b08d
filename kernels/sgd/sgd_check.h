// Internal to the sgd backends (not part of the contract): the argument checks every backend runs
// (defined in sgd_cpu_ref.cpp) and the per-element update all backends evaluate.
#pragma once

#include "kernels/common/param_slots.h"
#include "kernels/sgd/sgd.h"

namespace unet::kernels::detail {

// Hyperparameters (lr, weight_decay, step, momentum) and the slot table (every non-empty slot
// needs param and grad, and m unless momentum is 0); throws std::invalid_argument naming `op`.
void sgd_check_args(const char* op, const SgdHyper& h, const ParamSlot* slots, int count);

// One element of SGD with momentum (first_step: buf = g'; buf null: no momentum).
UNET_HOST_DEVICE_INLINE void sgd_element(float lr, float momentum, float weight_decay,
                                         bool first_step, float& p, float g, float* buf) {
  float d = g + weight_decay * p;
  if (buf != nullptr) {
    d = first_step ? d : momentum * *buf + d;
    *buf = d;
  }
  p = p - lr * d;
}

}  // namespace unet::kernels::detail
