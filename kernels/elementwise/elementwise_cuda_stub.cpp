// elementwise's CUDA entry points in a build without the CUDA backend (kernels/common/no_cuda.h):
// each throws "this build has no CUDA backend". CMake compiles this file only when
// elementwise_cuda.cu is left out, so callers link the same way in every build.

#include "kernels/common/no_cuda.h"
#include "kernels/elementwise/elementwise.h"

namespace unet::kernels {

void relu_forward_cuda(int64_t, const float*, float*, Stream) {
  throw_no_cuda_backend("relu_forward_cuda");
}

void relu_backward_cuda(int64_t, const float*, const float*, float*, Stream) {
  throw_no_cuda_backend("relu_backward_cuda");
}

void leaky_relu_forward_cuda(int64_t, float, const float*, float*, Stream) {
  throw_no_cuda_backend("leaky_relu_forward_cuda");
}

void leaky_relu_backward_cuda(int64_t, float, const float*, const float*, float*, Stream) {
  throw_no_cuda_backend("leaky_relu_backward_cuda");
}

void sigmoid_forward_cuda(int64_t, const float*, float*, Stream) {
  throw_no_cuda_backend("sigmoid_forward_cuda");
}

void sigmoid_backward_cuda(int64_t, const float*, const float*, float*, Stream) {
  throw_no_cuda_backend("sigmoid_backward_cuda");
}

void add_cuda(int64_t, const float*, const float*, float*, Stream) {
  throw_no_cuda_backend("add_cuda");
}

void mul_cuda(int64_t, const float*, const float*, float*, Stream) {
  throw_no_cuda_backend("mul_cuda");
}

void scale_cuda(int64_t, float, const float*, float*, Stream) {
  throw_no_cuda_backend("scale_cuda");
}

void accumulate_cuda(int64_t, const float*, float*, Stream) {
  throw_no_cuda_backend("accumulate_cuda");
}

void bias_add_cuda(int64_t, int, const float*, float*, Stream) {
  throw_no_cuda_backend("bias_add_cuda");
}

void fill_cuda(int64_t, float, float*, Stream) { throw_no_cuda_backend("fill_cuda"); }

}  // namespace unet::kernels
