#include "tests/testing/device_memory.h"

#ifdef UNET_HAS_CUDA
#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"
#else
#include "kernels/common/no_cuda.h"
#endif

namespace unet::testing {

#ifdef UNET_HAS_CUDA
void* device_alloc(size_t bytes) {
  void* p = nullptr;
  if (bytes) UNET_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}
void device_free(void* ptr) {
  if (ptr) cudaFree(ptr);
}
void copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes) UNET_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void copy_to_host(void* dst, const void* src, size_t bytes) {
  UNET_CUDA_CHECK(cudaDeviceSynchronize());
  if (bytes) UNET_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void device_poison(void* ptr, size_t bytes) {
  if (bytes) UNET_CUDA_CHECK(cudaMemset(ptr, 0xFF, bytes));
}
void device_synchronize() { UNET_CUDA_CHECK(cudaDeviceSynchronize()); }
#else
void* device_alloc(size_t) { kernels::throw_no_cuda_backend("device_alloc"); }
void device_free(void*) {}
void copy_to_device(void*, const void*, size_t) {
  kernels::throw_no_cuda_backend("copy_to_device");
}
void copy_to_host(void*, const void*, size_t) { kernels::throw_no_cuda_backend("copy_to_host"); }
void device_poison(void*, size_t) { kernels::throw_no_cuda_backend("device_poison"); }
void device_synchronize() {}
#endif

}  // namespace unet::testing
