// batch_norm2d's CUDA entry points in a build without the CUDA backend (kernels/common/no_cuda.h):
// each throws "this build has no CUDA backend". CMake compiles this file only when
// batch_norm2d_cuda.cu is left out, so callers link the same way in every build.

#include "kernels/batch_norm2d/batch_norm2d.h"
#include "kernels/common/no_cuda.h"

namespace unet::kernels {

size_t batch_norm2d_cuda_workspace_bytes(const BatchNormShape&) {
  throw_no_cuda_backend("batch_norm2d_cuda_workspace_bytes");
}

void batch_norm2d_forward_train_cuda(const BatchNormShape&, const float*, const float*,
                                     const float*, float, float, float*, float*, float*, float*,
                                     float*, void*, Stream) {
  throw_no_cuda_backend("batch_norm2d_forward_train_cuda");
}

void batch_norm2d_forward_eval_cuda(const BatchNormShape&, const float*, const float*, const float*,
                                    const float*, const float*, float, float*, Stream) {
  throw_no_cuda_backend("batch_norm2d_forward_eval_cuda");
}

void batch_norm2d_backward_cuda(const BatchNormShape&, const float*, const float*, const float*,
                                const float*, const float*, float*, float*, float*, void*, Stream) {
  throw_no_cuda_backend("batch_norm2d_backward_cuda");
}

}  // namespace unet::kernels
