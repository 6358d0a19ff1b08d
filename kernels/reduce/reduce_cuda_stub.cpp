// reduce's CUDA entry points in a build without the CUDA backend (kernels/common/no_cuda.h): each
// throws "this build has no CUDA backend". CMake compiles this file only when reduce_cuda.cu is
// left out, so callers link the same way in every build.

#include "kernels/common/no_cuda.h"
#include "kernels/reduce/reduce.h"

namespace unet::kernels {

size_t sum_cuda_workspace_bytes(int64_t) { throw_no_cuda_backend("sum_cuda_workspace_bytes"); }

void sum_cuda(int64_t, const float*, float*, void*, Stream) { throw_no_cuda_backend("sum_cuda"); }

size_t channel_sum_cuda_workspace_bytes(int64_t, int) {
  throw_no_cuda_backend("channel_sum_cuda_workspace_bytes");
}

void channel_sum_cuda(int64_t, int, const float*, float*, void*, Stream) {
  throw_no_cuda_backend("channel_sum_cuda");
}

}  // namespace unet::kernels
