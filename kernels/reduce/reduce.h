// reduce: deterministic sums for the loss and the bias gradients.
//
//   sum(x)            = sum_i x[i]                     over n elements
//   channel_sum(x)[c] = sum_p x[p, c]                  over pixels x C (NHWC), e.g. db = sum dy
//
// Determinism: every implementation adds in a fixed order that depends only on n (or pixels, C),
// never on thread count, timing or device, and uses no float atomics; so the same input gives
// bitwise-identical output run to run. Accumulation is in double everywhere (cheap: these are
// memory bound), so the only fp32 rounding is the final conversion.
//
// FLOPs: n (or pixels*C) additions. Bytes (fp32): 4*n read (+ tiny partials).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/stream.h"

namespace unet::kernels {

// ---- CPU naive references (reduce_cpu_ref.cpp): sequential, accumulating in double. ----
template <typename T>
T sum_ref(int64_t n, const T* x);
template <typename T>
void channel_sum_ref(int64_t pixels, int C, const T* x, T* out);  // out[c] = sum_p x[p,c]

// ---- CPU fast path (reduce_cpu.cpp): OpenMP over fixed-size chunks with double partials,
// partials added in chunk order. ----
float sum_cpu(int64_t n, const float* x);
void channel_sum_cpu(int64_t pixels, int C, const float* x, float* out);

// ---- CUDA (reduce_cuda.cu): two-level fixed-order trees, no atomics. Device pointers. ----
// The caller passes a device workspace of at least the stated bytes (always > 0).
size_t sum_cuda_workspace_bytes(int64_t n);
void sum_cuda(int64_t n, const float* x, float* out /*device scalar*/, void* workspace,
              Stream stream);
size_t channel_sum_cuda_workspace_bytes(int64_t pixels, int C);
void channel_sum_cuda(int64_t pixels, int C, const float* x, float* out /*device, C*/,
                      void* workspace, Stream stream);

}  // namespace unet::kernels
