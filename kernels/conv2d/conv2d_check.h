// Argument checks shared by the conv2d paths (defined in conv2d_cpu_ref.cpp): the reference and the
// CPU fast path reject the same inputs with the same messages, and every backend's messages print
// the shape the same way.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

#include "kernels/conv2d/conv2d.h"

namespace unet::kernels::detail {

// "N=2 H=7 W=5 C=3 K=4 R=3 S=3 pad=1,1 stride=1,1": how every conv2d error message names a shape.
std::string conv2d_shape_string(const Conv2dShape& s);

// Throws std::invalid_argument naming `op`, the shape and what to change. `ptrs` lists the
// (name, pointer) pairs that must not be null (nullable arguments are simply not passed).
void conv2d_check_args(const char* op, const Conv2dShape& s,
                       std::initializer_list<std::pair<const char*, const void*>> ptrs);

// Throws std::invalid_argument naming `op` unless conv2d_winograd_applies(s).
void conv2d_check_winograd(const char* op, const Conv2dShape& s);

// Throws std::invalid_argument naming `op` unless conv2d_direct_applies(s, pass).
void conv2d_check_direct(const char* op, const Conv2dShape& s, Conv2dCpuPass pass);

}  // namespace unet::kernels::detail
