// Argument checks shared by every conv_transpose2d backend (CPU reference, CPU fast path, CUDA),
// so all of them reject the same inputs with the same one-line messages.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

#include "kernels/conv_transpose2d/conv_transpose2d.h"

namespace unet::kernels::detail {

// "N=.. H=.. W=.. C=.. K=.. R=.. S=.. stride=..,.." for error messages.
std::string conv_transpose2d_shape_string(const ConvTranspose2dShape& s);

// Throws std::invalid_argument "<op>: <problem> (shape ...)" when a dimension is < 1 or one of the
// named pointers is null (nullable arguments are simply not listed).
void conv_transpose2d_check_args(const char* op, const ConvTranspose2dShape& s,
                                 std::initializer_list<std::pair<const char*, const void*>> ptrs);

}  // namespace unet::kernels::detail
