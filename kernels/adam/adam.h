// adam: the Adam parameter update, PyTorch semantics (torch.optim.Adam with amsgrad=False; L2
// weight decay added to the gradient, not AdamW). Per element, with the step counted from 1:
//
//   g'  = g + weight_decay*p
//   m   = b1*m + (1-b1)*g'
//   v   = b2*v + (1-b2)*g'^2
//   p  -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps)
//   computed as PyTorch does, with bc1 = 1 - b1^step and bc2 = 1 - b2^step in double:
//   p  -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)
//
// Bytes per element: reads p, g, m, v and writes p, m, v (28 bytes; 217 MB for the seed U-Net's
// 7.76M parameters). Elementwise, so there is no reduction and every backend is deterministic.
// A step updates a table of tensors (ParamSlot, kernels/common/param_slots.h). See README.md.
#pragma once

#include <cstdint>

#include "kernels/common/param_slots.h"
#include "kernels/common/stream.h"

namespace unet::kernels {

struct AdamHyper {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  int64_t step = 1;  // the step being taken, counting from 1
};

// ---- CPU: reference (plain loops; float math, double bias corrections) and OpenMP fast path.
void adam_step_ref(const AdamHyper& h, const ParamSlot* slots, int count);
void adam_step_cpu(const AdamHyper& h, const ParamSlot* slots, int count);

// ---- CUDA: `slots` is a HOST array whose pointers are device pointers. One fused multi-tensor
// launch per 64 slots (the slot table travels by value in the kernel parameters; blocks map to
// (slot, chunk) pairs), so the seed U-Net's 46 tensors take a single launch.
void adam_step_cuda(const AdamHyper& h, const ParamSlot* slots, int count, Stream stream);

}  // namespace unet::kernels
