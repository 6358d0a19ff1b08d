// dice_loss: fused sigmoid + soft Dice over the WHOLE batch (the seed Keras loss, where
// smooth = 1).
//
//   p_i  = sigmoid(logit_i)
//   I    = sum p*t,   Ps = sum p,   Ts = sum t
//   loss = -(2*I + smooth) / (Ps + Ts + smooth)
//
// Backward (Nn = 2I + smooth, D = Ps + Ts + smooth):
//   dL/dp_i  = -(2*t_i*D - Nn) / D^2
//   dlogit_i = dloss * dL/dp_i * p_i*(1 - p_i)
//
// Forward is one read pass (2 floats in), backward one read pass that recomputes p from the logit
// (2 floats in, 1 out). All sums are deterministic: a fixed order that depends only on n.
// n must be > 0 and smooth >= 0 (std::invalid_argument otherwise). See README.md.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/stream.h"

namespace unet::kernels {

// The three sums the backward pass needs, always accumulated in double on the CPU.
struct DiceSums {
  double intersection = 0, pred_sum = 0, target_sum = 0;
};

// ---- CPU naive reference (plain loops, double accumulation). Instantiated for float and double.
template <typename T>
T dice_loss_forward_ref(int64_t n, const T* logits, const T* target, T smooth, DiceSums* sums);
// dlogits is overwritten. `sums` are the ones the forward returned.
template <typename T>
void dice_loss_backward_ref(int64_t n, const T* logits, const T* target, T smooth,
                            const DiceSums& sums, T dloss, T* dlogits);

// ---- CPU fast path: OpenMP over fixed 64K-element chunks, chunk partials summed in order, so the
// result does not depend on the thread count.
float dice_loss_forward_cpu(int64_t n, const float* logits, const float* target, float smooth,
                            DiceSums* sums);
void dice_loss_backward_cpu(int64_t n, const float* logits, const float* target, float smooth,
                            const DiceSums& sums, float dloss, float* dlogits);

// ---- CUDA (device pointers). Per-block double partials in `workspace`, then one block sums them
// in a fixed order (no float atomics): bitwise reproducible run to run.
size_t dice_loss_cuda_workspace_bytes(int64_t n);
// out (device, 4 floats): [loss, I, Ps, Ts].
void dice_loss_forward_cuda(int64_t n, const float* logits, const float* target, float smooth,
                            float* out, void* workspace, Stream stream);
// `out` is the forward's output; dloss is a DEVICE pointer to one float (autograd's seed).
void dice_loss_backward_cuda(int64_t n, const float* logits, const float* target, float smooth,
                             const float* out, const float* dloss, float* dlogits, Stream stream);

}  // namespace unet::kernels
