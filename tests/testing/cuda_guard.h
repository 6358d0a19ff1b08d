// CUDA test helpers. UNET_REQUIRE_CUDA() skips the test with a reason when the build has no CUDA
// backend or the machine has no device, so the suite passes on CPU-only machines and runs fully
// on a GPU machine. DeviceBuffer<T> copies host vectors to the device and back.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#ifdef UNET_HAS_CUDA
#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"
#endif

namespace unet::testing {

// Empty string when a CUDA device is usable, otherwise the reason it is not.
std::string cuda_unavailable_reason();

#ifdef UNET_HAS_CUDA
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (n_) UNET_CUDA_CHECK(cudaMalloc(&ptr_, n_ * sizeof(T)));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    if (n_) UNET_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  size_t size() const { return n_; }
  std::vector<T> to_host() const {
    std::vector<T> host(n_);
    UNET_CUDA_CHECK(cudaDeviceSynchronize());
    if (n_) UNET_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
  // Fills with a NaN pattern so an output the kernel forgets to write is caught.
  void poison() {
    if (n_) UNET_CUDA_CHECK(cudaMemset(ptr_, 0xFF, n_ * sizeof(T)));
  }

 private:
  T* ptr_ = nullptr;
  size_t n_ = 0;
};
#endif

}  // namespace unet::testing

#define UNET_REQUIRE_CUDA()                                                          \
  do {                                                                               \
    const std::string unet_cuda_reason = ::unet::testing::cuda_unavailable_reason(); \
    if (!unet_cuda_reason.empty()) GTEST_SKIP() << unet_cuda_reason;                 \
  } while (0)
