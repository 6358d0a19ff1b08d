// Argument checks shared by the CPU and CUDA max_pool2d paths (defined in max_pool2d_cpu_ref.cpp),
// so every backend rejects the same inputs with the same message.
#pragma once

#include <initializer_list>
#include <utility>

#include "kernels/max_pool2d/max_pool2d.h"

namespace unet::kernels::detail {

// Throws std::invalid_argument naming `op`, the shape and what to change. `ptrs` lists the
// (name, pointer) pairs that must not be null.
void max_pool2d_check_args(const char* op, const MaxPool2dShape& s,
                           std::initializer_list<std::pair<const char*, const void*>> ptrs);

}  // namespace unet::kernels::detail
