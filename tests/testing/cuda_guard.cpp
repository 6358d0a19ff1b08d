#include "tests/testing/cuda_guard.h"

#ifdef UNET_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace unet::testing {

bool cuda_backend_built() {
#ifdef UNET_HAS_CUDA
  return true;
#else
  return false;
#endif
}

std::string cuda_unavailable_reason() {
#ifdef UNET_HAS_CUDA
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error for later calls
    return std::string("no CUDA device present (") + cudaGetErrorString(status) + ")";
  }
  if (count == 0) return "no CUDA device present";
  return "";
#else
  return "built without the CUDA backend (UNET_CUDA=OFF or nvcc not found)";
#endif
}

}  // namespace unet::testing
