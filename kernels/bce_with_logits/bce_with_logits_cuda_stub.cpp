// bce_with_logits CUDA entry points in a build without the CUDA backend (compiled instead of
// bce_with_logits_cuda.cu): each reports that there is no CUDA backend (kernels/common/no_cuda.h).
#include "kernels/bce_with_logits/bce_with_logits.h"
#include "kernels/common/no_cuda.h"

namespace unet::kernels {

size_t bce_with_logits_cuda_workspace_bytes(int64_t) {
  throw_no_cuda_backend("bce_with_logits_cuda_workspace_bytes");
}
void bce_with_logits_forward_cuda(int64_t, const float*, const float*, float*, void*, Stream) {
  throw_no_cuda_backend("bce_with_logits_forward_cuda");
}
void bce_with_logits_backward_cuda(int64_t, const float*, const float*, const float*, float*,
                                   Stream) {
  throw_no_cuda_backend("bce_with_logits_backward_cuda");
}

}  // namespace unet::kernels
