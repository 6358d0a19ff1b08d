// dice_loss CUDA entry points in a build without the CUDA backend (compiled instead of
// dice_loss_cuda.cu): each reports that there is no CUDA backend (kernels/common/no_cuda.h).
#include "kernels/common/no_cuda.h"
#include "kernels/dice_loss/dice_loss.h"

namespace unet::kernels {

size_t dice_loss_cuda_workspace_bytes(int64_t) {
  throw_no_cuda_backend("dice_loss_cuda_workspace_bytes");
}
void dice_loss_forward_cuda(int64_t, const float*, const float*, float, float*, void*, Stream) {
  throw_no_cuda_backend("dice_loss_forward_cuda");
}
void dice_loss_backward_cuda(int64_t, const float*, const float*, float, const float*, const float*,
                             float*, Stream) {
  throw_no_cuda_backend("dice_loss_backward_cuda");
}

}  // namespace unet::kernels
