// Argument checks shared by the CPU and CUDA concat paths (defined in concat_cpu_ref.cpp).
#pragma once

#include <initializer_list>
#include <utility>

#include "kernels/concat/concat.h"

namespace unet::kernels::detail {

// Throws std::invalid_argument naming `op`, the shape and what to change.
void concat_check_args(const char* op, const ConcatShape& s,
                       std::initializer_list<std::pair<const char*, const void*>> ptrs);

}  // namespace unet::kernels::detail
