// For builds without the CUDA backend (UNET_CUDA=OFF, or no nvcc): every kernels/<op>/ has an
// <op>_cuda_stub.cpp that defines the op's CUDA entry points with one line each, calling this, so
// that the engine's op front-ends and the tests compile and link the same way in every build and
// need no #ifdef. In a CUDA build the stub files are left out and the .cu files define the real
// entry points.
#pragma once

#include <stdexcept>
#include <string>

namespace unet::kernels {

[[noreturn]] inline void throw_no_cuda_backend(const char* entry_point) {
  throw std::runtime_error(std::string(entry_point) +
                           ": this build has no CUDA backend (built with UNET_CUDA=OFF or without "
                           "nvcc); rebuild with the CUDA toolkit or run on the CPU");
}

}  // namespace unet::kernels
