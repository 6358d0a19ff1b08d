// Which CPU conv variant runs a shape by default: a measured table, like the GPU tile tables.
//
// Winograd F(2x2, 3x3) (variant 2) does 2.25x fewer multiplies in its GEMMs than im2col (variant
// 1) but adds input and output transforms per 2x2 tile and splits the work into 16 GEMMs whose
// column count is the tile count N*H*W/4. It wins where the GEMMs are large (many channels, many
// tiles) and loses where the transforms dominate (1 input channel) or the GEMMs get thin (batch 1
// at 16x16 or 32x32: 64 to 256 tiles).
//
// Each row is one 3x3 layer of the seed U-Net (256x256 input, base 32), measured with
// bench/conv_cpu_bench (UNET_CONV_BENCH_BATCH=10 and =1, --benchmark_repetitions=3
// --benchmark_enable_random_interleaving=true, rows (fwd|bwd_data)/(cpu|winograd)) on the 2-core
// development machine, quiet, 2026-12-02; the ratios are in docs/PERFORMANCE.md. A pass runs
// Winograd where its median was at least 1.10x im2col and it won in every round; parity and noise
// stay on im2col, which is also the more accurate of the two. A batch uses the row of the nearest
// measured batch (1 or 10). Shapes not in the table run im2col until someone measures them.
#include "kernels/conv2d/conv2d.h"

namespace unet::kernels {
namespace {

struct MeasuredChoice {
  int H, W, C, K;
  // Winograd for [pass][batch class]: pass 0 forward, 1 backward-data; class 0 N=1, 1 N=10.
  bool winograd[2][2];
};

constexpr bool WG = true, IM = false;  // Winograd, im2col
constexpr MeasuredChoice kSeedLayers[] = {
    //  H    W    C    K     forward {N=1, N=10}  backward-data {N=1, N=10}
    {256, 256, 1, 32, {{IM, IM}, {IM, IM}}},    // enc0.conv1: transforms of 1 channel dominate
    {256, 256, 32, 32, {{IM, IM}, {IM, IM}}},   // enc0.conv2, dec0.conv2: 0.75x-1.14x, noisy
    {256, 256, 64, 32, {{WG, WG}, {WG, WG}}},   // dec0.conv1: 1.26x-2.56x
    {128, 128, 32, 64, {{IM, WG}, {IM, WG}}},   // enc1.conv1: 0.80x at N=1, 1.45x at N=10
    {128, 128, 64, 64, {{IM, IM}, {WG, IM}}},   // enc1.conv2, dec1.conv2: 0.93x-1.13x
    {128, 128, 128, 64, {{WG, WG}, {WG, WG}}},  // dec1.conv1: 1.40x-1.91x
    {64, 64, 64, 128, {{IM, WG}, {IM, WG}}},    // enc2.conv1
    {64, 64, 128, 128, {{IM, WG}, {IM, WG}}},   // enc2.conv2, dec2.conv2
    {64, 64, 256, 128, {{WG, WG}, {WG, WG}}},   // dec2.conv1: 1.32x-1.93x
    {32, 32, 128, 256, {{IM, WG}, {IM, WG}}},   // enc3.conv1
    {32, 32, 256, 256, {{IM, WG}, {IM, WG}}},   // enc3.conv2, dec3.conv2
    {32, 32, 512, 256, {{IM, WG}, {IM, WG}}},   // dec3.conv1
    {16, 16, 256, 512, {{IM, WG}, {IM, WG}}},   // enc4.conv1: 0.67x at N=1, 1.34x at N=10
    {16, 16, 512, 512, {{IM, WG}, {IM, WG}}},   // enc4.conv2
};

}  // namespace

Conv2dCpuVariant conv2d_cpu_default_variant(const Conv2dShape& s, Conv2dCpuPass pass) {
  if (!conv2d_winograd_applies(s) || pass == Conv2dCpuPass::kBackwardWeight)
    return Conv2dCpuVariant::kIm2col;
  const int batch_class = s.N >= 4 ? 1 : 0;  // nearer to 10 than to 1 (geometrically, ~3.2)
  const int p = pass == Conv2dCpuPass::kForward ? 0 : 1;
  for (const MeasuredChoice& row : kSeedLayers) {
    if (row.H == s.H && row.W == s.W && row.C == s.C && row.K == s.K) {
      return row.winograd[p][batch_class] ? Conv2dCpuVariant::kWinogradF2
                                          : Conv2dCpuVariant::kIm2col;
    }
  }
  return Conv2dCpuVariant::kIm2col;
}

}  // namespace unet::kernels
