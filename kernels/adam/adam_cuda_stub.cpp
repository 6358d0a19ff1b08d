// adam's CUDA entry point in a build without the CUDA backend (compiled instead of adam_cuda.cu):
// it reports that there is no CUDA backend (kernels/common/no_cuda.h).
#include "kernels/adam/adam.h"
#include "kernels/common/no_cuda.h"

namespace unet::kernels {

void adam_step_cuda(const AdamHyper&, const ParamSlot*, int, Stream) {
  throw_no_cuda_backend("adam_step_cuda");
}

}  // namespace unet::kernels
