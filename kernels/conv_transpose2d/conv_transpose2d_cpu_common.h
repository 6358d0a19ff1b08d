// Shared by the CPU conv_transpose2d paths (conv_transpose2d_cpu.cpp, *_cpu_direct.cpp).
#pragma once

#include "kernels/conv_transpose2d/conv_transpose2d.h"

namespace unet::kernels::detail {

// dbias[k] = sum over the N*P*Q pixels of dy[.][k]: double partial sums over fixed 256-pixel
// blocks in parallel, then the blocks in order, so the result does not depend on the thread count.
void conv_transpose2d_bias_grad_cpu(const ConvTranspose2dShape& s, const float* dy, float* dbias);

}  // namespace unet::kernels::detail
