// concat's CUDA entry points in a build without the CUDA backend (kernels/common/no_cuda.h): each
// throws "this build has no CUDA backend". CMake compiles this file only when concat_cuda.cu is
// left out, so callers link the same way in every build.

#include "kernels/common/no_cuda.h"
#include "kernels/concat/concat.h"

namespace unet::kernels {

void concat_forward_cuda(ConcatVariant, const ConcatShape&, const float*, const float*, float*,
                         Stream) {
  throw_no_cuda_backend("concat_forward_cuda");
}

void concat_backward_cuda(ConcatVariant, const ConcatShape&, const float*, float*, float*, Stream) {
  throw_no_cuda_backend("concat_backward_cuda");
}

}  // namespace unet::kernels
