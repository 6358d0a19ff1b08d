// conv2d: the contract every backend implements.
//
// Layouts (DESIGN.md section 3): activations NHWC, weights KRSC (out-channels, kernel rows, kernel
// cols, in-channels), bias K. Dimensions are named as in cutlass: input N,H,W,C; filter K,R,S;
// output N,P,Q,K with P = (H + 2*pad_h - R) / stride_h + 1 (likewise Q).
//
//   y[n,p,q,k] = act( bias[k] + sum_{r,s,c} x[n, p*stride_h - pad_h + r, q*stride_w - pad_w + s, c]
//                                          * w[k,r,s,c] )          (out-of-range x reads are 0)
//
// FLOPs per pass (forward, backward-data, backward-weight each): 2*N*P*Q*K*R*S*C.
//
// Fused ReLU: forward applies max(0, .) when `relu` is true. The backward functions take the
// forward *output* `relu_y` (nullable): when given, dy is multiplied by (relu_y > 0) as it is read,
// which is the ReLU's backward fused into the conv's backward (no separate masked copy of dy).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/stream.h"
#include "kernels/common/variant_table.h"

namespace unet::kernels {

struct Conv2dShape {
  int N = 1, H = 1, W = 1, C = 1;  // input
  int K = 1, R = 1, S = 1;         // filter
  int pad_h = 0, pad_w = 0;
  int stride_h = 1, stride_w = 1;
  int P() const { return (H + 2 * pad_h - R) / stride_h + 1; }
  int Q() const { return (W + 2 * pad_w - S) / stride_w + 1; }
  int64_t x_size() const { return int64_t(N) * H * W * C; }
  int64_t w_size() const { return int64_t(K) * R * S * C; }
  int64_t y_size() const { return int64_t(N) * P() * Q() * K; }
  double flops() const { return 2.0 * N * P() * Q() * K * R * S * C; }
};

// ---- CPU naive reference (conv2d_cpu_ref.cpp): plain loops, the executable spec. ----
// Templated so gradient checks can run it in double. Instantiated for float and double.
template <typename T>
void conv2d_forward_ref(const Conv2dShape& s, const T* x, const T* w, const T* bias /*nullable*/,
                        T* y, bool relu);
template <typename T>
void conv2d_backward_data_ref(const Conv2dShape& s, const T* dy, const T* w,
                              const T* relu_y /*nullable*/, T* dx);
// dw is overwritten; dbias (nullable) is overwritten with sum over n,p,q of the (masked) dy.
template <typename T>
void conv2d_backward_weight_ref(const Conv2dShape& s, const T* x, const T* dy,
                                const T* relu_y /*nullable*/, T* dw, T* dbias /*nullable*/);

// ---- CPU fast path (conv2d_cpu.cpp): im2col/packing + sgemm_cpu (OpenBLAS) + OpenMP. ----
// Same semantics as the reference. Workspace is allocated internally.
void conv2d_forward_cpu(const Conv2dShape& s, const float* x, const float* w,
                        const float* bias /*nullable*/, float* y, bool relu);
void conv2d_backward_data_cpu(const Conv2dShape& s, const float* dy, const float* w,
                              const float* relu_y /*nullable*/, float* dx);
void conv2d_backward_weight_cpu(const Conv2dShape& s, const float* x, const float* dy,
                                const float* relu_y /*nullable*/, float* dw,
                                float* dbias /*nullable*/);

// ---- CPU numbered variants: 1 is the im2col fast path above; 2 is Winograd F(2x2, 3x3)
// (conv2d_cpu_winograd.cpp) for 3x3 / stride 1 / pad 1 convolutions, forward and backward-data;
// 3 is the direct NHWC conv with packed filters and AVX2/FMA register blocking
// (conv2d_cpu_direct.cpp), all three passes (backward-data at stride 1). The engine picks per shape
// and pass with conv2d_cpu_default_variant unless KernelConfig::variant forces "conv2d_cpu"; a
// forced variant still runs variant 1 for a pass it does not apply to. ----
enum class Conv2dCpuVariant : int {
  kIm2col = 1,      // im2col + sgemm (any shape)
  kWinogradF2 = 2,  // Winograd F(2x2, 3x3): 2.25x fewer GEMM multiplies, transforms around them
  kDirect = 3,      // direct NHWC, 6 or 12 pixels x 16 channels per register tile, no im2col
};
inline constexpr VariantInfo kConv2dCpuVariantRows[] = {
    {1, "cpu_im2col", false}, {2, "cpu_winograd_f2x3", false}, {3, "cpu_direct", false}};
inline constexpr VariantTable kConv2dCpuVariants{"conv2d_cpu", kConv2dCpuVariantRows, 1, 1};

// The three passes, each of which picks its CPU variant.
enum class Conv2dCpuPass { kForward, kBackwardData, kBackwardWeight };
// True for the shapes variant 2 computes: R = S = 3, stride 1, pad 1 (forward, backward-data).
bool conv2d_winograd_applies(const Conv2dShape& s);
// True when variant 3 was built (the compiler targets AVX2 and FMA).
bool conv2d_direct_available();
// True when variant 3 computes this pass of this shape: built, and for backward-data stride 1
// with pad <= kernel size - 1.
bool conv2d_direct_applies(const Conv2dShape& s, Conv2dCpuPass pass);
// The variant the engine runs for a shape and pass when none is forced: the measured table in
// conv2d_cpu_choice.cpp for the U-Nets' layers, im2col for other shapes.
Conv2dCpuVariant conv2d_cpu_default_variant(const Conv2dShape& s, Conv2dCpuPass pass);
// Same semantics as conv2d_forward_cpu / conv2d_backward_data_cpu; throw std::invalid_argument for
// a shape where conv2d_winograd_applies is false.
void conv2d_forward_cpu_winograd(const Conv2dShape& s, const float* x, const float* w,
                                 const float* bias /*nullable*/, float* y, bool relu);
void conv2d_backward_data_cpu_winograd(const Conv2dShape& s, const float* dy, const float* w,
                                       const float* relu_y /*nullable*/, float* dx);
// Same semantics as the conv2d_*_cpu functions; throw std::invalid_argument where
// conv2d_direct_applies is false for the pass.
void conv2d_forward_cpu_direct(const Conv2dShape& s, const float* x, const float* w,
                               const float* bias /*nullable*/, float* y, bool relu);
void conv2d_backward_data_cpu_direct(const Conv2dShape& s, const float* dy, const float* w,
                                     const float* relu_y /*nullable*/, float* dx);
void conv2d_backward_weight_cpu_direct(const Conv2dShape& s, const float* x, const float* dy,
                                       const float* relu_y /*nullable*/, float* dw,
                                       float* dbias /*nullable*/);

// ---- CUDA (conv2d_cuda_*.cu): numbered variants, all pointers are device pointers. ----
enum class Conv2dVariant : int {
  kV1Naive = 1,             // one thread per output element, direct loops (exact fp32)
  kV2Tiled = 2,             // shared-memory tiled implicit GEMM on CUDA cores (exact fp32)
  kV3ImplicitGemmTf32 = 3,  // implicit GEMM on tensor cores (TF32 mma), fused epilogue
};
inline constexpr VariantInfo kConv2dVariantRows[] = {
    {1, "v1_naive", false}, {2, "v2_tiled", false}, {3, "v3_tf32", true}};
// Defaults by measurement (docs/PERFORMANCE.md, H200, 2026-11-26): v3 ran at 0.6-1.1x of v2's
// speed and the whole TF32 training step was slower than the fp32 one, so TF32 mode keeps v2
// until a tensor-core variant is faster.
inline constexpr VariantTable kConv2dVariants{"conv2d", kConv2dVariantRows, 2, 2};

// Scratch bytes a call needs (0 when none). The caller passes a device buffer at least this big.
size_t conv2d_forward_workspace_bytes(Conv2dVariant v, const Conv2dShape& s);
size_t conv2d_backward_data_workspace_bytes(Conv2dVariant v, const Conv2dShape& s);
size_t conv2d_backward_weight_workspace_bytes(Conv2dVariant v, const Conv2dShape& s);

void conv2d_forward_cuda(Conv2dVariant v, const Conv2dShape& s, const float* x, const float* w,
                         const float* bias, float* y, bool relu, void* workspace, Stream stream);
void conv2d_backward_data_cuda(Conv2dVariant v, const Conv2dShape& s, const float* dy,
                               const float* w, const float* relu_y, float* dx, void* workspace,
                               Stream stream);
// Deterministic in every variant: reductions over N*P*Q run in a fixed order (split-K partial sums
// in the workspace, then a fixed-order second pass), never float atomics.
void conv2d_backward_weight_cuda(Conv2dVariant v, const Conv2dShape& s, const float* x,
                                 const float* dy, const float* relu_y, float* dw, float* dbias,
                                 void* workspace, Stream stream);

}  // namespace unet::kernels
