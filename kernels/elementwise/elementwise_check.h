// Argument checks shared by the CPU and CUDA elementwise paths (defined in
// elementwise_cpu_ref.cpp), so every backend rejects the same inputs with the same message.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>

namespace unet::kernels::detail {

// n must be >= 0; when n > 0 every listed pointer must be non-null.
void elementwise_check_args(const char* op, int64_t n,
                            std::initializer_list<std::pair<const char*, const void*>> ptrs);
// bias_add: pixels >= 0, C >= 1, pointers non-null when there is work.
void bias_add_check_args(const char* op, int64_t pixels, int C, const void* bias, const void* y);

}  // namespace unet::kernels::detail
