// conv_transpose2d: the contract every backend implements. The mirror of conv2d (Caffe's
// "deconvolution"): forward is conv2d's backward-data, backward-data is conv2d's forward.
//
// Layouts: input x NHWC with C channels; weight CRSK (in-channels, kernel rows, kernel cols,
// out-channels); bias K; output y N,P,Q,K with P = (H-1)*stride_h + R, Q = (W-1)*stride_w + S
// (no padding, no output padding, as the U-Net's up-convolutions use).
//
//   y[n, h*stride_h + r, w*stride_w + s, k] += x[n,h,w,c] * wt[c,r,s,k]     (then + bias[k])
//
// For the U-Net's 2x2 stride-2 case every input pixel feeds its own disjoint 2x2 output block, so
// forward is one GEMM ([N*H*W x C] by [C x R*S*K]) plus a scatter, with no overlap to sum.
// FLOPs per pass: 2*N*H*W*C*R*S*K.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/stream.h"
#include "kernels/common/variant_table.h"

namespace unet::kernels {

struct ConvTranspose2dShape {
  int N = 1, H = 1, W = 1, C = 1;  // input
  int K = 1, R = 2, S = 2;         // output channels, kernel size
  int stride_h = 2, stride_w = 2;
  int P() const { return (H - 1) * stride_h + R; }
  int Q() const { return (W - 1) * stride_w + S; }
  int64_t x_size() const { return int64_t(N) * H * W * C; }
  int64_t w_size() const { return int64_t(C) * R * S * K; }
  int64_t y_size() const { return int64_t(N) * P() * Q() * K; }
  double flops() const { return 2.0 * N * H * W * C * R * S * K; }
};

// ---- CPU naive reference: plain loops, any R,S,stride. Instantiated for float and double. ----
template <typename T>
void conv_transpose2d_forward_ref(const ConvTranspose2dShape& s, const T* x, const T* w,
                                  const T* bias /*nullable*/, T* y);
template <typename T>
void conv_transpose2d_backward_data_ref(const ConvTranspose2dShape& s, const T* dy, const T* w,
                                        T* dx);
// dw overwritten; dbias (nullable) overwritten with sum over n,p,q of dy.
template <typename T>
void conv_transpose2d_backward_weight_ref(const ConvTranspose2dShape& s, const T* x, const T* dy,
                                          T* dw, T* dbias /*nullable*/);

// ---- CPU fast path: GEMM (sgemm_cpu) + scatter/gather, OpenMP. Any R,S,stride. ----
void conv_transpose2d_forward_cpu(const ConvTranspose2dShape& s, const float* x, const float* w,
                                  const float* bias, float* y);
void conv_transpose2d_backward_data_cpu(const ConvTranspose2dShape& s, const float* dy,
                                        const float* w, float* dx);
void conv_transpose2d_backward_weight_cpu(const ConvTranspose2dShape& s, const float* x,
                                          const float* dy, float* dw, float* dbias);

// ---- CPU numbered variants: 1 is the GEMM + scatter path above; 2 runs the direct conv's register
// tiles (conv_transpose2d_cpu_direct.cpp, kernels/conv2d variant 3): forward for
// non-overlapping taps (R == stride_h, S == stride_w), backward-data and backward-weight for any
// shape, where the direct conv was built (conv2d_direct_available). The engine runs the default
// (conv_transpose2d_cpu_default_variant, measured) unless "conv_transpose2d_cpu" is forced; a
// pass variant 2 does not cover runs variant 1. ----
enum class ConvTranspose2dCpuVariant : int { kGemm = 1, kDirect = 2 };
inline constexpr VariantInfo kConvTranspose2dCpuVariantRows[] = {{1, "cpu_gemm", false},
                                                                 {2, "cpu_direct", false}};
inline constexpr VariantTable kConvTranspose2dCpuVariants{"conv_transpose2d_cpu",
                                                          kConvTranspose2dCpuVariantRows, 1, 1};
bool conv_transpose2d_direct_applies(const ConvTranspose2dShape& s, bool forward);
enum class ConvTranspose2dCpuPass { kForward, kBackwardData, kBackwardWeight };
// The variant the engine runs for a pass when none is forced: the measured table in
// conv_transpose2d_cpu_direct.cpp for the U-Nets' up-convolutions, the GEMM path elsewhere.
ConvTranspose2dCpuVariant conv_transpose2d_cpu_default_variant(const ConvTranspose2dShape& s,
                                                               ConvTranspose2dCpuPass pass);
// Same semantics as the *_cpu functions; throw std::invalid_argument where the pass does not apply.
void conv_transpose2d_forward_cpu_direct(const ConvTranspose2dShape& s, const float* x,
                                         const float* w, const float* bias, float* y);
void conv_transpose2d_backward_data_cpu_direct(const ConvTranspose2dShape& s, const float* dy,
                                               const float* w, float* dx);
void conv_transpose2d_backward_weight_cpu_direct(const ConvTranspose2dShape& s, const float* x,
                                                 const float* dy, float* dw, float* dbias);

// ---- CUDA: numbered variants, device pointers. ----
enum class ConvTranspose2dVariant : int {
  kV1Naive = 1,        // one thread per output element, gathers its inputs (exact fp32)
  kV2GemmScatter = 2,  // tiled GEMM [NHW x C] x [C x RSK] on CUDA cores + scatter (exact fp32)
  kV3GemmTf32 = 3,     // the same GEMM on tensor cores (TF32 mma)
};
inline constexpr VariantInfo kConvTranspose2dVariantRows[] = {
    {1, "v1_naive", false}, {2, "v2_gemm_scatter", false}, {3, "v3_tf32", true}};
// Defaults follow conv2d's rule (its v3 is unmeasured): v2 in both math modes.
inline constexpr VariantTable kConvTranspose2dVariants{"conv_transpose2d",
                                                       kConvTranspose2dVariantRows, 2, 2};
// v2/v3 require the non-overlapping case (R == stride_h, S == stride_w); they throw
// std::invalid_argument otherwise. v1 handles any R,S,stride.
bool conv_transpose2d_variant_supports(ConvTranspose2dVariant v, const ConvTranspose2dShape& s);

size_t conv_transpose2d_backward_weight_workspace_bytes(ConvTranspose2dVariant v,
                                                        const ConvTranspose2dShape& s);
void conv_transpose2d_forward_cuda(ConvTranspose2dVariant v, const ConvTranspose2dShape& s,
                                   const float* x, const float* w, const float* bias, float* y,
                                   Stream stream);
void conv_transpose2d_backward_data_cuda(ConvTranspose2dVariant v, const ConvTranspose2dShape& s,
                                         const float* dy, const float* w, float* dx, Stream stream);
// Deterministic (fixed-order reduction over N*H*W, no float atomics).
void conv_transpose2d_backward_weight_cuda(ConvTranspose2dVariant v, const ConvTranspose2dShape& s,
                                           const float* x, const float* dy, float* dw, float* dbias,
                                           void* workspace, Stream stream);

}  // namespace unet::kernels
