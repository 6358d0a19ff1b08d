// max_pool2d's CUDA entry points in a build without the CUDA backend (kernels/common/no_cuda.h):
// each throws "this build has no CUDA backend". CMake compiles this file only when
// max_pool2d_cuda.cu is left out, so callers link the same way in every build.

#include "kernels/common/no_cuda.h"
#include "kernels/max_pool2d/max_pool2d.h"

namespace unet::kernels {

void max_pool2d_forward_cuda(MaxPool2dVariant, const MaxPool2dShape&, const float*, float*,
                             Stream) {
  throw_no_cuda_backend("max_pool2d_forward_cuda");
}

void max_pool2d_backward_cuda(MaxPool2dVariant, const MaxPool2dShape&, const float*, const float*,
                              float*, Stream) {
  throw_no_cuda_backend("max_pool2d_backward_cuda");
}

}  // namespace unet::kernels
