// The direct conv's register-tile loop for other CPU kernels (conv2d_cpu_direct.cpp): a 1x1 conv
// whose output pixels land at arbitrary strides, which is one tap of a 2x2 stride-2 transposed
// conv (kernels/conv_transpose2d/conv_transpose2d_cpu_direct.cpp).
#pragma once

#include <cstdint>

namespace unet::kernels::detail {

// y[n*out_image + h*out_row + w*out_pixel + k] = bias[k] + sum_c x[n][h][w][c] * w[c*w_c_stride + k]
// for an input x of N x H x W x C and K outputs (bias nullable). Needs conv2d_direct_available().
struct PointwiseStrided {
  int N, H, W, C, K;
  const float* x;
  const float* w;
  int64_t w_c_stride;
  const float* bias;
  float* y;
  int64_t out_image, out_row, out_pixel;
};
void conv2d_direct_pointwise_strided(const PointwiseStrided& p);

}  // namespace unet::kernels::detail
