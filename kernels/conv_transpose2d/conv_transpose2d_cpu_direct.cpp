// conv_transpose2d CPU variant 2: the direct conv's register tiles (kernels/conv2d, variant 3)
// instead of a GEMM plus scatter/gather. No new inner loop: each pass is a direct conv.
//
//   forward (R == stride_h, S == stride_w, the U-Net's 2x2 stride 2): each tap (r, s) is a 1x1
//     conv of x (C -> K channels) whose output pixel (n, h, w) is y[n, h*stride_h + r,
//     w*stride_w + s]: the taps write disjoint pixels, so four strided 1x1 convs fill y with no
//     scatter pass and no column buffer (the GEMM path writes and reads back N*H*W*R*S*K floats).
//   backward-data: dx[n,h,w,c] = sum_{r,s,k} dy[n, h*stride_h + r, w*stride_w + s, k] *
//     wt[c,r,s,k], which is the forward conv2d of dy (K channels in, C out, R x S kernel, the
//     transposed conv's stride, no padding) with wt as its KRSC filter (CRSK is exactly that).
//   backward-weight: dwt[c,r,s,k] = sum_{n,h,w} x[n,h,w,c] * dy[n, h*stride_h + r, ...] is that
//     conv2d's backward-weight with dy as its input and x as its output gradient; dbias is the
//     column sums of dy, shared with the GEMM path.
//
// Forward needs the non-overlapping case; backward-data and backward-weight take any R, S, stride.
#include <stdexcept>
#include <string>

#include "kernels/common/measured_choice.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_cpu_direct.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"
#include "kernels/conv_transpose2d/conv_transpose2d_check.h"
#include "kernels/conv_transpose2d/conv_transpose2d_cpu_common.h"

