// conv2d's CUDA entry points in a build without the CUDA backend (kernels/common/no_cuda.h): each
// throws "no CUDA backend", so callers and tests link the same way in every build. CMake compiles
// this file only when the conv2d_cuda_*.cu files are left out.
#include "kernels/common/no_cuda.h"
#include "kernels/conv2d/conv2d.h"

namespace unet::kernels {

size_t conv2d_forward_workspace_bytes(Conv2dVariant, const Conv2dShape&) {
  throw_no_cuda_backend("conv2d_forward_workspace_bytes");
}
size_t conv2d_backward_data_workspace_bytes(Conv2dVariant, const Conv2dShape&) {
  throw_no_cuda_backend("conv2d_backward_data_workspace_bytes");
}
size_t conv2d_backward_weight_workspace_bytes(Conv2dVariant, const Conv2dShape&) {
  throw_no_cuda_backend("conv2d_backward_weight_workspace_bytes");
}

void conv2d_forward_cuda(Conv2dVariant, const Conv2dShape&, const float*, const float*,
                         const float*, float*, bool, void*, Stream) {
  throw_no_cuda_backend("conv2d_forward_cuda");
}
void conv2d_backward_data_cuda(Conv2dVariant, const Conv2dShape&, const float*, const float*,
                               const float*, float*, void*, Stream) {
  throw_no_cuda_backend("conv2d_backward_data_cuda");
}
void conv2d_backward_weight_cuda(Conv2dVariant, const Conv2dShape&, const float*, const float*,
                                 const float*, float*, float*, void*, Stream) {
  throw_no_cuda_backend("conv2d_backward_weight_cuda");
}

}  // namespace unet::kernels
