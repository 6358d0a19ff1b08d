// optim: Adam and SGD-with-momentum parameter updates, PyTorch semantics (torch.optim.Adam with
// amsgrad=False, torch.optim.SGD with dampening=0, nesterov=False). Per element, with the step
// counted from 1:
//
// Adam:
//   g'  = g + weight_decay*p
//   m   = b1*m + (1-b1)*g'
//   v   = b2*v + (1-b2)*g'^2
//   p  -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps)
//   computed as PyTorch does, with bc1 = 1 - b1^step and bc2 = 1 - b2^step in double:
//   p  -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)
//
// SGD:
//   g'  = g + weight_decay*p
//   buf = g'                    at step 1
//   buf = momentum*buf + g'     after
//   p  -= lr*buf
//   momentum == 0: p -= lr*g' and the buffer is not touched (it may be null then).
//
// Bytes per element: Adam reads p, g, m, v and writes p, m, v (28 bytes; 217 MB for the seed
// U-Net's 7.76M parameters); SGD reads p, g, buf and writes p, buf (20 bytes). Elementwise, so
// there is no reduction and every backend is deterministic.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/stream.h"

namespace unet::kernels {

struct AdamHyper {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  int64_t step = 1;  // the step being taken, counting from 1
};
struct SgdHyper {
  float lr = 1e-2f, momentum = 0.9f, weight_decay = 0.0f;
  int64_t step = 1;  // 1 initialises the momentum buffer with the gradient
};
// One parameter tensor: n floats each of param, grad and the state. SGD uses m as its momentum
// buffer and ignores v.
struct ParamSlot {
  float* param;
  const float* grad;
  float* m;
  float* v;
  int64_t n;
};

// ---- CPU: reference (plain loops; float math, double bias corrections) and OpenMP fast path.
void adam_step_ref(const AdamHyper& h, const ParamSlot* slots, int count);
void adam_step_cpu(const AdamHyper& h, const ParamSlot* slots, int count);
void sgd_step_ref(const SgdHyper& h, const ParamSlot* slots, int count);
void sgd_step_cpu(const SgdHyper& h, const ParamSlot* slots, int count);

// ---- CUDA: `slots` is a HOST array whose pointers are device pointers. One fused multi-tensor
// launch per 64 slots (the slot table travels by value in the kernel parameters; blocks map to
// (slot, chunk) pairs), so the seed U-Net's 46 tensors take a single launch.
void adam_step_cuda(const AdamHyper& h, const ParamSlot* slots, int count, Stream stream);
void sgd_step_cuda(const SgdHyper& h, const ParamSlot* slots, int count, Stream stream);

}  // namespace unet::kernels
