// sgd's CUDA entry point in a build without the CUDA backend (compiled instead of sgd_cuda.cu): it
// reports that there is no CUDA backend (kernels/common/no_cuda.h).
#include "kernels/common/no_cuda.h"
#include "kernels/sgd/sgd.h"

namespace unet::kernels {

void sgd_step_cuda(const SgdHyper&, const ParamSlot*, int, Stream) {
  throw_no_cuda_backend("sgd_step_cuda");
}

}  // namespace unet::kernels
