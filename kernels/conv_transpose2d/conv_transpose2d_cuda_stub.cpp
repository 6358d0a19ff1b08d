// conv_transpose2d's CUDA entry points in a build without the CUDA backend
// (kernels/common/no_cuda.h): each throws "this build has no CUDA backend". CMake compiles this
// file only when the conv_transpose2d_cuda_*.cu files are left out, so callers link the same way
// in every build.

#include "kernels/common/no_cuda.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"

namespace unet::kernels {

bool conv_transpose2d_variant_supports(ConvTranspose2dVariant, const ConvTranspose2dShape&) {
  throw_no_cuda_backend("conv_transpose2d_variant_supports");
}

size_t conv_transpose2d_backward_weight_workspace_bytes(ConvTranspose2dVariant,
                                                        const ConvTranspose2dShape&) {
  throw_no_cuda_backend("conv_transpose2d_backward_weight_workspace_bytes");
}

void conv_transpose2d_forward_cuda(ConvTranspose2dVariant, const ConvTranspose2dShape&,
                                   const float*, const float*, const float*, float*, Stream) {
  throw_no_cuda_backend("conv_transpose2d_forward_cuda");
}

void conv_transpose2d_backward_data_cuda(ConvTranspose2dVariant, const ConvTranspose2dShape&,
                                         const float*, const float*, float*, Stream) {
  throw_no_cuda_backend("conv_transpose2d_backward_data_cuda");
}

void conv_transpose2d_backward_weight_cuda(ConvTranspose2dVariant, const ConvTranspose2dShape&,
                                           const float*, const float*, float*, float*, void*,
                                           Stream) {
  throw_no_cuda_backend("conv_transpose2d_backward_weight_cuda");
}

}  // namespace unet::kernels
