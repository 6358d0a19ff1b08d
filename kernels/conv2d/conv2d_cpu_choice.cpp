// Which CPU conv variant runs a shape by default: a measured table, like the GPU tile tables.
//
// Three variants compete per layer, pass and batch: im2col + OpenBLAS (1), Winograd F(2x2, 3x3)
// (2, forward and backward-data of 3x3 / stride 1 / pad 1 convs) and the direct NHWC conv (3,
// every pass). Winograd does 2.25x fewer multiplies but pays for transforms and thin GEMMs; it
// wins on the deep layers with many tiles. The direct conv has no im2col buffer and no thin-GEMM
// overhead; it wins on the wide, shallow layers (16 to 64 channels at 64x64 and up) and loses to
// OpenBLAS's cache blocking on the deep ones (256 or 512 channels at 16x16 and 32x32).
//
// Each row is one 3x3 layer of the U-Nets the product trains (the seed network at 256x256, batch
// 1 and 10; the demo's and train_step_bench's 128x128 networks, batch 10), measured with
// scripts/measure_conv_cpu_choice.sh (conv_cpu_bench, 3 rounds, random interleaving) on the 2-core
// development machine, 2026-12-03, and turned into rows by bench/conv_cpu_choice.py: a variant
// replaces im2col where its median was at least 1.10x faster and it won every round, the fastest
// such variant wins; parity and noise stay on im2col. The measured ratios are in
// kernels/conv2d/README.md. Two rows whose 3-round result had one outlier round were measured
// again with 5 rounds (conv_cpu_choice_2026-12-03_seed_n10_256_rerun5.json) and are marked. A
// shape runs the row of its layer with the nearest measured batch
// (geometrically: batch 1 up to 3, batch 10 from 4); shapes not in the table run im2col.
#include "kernels/common/measured_choice.h"
#include "kernels/conv2d/conv2d.h"

namespace unet::kernels {
namespace {

constexpr Conv2dCpuVariant IM = Conv2dCpuVariant::kIm2col, WG = Conv2dCpuVariant::kWinogradF2,
                           DI = Conv2dCpuVariant::kDirect;

struct MeasuredChoice {
  int N, H, W, C, K;            // the measured layer (input N x H x W x C, K filters, 3x3 pad 1)
  Conv2dCpuVariant variant[3];  // forward, backward-data, backward-weight
};

constexpr MeasuredChoice kMeasured[] = {
    // clang-format off: one measured layer per line
    // N, H, W, C, K, {forward, backward-data, backward-weight}
    {1, 256, 256, 1, 32, {DI, IM, IM}},
    {1, 256, 256, 32, 32, {DI, DI, DI}},
    {1, 256, 256, 64, 32, {DI, DI, DI}},
    {1, 128, 128, 32, 64, {DI, DI, DI}},
    {1, 128, 128, 64, 64, {DI, DI, DI}},
    {1, 128, 128, 128, 64, {WG, WG, DI}},
    {1, 64, 64, 64, 128, {DI, IM, IM}},
    {1, 64, 64, 128, 128, {IM, DI, IM}},
    {1, 64, 64, 256, 128, {WG, WG, IM}},
    {1, 32, 32, 128, 256, {IM, IM, IM}},
    {1, 32, 32, 256, 256, {IM, IM, IM}},
    {1, 32, 32, 512, 256, {IM, WG, IM}},
    {1, 16, 16, 256, 512, {IM, IM, IM}},
    {1, 16, 16, 512, 512, {IM, IM, IM}},
    {10, 256, 256, 1, 32, {DI, IM, DI}},
    {10, 256, 256, 32, 32, {DI, DI, DI}},  // 5-round rerun: forward 2.05x (1.76-2.54)
    {10, 256, 256, 64, 32, {DI, DI, DI}},  // 5-round rerun: backward-data 1.68x (1.58-2.25)
    {10, 128, 128, 1, 16, {DI, IM, DI}},
    {10, 128, 128, 1, 32, {DI, IM, DI}},
    {10, 128, 128, 16, 16, {DI, DI, DI}},
    {10, 128, 128, 32, 16, {DI, DI, DI}},
    {10, 128, 128, 32, 32, {DI, DI, DI}},
    {10, 128, 128, 32, 64, {DI, DI, DI}},
    {10, 128, 128, 64, 32, {DI, DI, DI}},
    {10, 128, 128, 64, 64, {DI, DI, DI}},
    {10, 128, 128, 128, 64, {WG, WG, IM}},
    {10, 64, 64, 16, 32, {DI, DI, DI}},
    {10, 64, 64, 32, 32, {DI, DI, DI}},
    {10, 64, 64, 32, 64, {DI, DI, DI}},
    {10, 64, 64, 64, 32, {DI, DI, DI}},
    {10, 64, 64, 64, 64, {IM, DI, DI}},
    {10, 64, 64, 64, 128, {WG, WG, IM}},
    {10, 64, 64, 128, 64, {WG, WG, DI}},
    {10, 64, 64, 128, 128, {DI, DI, IM}},
    {10, 64, 64, 256, 128, {WG, IM, IM}},
    {10, 32, 32, 32, 64, {DI, DI, DI}},
    {10, 32, 32, 64, 64, {DI, DI, DI}},
    {10, 32, 32, 64, 128, {DI, DI, IM}},
    {10, 32, 32, 128, 64, {DI, DI, DI}},
    {10, 32, 32, 128, 128, {DI, DI, IM}},
    {10, 32, 32, 128, 256, {WG, WG, IM}},
    {10, 32, 32, 256, 128, {WG, WG, IM}},
    {10, 32, 32, 256, 256, {WG, IM, IM}},
    {10, 32, 32, 512, 256, {WG, WG, IM}},
    {10, 16, 16, 64, 128, {IM, IM, IM}},
    {10, 16, 16, 128, 128, {IM, IM, IM}},
    {10, 16, 16, 128, 256, {WG, IM, IM}},
    {10, 16, 16, 256, 128, {IM, IM, IM}},
    {10, 16, 16, 256, 256, {WG, WG, IM}},
    {10, 16, 16, 256, 512, {WG, WG, IM}},
    {10, 16, 16, 512, 256, {WG, WG, IM}},
    {10, 16, 16, 512, 512, {IM, WG, IM}},
    {10, 8, 8, 128, 256, {IM, IM, IM}},
    {10, 8, 8, 256, 256, {IM, IM, IM}},
    {10, 8, 8, 256, 512, {IM, IM, IM}},
    {10, 8, 8, 512, 512, {IM, IM, IM}},
    // clang-format on
};

}  // namespace

Conv2dCpuVariant conv2d_cpu_default_variant(const Conv2dShape& s, Conv2dCpuPass pass) {
  const bool three_by_three =
      s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 1 && s.pad_w == 1;
  if (!three_by_three) return Conv2dCpuVariant::kIm2col;
  const MeasuredChoice* best = nearest_measured_row(kMeasured, s.N, [&](const MeasuredChoice& row) {
    return row.H == s.H && row.W == s.W && row.C == s.C && row.K == s.K;
  });
  if (!best) return Conv2dCpuVariant::kIm2col;
  const Conv2dCpuVariant v = best->variant[static_cast<int>(pass)];
  // A row measured where the direct conv was built may name it on a build without it.
  return v == Conv2dCpuVariant::kDirect && !conv2d_direct_applies(s, pass)
             ? Conv2dCpuVariant::kIm2col
             : v;
}

}  // namespace unet::kernels
