// Backend-parameterised kernel suites (DESIGN.md section 4; ggml's test-backend-ops, Caffe's typed
// tests): one table of cases per op, run on every backend, each compared with the naive CPU
// reference. A suite is a TEST_P over KernelBackend:
//
//   class ConcatTest : public ::testing::TestWithParam<KernelBackend> {};
//   TEST_P(ConcatTest, MatchesReference) {
//     const KernelBackend& b = GetParam();
//     UNET_REQUIRE_BACKEND(b);                       // CUDA skips with a reason without a device
//     BackendBuffer<float> a(b, host_a), y(b, n);    // host vector or device memory
//     y.poison();
//     if (b.cuda) concat_forward_cuda(b.variant_as<ConcatVariant>(), s, a.get(), ..., nullptr);
//     else        concat_forward_cpu(s, a.get(), ...);
//     EXPECT_TRUE(all_close(y.to_host(), want, b.tolerance(1e-6f), 0, "y"));
//   }
//   INSTANTIATE_TEST_SUITE_P(Backends, ConcatTest,
//                            ::testing::ValuesIn(backends_with_variants(kConcatVariants)),
//                            backend_test_name);
//
// The CPU instance always runs; every CUDA instance is listed in every build and skips at run time
// when there is no device, so `ctest -N` shows the same tests on every machine.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/common/variant_table.h"
#include "tests/testing/cuda_guard.h"

namespace unet::testing {

struct KernelBackend {
  bool cuda = false;
  int variant = 0;    // the CUDA variant id; 0 for the CPU fast path and single-kernel CUDA ops
  bool tf32 = false;  // the variant rounds inputs to TF32
  std::string name;   // "cpu", "cuda", "cuda_v2_tiled": the test-name suffix

  template <typename Enum>
  Enum variant_as() const {
    return static_cast<Enum>(variant);
  }
  // The tolerance for this backend: `exact_fp32` for fp32 paths, `tf32` for TF32 variants.
  float tolerance(float exact_fp32, float tf32_tol = 3e-3f) const {
    return this->tf32 ? tf32_tol : exact_fp32;
  }
};

// gtest prints parameters with this (test lists and failure messages show "cuda_v2_tiled", not
// the struct's bytes).
inline void PrintTo(const KernelBackend& b, std::ostream* os) { *os << b.name; }

// The CPU fast path, then one backend per numbered CUDA variant in `table`.
std::vector<KernelBackend> backends_with_variants(const kernels::VariantTable& table);
// The CPU fast path and the op's single CUDA implementation.
std::vector<KernelBackend> cpu_and_cuda();
// For INSTANTIATE_TEST_SUITE_P: the backend's name.
std::string backend_test_name(const ::testing::TestParamInfo<KernelBackend>& info);

// Memory a backend's kernels read and write: a host vector for the CPU, device memory for CUDA,
// with one interface so the test body is the same for both.
template <typename T>
class BackendBuffer {
 public:
  BackendBuffer(const KernelBackend& b, size_t n) : cuda_(b.cuda), host_(b.cuda ? 0 : n) {
    if (cuda_) device_.reset(new DeviceBuffer<T>(n));
  }
  BackendBuffer(const KernelBackend& b, const std::vector<T>& values) : cuda_(b.cuda) {
    if (cuda_) {
      device_.reset(new DeviceBuffer<T>(values));
    } else {
      host_ = values;
    }
  }
  T* get() { return cuda_ ? device_->get() : host_.data(); }
  size_t size() const { return cuda_ ? device_->size() : host_.size(); }
  std::vector<T> to_host() const { return cuda_ ? device_->to_host() : host_; }
  // NaN bytes everywhere, so an element the kernel forgets to write fails the comparison.
  void poison() {
    if (cuda_) {
      device_->poison();
    } else {
      std::fill(reinterpret_cast<unsigned char*>(host_.data()),
                reinterpret_cast<unsigned char*>(host_.data() + host_.size()), 0xFF);
    }
  }

 private:
  bool cuda_;
  std::vector<T> host_;
  std::unique_ptr<DeviceBuffer<T>> device_;
};

}  // namespace unet::testing

#define UNET_REQUIRE_BACKEND(backend)        \
  do {                                       \
    if ((backend).cuda) UNET_REQUIRE_CUDA(); \
  } while (0)
