// elementwise: the pointwise ops of the U-Net (activations, arithmetic, bias, fill).
//
// Every op has three forms: <op>_ref<T> (plain loop, the spec; float and double), <op>_cpu (float,
// OpenMP) and <op>_cuda (float, device pointers, one grid-stride kernel per op using float4 when
// all pointers are 16-byte aligned, with a scalar tail for n % 4). n may be 0 (nothing happens;
// null pointers are then allowed). In-place calls (y == x, or y == a / b) are allowed.
//
//   relu_forward        y = x < 0 ? 0 : x (NaN passes through, like PyTorch)
//   relu_backward       dx = y > 0 ? dy : 0            (takes the forward OUTPUT y)
//   leaky_relu_forward  y = x > 0 ? x : slope*x
//   leaky_relu_backward dx = x > 0 ? dy : slope*dy     (takes the forward INPUT x)
//   sigmoid_forward     y = 1/(1+exp(-x)) for x >= 0, exp(x)/(1+exp(x)) otherwise: exp never
//                       overflows, so +-1000 give exactly 1 and 0, never NaN
//   sigmoid_backward    dx = dy*y*(1-y)                (takes the forward OUTPUT y)
//   add / mul           y = a + b / y = a * b
//   scale               y = alpha*x
//   accumulate          y += x (gradient accumulation)
//   bias_add            y[p,c] += bias[c] over pixels x C (NHWC), in place
//   fill                y = value
//
// FLOPs: ~1 per element (sigmoid: one exp). Bytes (fp32) per element: 4 per tensor read or
// written, e.g. relu_forward 8, relu_backward 12, add 12, accumulate 12, fill 4, bias_add 8
// (bias itself is C floats, cached).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/stream.h"

namespace unet::kernels {

// ---- CPU naive references (elementwise_cpu_ref.cpp). Instantiated for float and double. ----
template <typename T>
void relu_forward_ref(int64_t n, const T* x, T* y);
template <typename T>
void relu_backward_ref(int64_t n, const T* y, const T* dy, T* dx);
template <typename T>
void leaky_relu_forward_ref(int64_t n, T slope, const T* x, T* y);
template <typename T>
void leaky_relu_backward_ref(int64_t n, T slope, const T* x, const T* dy, T* dx);
template <typename T>
void sigmoid_forward_ref(int64_t n, const T* x, T* y);
template <typename T>
void sigmoid_backward_ref(int64_t n, const T* y, const T* dy, T* dx);
template <typename T>
void add_ref(int64_t n, const T* a, const T* b, T* y);
template <typename T>
void mul_ref(int64_t n, const T* a, const T* b, T* y);
template <typename T>
void scale_ref(int64_t n, T alpha, const T* x, T* y);
template <typename T>
void accumulate_ref(int64_t n, const T* x, T* y);
template <typename T>
void bias_add_ref(int64_t pixels, int C, const T* bias, T* y);
template <typename T>
void fill_ref(int64_t n, T value, T* y);

// ---- CPU fast path (elementwise_cpu.cpp): OpenMP + SIMD loops. ----
void relu_forward_cpu(int64_t n, const float* x, float* y);
void relu_backward_cpu(int64_t n, const float* y, const float* dy, float* dx);
void leaky_relu_forward_cpu(int64_t n, float slope, const float* x, float* y);
void leaky_relu_backward_cpu(int64_t n, float slope, const float* x, const float* dy, float* dx);
void sigmoid_forward_cpu(int64_t n, const float* x, float* y);
void sigmoid_backward_cpu(int64_t n, const float* y, const float* dy, float* dx);
void add_cpu(int64_t n, const float* a, const float* b, float* y);
void mul_cpu(int64_t n, const float* a, const float* b, float* y);
void scale_cpu(int64_t n, float alpha, const float* x, float* y);
void accumulate_cpu(int64_t n, const float* x, float* y);
void bias_add_cpu(int64_t pixels, int C, const float* bias, float* y);
void fill_cpu(int64_t n, float value, float* y);

// ---- CUDA (elementwise_cuda.cu): device pointers, asynchronous on `stream`. ----
void relu_forward_cuda(int64_t n, const float* x, float* y, Stream stream);
void relu_backward_cuda(int64_t n, const float* y, const float* dy, float* dx, Stream stream);
void leaky_relu_forward_cuda(int64_t n, float slope, const float* x, float* y, Stream stream);
void leaky_relu_backward_cuda(int64_t n, float slope, const float* x, const float* dy, float* dx,
                              Stream stream);
void sigmoid_forward_cuda(int64_t n, const float* x, float* y, Stream stream);
void sigmoid_backward_cuda(int64_t n, const float* y, const float* dy, float* dx, Stream stream);
void add_cuda(int64_t n, const float* a, const float* b, float* y, Stream stream);
void mul_cuda(int64_t n, const float* a, const float* b, float* y, Stream stream);
void scale_cuda(int64_t n, float alpha, const float* x, float* y, Stream stream);
void accumulate_cuda(int64_t n, const float* x, float* y, Stream stream);
void bias_add_cuda(int64_t pixels, int C, const float* bias, float* y, Stream stream);
void fill_cuda(int64_t n, float value, float* y, Stream stream);

}  // namespace unet::kernels
