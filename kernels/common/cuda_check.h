// Checks for CUDA calls and kernel launches inside kernels/*.cu. A failure throws
// std::runtime_error naming the call, the file and line, and CUDA's own message, so the app's main
// can print one line.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace unet::kernels {

inline void cuda_check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error in ") + what + " at " + file + ":" +
                             std::to_string(line) + ": " + cudaGetErrorString(status));
  }
}

}  // namespace unet::kernels

#define UNET_CUDA_CHECK(call) ::unet::kernels::cuda_check((call), #call, __FILE__, __LINE__)
// After a <<<...>>> launch: catches bad launch configurations at once (asynchronous faults surface
// at the next synchronising call, which is checked too).
#define UNET_CUDA_CHECK_LAUNCH(name) \
  ::unet::kernels::cuda_check(cudaGetLastError(), "launch of " name, __FILE__, __LINE__)
