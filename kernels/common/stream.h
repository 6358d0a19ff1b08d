// A CUDA stream handle that plain C++ files can name without including CUDA headers.
// cudaStream_t is `struct CUstream_st*`, so this type is the same one.
// nullptr is the legacy stream.
#pragma once

struct CUstream_st;

namespace unet::kernels {
using Stream = CUstream_st*;
}  // namespace unet::kernels
