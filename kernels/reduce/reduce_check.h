// Argument checks shared by the CPU and CUDA reduce paths (defined in reduce_cpu_ref.cpp).
#pragma once

#include <cstdint>

namespace unet::kernels::detail {

void sum_check_args(const char* op, int64_t n, const void* x, const void* out);
void channel_sum_check_args(const char* op, int64_t pixels, int C, const void* x, const void* out);

}  // namespace unet::kernels::detail
