// elementwise CUDA tests: every op against the CPU reference for n = 1, 4, 7, 1001 and ~1M+3,
// with aligned pointers (float4 path), all-misaligned pointers (scalar path) and mixed alignment
// (one misaligned pointer must also force the scalar path), outputs poisoned first, plus in-place
// calls and bias_add with C % 4 == 0 and != 0.
//
// Tolerance: bitwise for every op except sigmoid_forward, where CUDA's expf (max 2 ulp error)
// differs from glibc's: rtol 1e-6.

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/elementwise/elementwise.h"
#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using unet::testing::all_close;
using unet::testing::bitwise_equal;
using unet::testing::DeviceBuffer;
using unet::testing::random_floats;

using Fn = std::function<void(int64_t, const float*, const float*, float*)>;
struct Case {
  const char* name;
  bool exact;
  Fn ref, cuda;  // cuda gets device pointers; `b` doubles as the preset y for accumulate
};

constexpr float kSlope = 0.2f;
constexpr float kAlpha = 1.75f;

std::vector<Case> cases() {
  return {
      {"relu_forward", true,
       [](int64_t n, const float* a, const float*, float* y) { relu_forward_ref(n, a, y); },
       [](int64_t n, const float* a, const float*, float* y) {
         relu_forward_cuda(n, a, y, nullptr);
       }},
      {"relu_backward", true,
       [](int64_t n, const float* a, const float* b, float* y) { relu_backward_ref(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) {
         relu_backward_cuda(n, a, b, y, nullptr);
       }},
      {"leaky_relu_forward", true,
       [](int64_t n, const float* a, const float*, float* y) {
         leaky_relu_forward_ref(n, kSlope, a, y);
       },
       [](int64_t n, const float* a, const float*, float* y) {
         leaky_relu_forward_cuda(n, kSlope, a, y, nullptr);
       }},
      {"leaky_relu_backward", true,
       [](int64_t n, const float* a, const float* b, float* y) {
         leaky_relu_backward_ref(n, kSlope, a, b, y);
       },
       [](int64_t n, const float* a, const float* b, float* y) {
         leaky_relu_backward_cuda(n, kSlope, a, b, y, nullptr);
       }},
      {"sigmoid_forward", false,
       [](int64_t n, const float* a, const float*, float* y) { sigmoid_forward_ref(n, a, y); },
       [](int64_t n, const float* a, const float*, float* y) {
         sigmoid_forward_cuda(n, a, y, nullptr);
       }},
      {"sigmoid_backward", true,
       [](int64_t n, const float* a, const float* b, float* y) {
         sigmoid_backward_ref(n, a, b, y);
       },
       [](int64_t n, const float* a, const float* b, float* y) {
         sigmoid_backward_cuda(n, a, b, y, nullptr);
       }},
      {"add", true,
       [](int64_t n, const float* a, const float* b, float* y) { add_ref(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) { add_cuda(n, a, b, y, nullptr); }},
      {"mul", true,
       [](int64_t n, const float* a, const float* b, float* y) { mul_ref(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) { mul_cuda(n, a, b, y, nullptr); }},
      {"scale", true,
       [](int64_t n, const float* a, const float*, float* y) { scale_ref(n, kAlpha, a, y); },
       [](int64_t n, const float* a, const float*, float* y) {
         scale_cuda(n, kAlpha, a, y, nullptr);
       }},
      {"accumulate", true,
       [](int64_t n, const float* a, const float* b, float* y) {
         std::copy(b, b + n, y);
         accumulate_ref(n, a, y);
       },
       [](int64_t n, const float* a, const float* b, float* y) {
         UNET_CUDA_CHECK(cudaMemcpy(y, b, n * sizeof(float), cudaMemcpyDeviceToDevice));
         accumulate_cuda(n, a, y, nullptr);
       }},
      {"fill", true,
       [](int64_t n, const float*, const float*, float* y) { fill_ref(n, -4.25f, y); },
       [](int64_t n, const float*, const float*, float* y) { fill_cuda(n, -4.25f, y, nullptr); }},
  };
}

std::vector<float> padded(int offset, const std::vector<float>& v) {
  std::vector<float> out(offset, 0.0f);
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

TEST(ElementwiseCuda, AllOpsMatchReference) {
  UNET_REQUIRE_CUDA();
  uint64_t seed = 1000;
  // (input offset, output offset) in floats: aligned, all misaligned, output-only misaligned.
  const std::pair<int, int> offsets[] = {{0, 0}, {1, 1}, {0, 3}};
  for (const Case& c : cases()) {
    for (int64_t n : {1, 4, 7, 1001, (1 << 20) + 3}) {
      for (auto [in_off, out_off] : offsets) {
        SCOPED_TRACE(std::string(c.name) + " n=" + std::to_string(n) +
                     " offsets=" + std::to_string(in_off) + "," + std::to_string(out_off));
        const auto a = random_floats(n, seed++, -3.0f, 3.0f);
        const auto b = random_floats(n, seed++, -3.0f, 3.0f);
        std::vector<float> want(n);
        c.ref(n, a.data(), b.data(), want.data());
        DeviceBuffer<float> a_d(padded(in_off, a)), b_d(padded(in_off, b)), y_d(n + out_off);
        y_d.poison();
        c.cuda(n, a_d.get() + in_off, b_d.get() + in_off, y_d.get() + out_off);
        const auto all = y_d.to_host();
        const std::vector<float> got(all.begin() + out_off, all.end());
        if (c.exact) {
          EXPECT_TRUE(bitwise_equal(got, want, c.name));
        } else {
          EXPECT_TRUE(all_close(got, want, 1e-6f, 0.0f, c.name));
        }
      }
    }
  }
}

TEST(ElementwiseCuda, InPlaceCallsWork) {
  UNET_REQUIRE_CUDA();
  const int64_t n = 4099;
  const auto a = random_floats(n, 1, -3.0f, 3.0f);
  const auto b = random_floats(n, 2, -3.0f, 3.0f);
  std::vector<float> want(n);
  {
    relu_forward_ref(n, a.data(), want.data());
    DeviceBuffer<float> x(a);
    relu_forward_cuda(n, x.get(), x.get(), nullptr);
    EXPECT_TRUE(bitwise_equal(x.to_host(), want, "relu in place"));
  }
  {
    add_ref(n, a.data(), b.data(), want.data());
    DeviceBuffer<float> x(a), y(b);
    add_cuda(n, x.get(), y.get(), x.get(), nullptr);
    EXPECT_TRUE(bitwise_equal(x.to_host(), want, "add in place"));
  }
  {
    scale_ref(n, kAlpha, a.data(), want.data());
    DeviceBuffer<float> x(a);
    scale_cuda(n, kAlpha, x.get(), x.get(), nullptr);
    EXPECT_TRUE(bitwise_equal(x.to_host(), want, "scale in place"));
  }
}

TEST(ElementwiseCuda, SigmoidIsStableForLargeInputs) {
  UNET_REQUIRE_CUDA();
  const std::vector<float> x = {-1000.0f, -100.0f, 0.0f, 100.0f, 1000.0f};
  DeviceBuffer<float> x_d(x), y_d(x.size());
  sigmoid_forward_cuda(int64_t(x.size()), x_d.get(), y_d.get(), nullptr);
  const auto y = y_d.to_host();
  for (size_t i = 0; i < y.size(); ++i) EXPECT_TRUE(std::isfinite(y[i])) << "x=" << x[i];
  EXPECT_EQ(y[0], 0.0f);
  // exp(-100) ~ 3.7e-44 is a denormal: kept or flushed, it must be tiny and not negative.
  EXPECT_GE(y[1], 0.0f);
  EXPECT_LT(y[1], 1e-40f);
  EXPECT_EQ(y[2], 0.5f);
  EXPECT_EQ(y[3], 1.0f);
  EXPECT_EQ(y[4], 1.0f);
}

TEST(ElementwiseCuda, BiasAddMatchesReference) {
  UNET_REQUIRE_CUDA();
  uint64_t seed = 77;
  for (auto [pixels, C] : std::vector<std::pair<int64_t, int>>{
           {1, 1}, {7, 3}, {5, 32}, {65536, 32}, {999, 4}, {33, 6}}) {
    for (int offset : {0, 1}) {
      SCOPED_TRACE("pixels=" + std::to_string(pixels) + " C=" + std::to_string(C) +
                   " offset=" + std::to_string(offset));
      const auto bias = random_floats(C, seed++);
      const auto y0 = random_floats(pixels * C, seed++);
      std::vector<float> want = y0;
      bias_add_ref(pixels, C, bias.data(), want.data());
      DeviceBuffer<float> b_d(padded(offset, bias)), y_d(padded(offset, y0));
      bias_add_cuda(pixels, C, b_d.get() + offset, y_d.get() + offset, nullptr);
      const auto all = y_d.to_host();
      EXPECT_TRUE(
          bitwise_equal(std::vector<float>(all.begin() + offset, all.end()), want, "bias_add"));
    }
  }
}

TEST(ElementwiseCuda, ZeroElementsAndBadArguments) {
  UNET_REQUIRE_CUDA();
  relu_forward_cuda(0, nullptr, nullptr, nullptr);  // no launch, no error
  bias_add_cuda(0, 4, nullptr, nullptr, nullptr);
  try {
    add_cuda(-2, nullptr, nullptr, nullptr, nullptr);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("add_cuda: element count n=-2 is negative"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace unet::kernels
