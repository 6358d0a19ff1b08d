// sgd: the SGD-with-momentum parameter update, PyTorch semantics (torch.optim.SGD with
// dampening=0, nesterov=False; L2 weight decay added to the gradient). Per element, with the step
// counted from 1:
//
//   g'  = g + weight_decay*p
//   buf = g'                    at step 1
//   buf = momentum*buf + g'     after
//   p  -= lr*buf
//   momentum == 0: p -= lr*g' and the buffer is not touched (it may be null then).
//
// Bytes per element: reads p, g, buf and writes p, buf (20 bytes). Elementwise, so there is no
// reduction and every backend is deterministic. A step updates a table of tensors (ParamSlot,
// kernels/common/param_slots.h; m is the momentum buffer, v is ignored). See README.md.
#pragma once

#include <cstdint>

#include "kernels/common/param_slots.h"
#include "kernels/common/stream.h"

namespace unet::kernels {

struct SgdHyper {
  float lr = 1e-2f, momentum = 0.9f, weight_decay = 0.0f;
  int64_t step = 1;  // 1 initialises the momentum buffer with the gradient
};

// ---- CPU: reference (plain loops) and OpenMP fast path.
void sgd_step_ref(const SgdHyper& h, const ParamSlot* slots, int count);
void sgd_step_cpu(const SgdHyper& h, const ParamSlot* slots, int count);

// ---- CUDA: `slots` is a HOST array whose pointers are device pointers. One fused multi-tensor
// launch per 64 slots (the slot table travels by value in the kernel parameters; blocks map to
// (slot, chunk) pairs), so the seed U-Net's 46 tensors take a single launch.
void sgd_step_cuda(const SgdHyper& h, const ParamSlot* slots, int count, Stream stream);

}  // namespace unet::kernels
