// CUDA test helpers. UNET_REQUIRE_CUDA() skips the test with a reason when the build has no CUDA
// backend or the machine has no device, so the suite passes on CPU-only machines and runs fully
// on a GPU machine. DeviceBuffer<T> copies host vectors to the device and back; it compiles in
// every build (device_memory.h), so test files need no #ifdef.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/testing/device_memory.h"

namespace unet::testing {

// Empty string when a CUDA device is usable, otherwise the reason it is not.
std::string cuda_unavailable_reason();
// True when the CUDA kernels are compiled in (whether or not a device is present). Host-side checks
// of CUDA entry points (argument and variant validation before any launch) need only this.
bool cuda_backend_built();

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : ptr_(static_cast<T*>(device_alloc(n * sizeof(T)))), n_(n) {}
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    copy_to_device(ptr_, host.data(), n_ * sizeof(T));
  }
  ~DeviceBuffer() { device_free(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  size_t size() const { return n_; }
  std::vector<T> to_host() const {
    std::vector<T> host(n_);
    copy_to_host(host.data(), ptr_, n_ * sizeof(T));
    return host;
  }
  // Fills with a NaN pattern so an output the kernel forgets to write is caught.
  void poison() { device_poison(ptr_, n_ * sizeof(T)); }

 private:
  T* ptr_ = nullptr;
  size_t n_ = 0;
};

}  // namespace unet::testing

#define UNET_REQUIRE_CUDA()                                                          \
  do {                                                                               \
    const std::string unet_cuda_reason = ::unet::testing::cuda_unavailable_reason(); \
    if (!unet_cuda_reason.empty()) GTEST_SKIP() << unet_cuda_reason;                 \
  } while (0)

// For tests of host-side validation in CUDA entry points: runs without a device, skips only in a
// build without the CUDA backend (where the entry points are stubs that report exactly that).
#define UNET_REQUIRE_CUDA_BUILD()                                                         \
  do {                                                                                    \
    if (!::unet::testing::cuda_backend_built())                                           \
      GTEST_SKIP() << "built without the CUDA backend (UNET_CUDA=OFF or nvcc not found)"; \
  } while (0)
