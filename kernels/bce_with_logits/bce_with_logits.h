// bce_with_logits: binary cross-entropy with logits, MEAN over n (PyTorch's BCEWithLogitsLoss):
//
//   loss = mean_i( max(x_i, 0) - x_i*t_i + log1p(exp(-|x_i|)) )      (stable for any |x|)
//   dx_i = dloss * (sigmoid(x_i) - t_i) / n
//
// Forward reads 8 bytes per element, backward reads 8 and writes 4. The sum is deterministic (a
// fixed order that depends only on n). n must be > 0 (std::invalid_argument otherwise).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/stream.h"

namespace unet::kernels {

// ---- CPU naive reference (plain loops, double accumulation). Instantiated for float and double.
template <typename T>
T bce_with_logits_forward_ref(int64_t n, const T* logits, const T* target);
template <typename T>
void bce_with_logits_backward_ref(int64_t n, const T* logits, const T* target, T dloss, T* dlogits);

// ---- CPU fast path: OpenMP over fixed 64K-element chunks, partials summed in chunk order.
float bce_with_logits_forward_cpu(int64_t n, const float* logits, const float* target);
void bce_with_logits_backward_cpu(int64_t n, const float* logits, const float* target, float dloss,
                                  float* dlogits);

// ---- CUDA (device pointers): per-block double partials in `workspace`, one block sums them in a
// fixed order and writes the mean to `out` (one device float). No float atomics.
size_t bce_with_logits_cuda_workspace_bytes(int64_t n);
void bce_with_logits_forward_cuda(int64_t n, const float* logits, const float* target, float* out,
                                  void* workspace, Stream stream);
// dloss is a DEVICE pointer to one float (autograd's seed).
void bce_with_logits_backward_cuda(int64_t n, const float* logits, const float* target,
                                   const float* dloss, float* dlogits, Stream stream);

}  // namespace unet::kernels
