// max_pool2d: the contract every backend implements.
//
// Layout NHWC. Window R x S, stride stride_h x stride_w, no padding; output N,P,Q,C with
// P = (H - R) / stride_h + 1 (floor, like PyTorch: a 5x7 input pooled 2x2/2 gives 2x3 and the
// last row / column are never read).
//
//   y[n,p,q,c] = max_{r,s} x[n, p*stride_h + r, q*stride_w + s, c]
//
// Ties go to the first maximum in row-major window order (r, then s), like PyTorch; a NaN in the
// window propagates (it wins the comparison), also like PyTorch.
//
// Backward: dx[n,h,w,c] = sum over the windows whose argmax is (h,w) of dy[n,p,q,c]; every other
// dx element is 0 (dx is overwritten). The argmax is RECOMPUTED from x rather than stored: the
// U-Net keeps x anyway as the encoder's skip tensor, so this saves an index tensor the size of y.
//
// FLOPs: N*P*Q*C*(R*S-1) comparisons. Bytes (fp32): forward reads x once and writes y:
// 4*(x_size + y_size); backward reads x, dy and writes dx: 4*(2*x_size + y_size).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/stream.h"
#include "kernels/common/variant_table.h"

namespace unet::kernels {

struct MaxPool2dShape {
  int N = 1, H = 1, W = 1, C = 1;
  int R = 2, S = 2;
  int stride_h = 2, stride_w = 2;
  int P() const { return (H - R) / stride_h + 1; }
  int Q() const { return (W - S) / stride_w + 1; }
  int64_t x_size() const { return int64_t(N) * H * W * C; }
  int64_t y_size() const { return int64_t(N) * P() * Q() * C; }
};

// ---- CPU naive reference (max_pool2d_cpu_ref.cpp). Instantiated for float and double. ----
template <typename T>
void max_pool2d_forward_ref(const MaxPool2dShape& s, const T* x, T* y);
// dx is overwritten, zeros where no window has its max.
template <typename T>
void max_pool2d_backward_ref(const MaxPool2dShape& s, const T* x, const T* dy, T* dx);

// ---- CPU fast path (max_pool2d_cpu.cpp): OpenMP, channel-innermost loops the compiler
// vectorises. Bitwise equal to the reference (same comparisons, same summation order). ----
void max_pool2d_forward_cpu(const MaxPool2dShape& s, const float* x, float* y);
void max_pool2d_backward_cpu(const MaxPool2dShape& s, const float* x, const float* dy, float* dx);

// ---- CUDA (max_pool2d_cuda.cu): all pointers are device pointers. ----
enum class MaxPool2dVariant : int {
  kV1Naive = 1,       // v1: one thread per output (forward) / input (backward) element
  kV2Vectorized = 2,  // v2: float4 over channels when C%4==0 and pointers are 16-byte aligned
};
inline constexpr VariantInfo kMaxPool2dVariantRows[] = {{1, "v1_naive", false},
                                                        {2, "v2_vectorized", false}};
inline constexpr VariantTable kMaxPool2dVariants{"max_pool2d", kMaxPool2dVariantRows, 2, 2};
void max_pool2d_forward_cuda(MaxPool2dVariant v, const MaxPool2dShape& s, const float* x, float* y,
                             Stream stream);
void max_pool2d_backward_cuda(MaxPool2dVariant v, const MaxPool2dShape& s, const float* x,
                              const float* dy, float* dx, Stream stream);

}  // namespace unet::kernels