namespace unet::kernels {
namespace {

// The measured table: every up-convolution (2x2, stride 2) of the seed U-Net (batch 1 and 10) and
// of the 128x128 networks (batch 10), by scripts/measure_conv_cpu_choice.sh's method
// (conv_cpu_bench, 3 rounds, random interleaving; bench/conv_cpu_choice.py --convt, the same rule
// as conv2d's: direct where its median was at least 1.10x the GEMM path's and it won every round),
// 2026-12-03, bench/results/convt_cpu_choice_2026-12-03_*.json. The direct tiles win where the
// channels are few (the GEMM is thin) and lose to OpenBLAS on the deep layers. H, W are the
// input's; the nearest measured batch decides.
constexpr ConvTranspose2dCpuVariant GM = ConvTranspose2dCpuVariant::kGemm,
                                    DI = ConvTranspose2dCpuVariant::kDirect;
struct MeasuredChoice {
  int N, H, W, C, K;
  ConvTranspose2dCpuVariant variant[3];  // forward, backward-data, backward-weight
};
constexpr MeasuredChoice kMeasured[] = {
    // clang-format off: one measured layer per line
    // N, H, W, C, K, {forward, backward-data, backward-weight}
    {1, 128, 128, 64, 32, {DI, GM, DI}},  {1, 64, 64, 128, 64, {DI, GM, GM}},
    {1, 32, 32, 256, 128, {GM, GM, GM}},  {1, 16, 16, 512, 256, {GM, GM, GM}},
    {10, 128, 128, 64, 32, {GM, GM, DI}}, {10, 64, 64, 32, 16, {DI, GM, DI}},
    {10, 64, 64, 64, 32, {GM, GM, DI}},   {10, 64, 64, 128, 64, {GM, GM, GM}},
    {10, 32, 32, 64, 32, {DI, GM, DI}},   {10, 32, 32, 128, 64, {DI, GM, GM}},
    {10, 32, 32, 256, 128, {GM, GM, GM}}, {10, 16, 16, 128, 64, {GM, GM, GM}},
    {10, 16, 16, 256, 128, {GM, GM, GM}}, {10, 16, 16, 512, 256, {GM, GM, GM}},
    {10, 8, 8, 256, 128, {GM, GM, GM}},   {10, 8, 8, 512, 256, {GM, GM, GM}},
    // clang-format on
};

// The conv2d whose forward is this transposed conv's backward-data.
Conv2dShape adjoint_conv(const ConvTranspose2dShape& s) {
  Conv2dShape c;
  c.N = s.N, c.H = s.P(), c.W = s.Q(), c.C = s.K, c.K = s.C, c.R = s.R, c.S = s.S;
  c.stride_h = s.stride_h, c.stride_w = s.stride_w;
  return c;
}

void check_direct(const char* op, const ConvTranspose2dShape& s, bool forward) {
  if (!conv_transpose2d_direct_applies(s, forward)) {
    throw std::invalid_argument(
        std::string(op) +
        (conv2d_direct_available()
             ? ": the direct forward needs R == stride_h and S == stride_w (non-overlapping "
               "taps); use conv_transpose2d_forward_cpu"
             : ": the direct conv was not built (it needs a compiler target with AVX2 and FMA)"));
  }
}

}  // namespace

ConvTranspose2dCpuVariant conv_transpose2d_cpu_default_variant(const ConvTranspose2dShape& s,
                                                               ConvTranspose2dCpuPass pass) {
  if (s.R != 2 || s.S != 2 || s.stride_h != 2 || s.stride_w != 2 || !conv2d_direct_available())
    return ConvTranspose2dCpuVariant::kGemm;
  const MeasuredChoice* best = nearest_measured_row(kMeasured, s.N, [&](const MeasuredChoice& row) {
    return row.H == s.H && row.W == s.W && row.C == s.C && row.K == s.K;
  });
  return best ? best->variant[static_cast<int>(pass)] : ConvTranspose2dCpuVariant::kGemm;
}

bool conv_transpose2d_direct_applies(const ConvTranspose2dShape& s, bool forward) {
  if (!conv2d_direct_available()) return false;
  return !forward || (s.R == s.stride_h && s.S == s.stride_w);
}

void conv_transpose2d_forward_cpu_direct(const ConvTranspose2dShape& s, const float* x,
                                         const float* w, const float* bias, float* y) {
  detail::conv_transpose2d_check_args("conv_transpose2d_forward_cpu_direct", s,
                                      {{"x", x}, {"w", w}, {"y", y}});
  check_direct("conv_transpose2d_forward_cpu_direct", s, true);
  const int P = s.P(), Q = s.Q(), K = s.K;
  for (int r = 0; r < s.R; ++r)
    for (int t = 0; t < s.S; ++t) {
      detail::PointwiseStrided tap{s.N,
                                   s.H,
                                   s.W,
                                   s.C,
                                   K,
                                   x,
                                   w + (int64_t(r) * s.S + t) * K,
                                   int64_t(s.R) * s.S * K,
                                   bias,
                                   y + (int64_t(r) * Q + t) * K,
                                   int64_t(P) * Q * K,
                                   int64_t(s.stride_h) * Q * K,
                                   int64_t(s.stride_w) * K};
      detail::conv2d_direct_pointwise_strided(tap);
    }
}

void conv_transpose2d_backward_data_cpu_direct(const ConvTranspose2dShape& s, const float* dy,
                                               const float* w, float* dx) {
  detail::conv_transpose2d_check_args("conv_transpose2d_backward_data_cpu_direct", s,
                                      {{"dy", dy}, {"w", w}, {"dx", dx}});
  check_direct("conv_transpose2d_backward_data_cpu_direct", s, false);
  conv2d_forward_cpu_direct(adjoint_conv(s), dy, w, nullptr, dx, false);
}

void conv_transpose2d_backward_weight_cpu_direct(const ConvTranspose2dShape& s, const float* x,
                                                 const float* dy, float* dw, float* dbias) {
  detail::conv_transpose2d_check_args("conv_transpose2d_backward_weight_cpu_direct", s,
                                      {{"x", x}, {"dy", dy}, {"dw", dw}});
  check_direct("conv_transpose2d_backward_weight_cpu_direct", s, false);
  conv2d_backward_weight_cpu_direct(adjoint_conv(s), dy, x, nullptr, dw, nullptr);
  if (dbias) detail::conv_transpose2d_bias_grad_cpu(s, dy, dbias);
}

}  // namespace unet::kernels
