// Shape builders and descriptions shared by the CPU and CUDA tests of the same kernel, so both
// backends are driven by one definition of each shape.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/concat/concat.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"
#include "kernels/max_pool2d/max_pool2d.h"

namespace unet::testing {

inline kernels::ConvTranspose2dShape conv_transpose2d_shape(int N, int H, int W, int C, int K,
                                                            int R, int S, int stride_h,
                                                            int stride_w) {
  kernels::ConvTranspose2dShape s;
  s.N = N, s.H = H, s.W = W, s.C = C, s.K = K, s.R = R, s.S = S;
  s.stride_h = stride_h, s.stride_w = stride_w;
  return s;
}

inline std::string describe(const kernels::ConvTranspose2dShape& s) {
  return "N" + std::to_string(s.N) + " H" + std::to_string(s.H) + " W" + std::to_string(s.W) +
         " C" + std::to_string(s.C) + " K" + std::to_string(s.K) + " R" + std::to_string(s.R) +
         " S" + std::to_string(s.S) + " stride" + std::to_string(s.stride_h) + "," +
         std::to_string(s.stride_w);
}

inline kernels::MaxPool2dShape max_pool2d_shape(int N, int H, int W, int C, int R = 2, int S = 2,
                                                int stride_h = 2, int stride_w = 2) {
  kernels::MaxPool2dShape s;
  s.N = N, s.H = H, s.W = W, s.C = C, s.R = R, s.S = S;
  s.stride_h = stride_h, s.stride_w = stride_w;
  return s;
}

inline kernels::ConcatShape concat_shape(int64_t pixels, int C1, int C2) {
  kernels::ConcatShape s;
  s.pixels = pixels;
  s.C1 = C1;
  s.C2 = C2;
  return s;
}

}  // namespace unet::testing
