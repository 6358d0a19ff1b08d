// concat: channel concatenation of two NHWC tensors with the same N, H, W.
//
//   y[p, 0:C1]     = a[p, :]      (p runs over the N*H*W pixels)
//   y[p, C1:C1+C2] = b[p, :]
//
// Backward splits dy the same way: da[p,:] = dy[p, 0:C1], db[p,:] = dy[p, C1:C1+C2].
// In the U-Net decoder `a` is the transposed-conv output and `b` the encoder skip.
//
// FLOPs: none. Bytes (fp32): forward and backward each read and write pixels*(C1+C2) floats,
// 8*pixels*(C1+C2) bytes per pass.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/stream.h"
#include "kernels/common/variant_table.h"

namespace unet::kernels {

struct ConcatShape {
  int64_t pixels = 1;  // N*H*W
  int C1 = 1, C2 = 1;
};

// ---- CPU naive reference (concat_cpu_ref.cpp). Instantiated for float and double. ----
template <typename T>
void concat_forward_ref(const ConcatShape& s, const T* a, const T* b, T* y);
template <typename T>
void concat_backward_ref(const ConcatShape& s, const T* dy, T* da, T* db);

// ---- CPU fast path (concat_cpu.cpp): OpenMP over pixels, memcpy per pixel run. ----
void concat_forward_cpu(const ConcatShape& s, const float* a, const float* b, float* y);
void concat_backward_cpu(const ConcatShape& s, const float* dy, float* da, float* db);

// ---- CUDA (concat_cuda.cu): all pointers are device pointers. ----
enum class ConcatVariant : int {
  kV1Naive = 1,       // v1: one thread per output element, scalar loads
  kV2Vectorized = 2,  // v2: float4 when C1%4==0, C2%4==0 and pointers are 16-byte aligned
};
inline constexpr VariantInfo kConcatVariantRows[] = {{1, "v1_naive", false},
                                                     {2, "v2_vectorized", false}};
inline constexpr VariantTable kConcatVariants{"concat", kConcatVariantRows, 2, 2};
void concat_forward_cuda(ConcatVariant v, const ConcatShape& s, const float* a, const float* b,
                         float* y, Stream stream);
void concat_backward_cuda(ConcatVariant v, const ConcatShape& s, const float* dy, float* da,
                          float* db, Stream stream);

}  // namespace unet::kernels
