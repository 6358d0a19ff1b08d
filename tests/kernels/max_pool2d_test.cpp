// max_pool2d: one case table run on every backend (the CPU fast path and each CUDA variant) against
// the naive CPU reference, BITWISE: pooling only compares, and every backward adds a dx element's
// contributions in the reference's (p, q) order, so there is no rounding to tolerate. Every case
// runs with aligned and with misaligned (one float off) pointers, so v2 must also fall back to its
// scalar code, and outputs are poisoned (NaN bytes) first so an element left unwritten fails.
// Plain tests: hand-computed floor/tie/NaN cases, finite differences of the reference in double,
// the rejection messages and the host-side checks of the CUDA entry points.

#include "kernels/max_pool2d/max_pool2d.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using namespace ::unet::testing;  // helpers: tests/testing/*.h

MaxPool2dShape max_pool2d_shape(int N, int H, int W, int C, int R = 2, int S = 2, int stride_h = 2,
                                int stride_w = 2) {
  MaxPool2dShape s;
  s.N = N, s.H = H, s.W = W, s.C = C, s.R = R, s.S = S;
  s.stride_h = stride_h, s.stride_w = stride_w;
  return s;
}

std::string describe(const MaxPool2dShape& s) {
  return "N=" + std::to_string(s.N) + " H=" + std::to_string(s.H) + " W=" + std::to_string(s.W) +
         " C=" + std::to_string(s.C) + " R=" + std::to_string(s.R) + " S=" + std::to_string(s.S) +
         " stride=" + std::to_string(s.stride_h) + "," + std::to_string(s.stride_w);
}

// The case table: batch 1, one channel, odd sizes (floor drops the last row/column), a 1x1 window,
// overlapping windows (stride < window), gaps between windows (stride > window), non-square
// windows and strides, C a multiple of 4 (v2's float4 path) and C not (v2 falls back to v1), and a
// U-Net-like level (10x32x32x64).
std::vector<MaxPool2dShape> cases() {
  return {max_pool2d_shape(1, 2, 2, 1),
          max_pool2d_shape(2, 5, 7, 3),
          max_pool2d_shape(1, 1, 1, 1, 1, 1, 1, 1),
          max_pool2d_shape(3, 8, 8, 4),
          max_pool2d_shape(1, 9, 6, 5, 3, 3, 2, 2),
          max_pool2d_shape(1, 9, 6, 8, 3, 3, 2, 2),
          max_pool2d_shape(2, 7, 7, 2, 3, 2, 1, 3),
          max_pool2d_shape(2, 7, 7, 4, 3, 2, 1, 3),
          max_pool2d_shape(1, 16, 16, 32),
          max_pool2d_shape(2, 16, 16, 32),
          max_pool2d_shape(2, 11, 13, 7),
          max_pool2d_shape(2, 11, 13, 12),
          max_pool2d_shape(1, 6, 5, 1, 2, 3, 1, 1),
          max_pool2d_shape(1, 6, 5, 4, 2, 3, 1, 1),
          max_pool2d_shape(10, 32, 32, 64)};
}

// ---------------------------------------------------------------- every backend vs the reference

class MaxPool2dTest : public ::testing::TestWithParam<KernelBackend> {};

TEST_P(MaxPool2dTest, MatchesReferenceBitwise) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 100;
  for (const MaxPool2dShape& s : cases()) {
    // random_floats has ties only by accident; the tie rule is identical in every path anyway.
    const auto x = random_floats(s.x_size(), seed++);
    const auto dy = random_floats(s.y_size(), seed++);
    std::vector<float> y_ref(s.y_size()), dx_ref(s.x_size());
    max_pool2d_forward_ref(s, x.data(), y_ref.data());
    max_pool2d_backward_ref(s, x.data(), dy.data(), dx_ref.data());
    for (int offset : {0, 1}) {  // 1: misaligned, v2 must run its scalar code and stay exact
      SCOPED_TRACE(b.name + " " + describe(s) + " offset=" + std::to_string(offset));
      BackendBuffer<float> x_d(b, with_leading_zeros(offset, x)),
          dy_d(b, with_leading_zeros(offset, dy));
      BackendBuffer<float> y_d(b, s.y_size() + offset), dx_d(b, s.x_size() + offset);
      y_d.poison();
      dx_d.poison();
      if (b.cuda) {
        const auto v = b.variant_as<MaxPool2dVariant>();
        max_pool2d_forward_cuda(v, s, x_d.get() + offset, y_d.get() + offset, nullptr);
        max_pool2d_backward_cuda(v, s, x_d.get() + offset, dy_d.get() + offset, dx_d.get() + offset,
                                 nullptr);
      } else {
        max_pool2d_forward_cpu(s, x_d.get() + offset, y_d.get() + offset);
        max_pool2d_backward_cpu(s, x_d.get() + offset, dy_d.get() + offset, dx_d.get() + offset);
      }
      EXPECT_TRUE(bitwise_equal(drop_leading(offset, y_d.to_host()), y_ref, "y"));
      EXPECT_TRUE(bitwise_equal(drop_leading(offset, dx_d.to_host()), dx_ref, "dx"));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, MaxPool2dTest,
                         ::testing::ValuesIn(backends_with_variants(kMaxPool2dVariants)),
                         backend_test_name);

// ---------------------------------------------------------------- the reference, by hand

TEST(MaxPool2dCpu, FloorOutputSizeLikePyTorch) {
  const MaxPool2dShape s = max_pool2d_shape(1, 5, 7, 1);
  EXPECT_EQ(s.P(), 2);
  EXPECT_EQ(s.Q(), 3);
  EXPECT_EQ(s.x_size(), 35);
  EXPECT_EQ(s.y_size(), 6);
  // x increases with the index, so each window's max is its bottom-right element.
  std::vector<float> x(35);
  for (int i = 0; i < 35; ++i) x[i] = float(i);
  std::vector<float> y(6), y_fast(6);
  max_pool2d_forward_ref(s, x.data(), y.data());
  max_pool2d_forward_cpu(s, x.data(), y_fast.data());
  const std::vector<float> want = {8, 10, 12, 22, 24, 26};
  EXPECT_TRUE(bitwise_equal(y, want, "ref y"));
  EXPECT_TRUE(bitwise_equal(y_fast, want, "cpu y"));
  // Backward: the last row and column are never read, so their dx must be 0.
  std::vector<float> dy = {1, 2, 3, 4, 5, 6}, dx(35, -7.0f), dx_fast(35, -7.0f);
  max_pool2d_backward_ref(s, x.data(), dy.data(), dx.data());
  max_pool2d_backward_cpu(s, x.data(), dy.data(), dx_fast.data());
  std::vector<float> want_dx(35, 0.0f);
  want_dx[8] = 1;
  want_dx[10] = 2;
  want_dx[12] = 3;
  want_dx[22] = 4;
  want_dx[24] = 5;
  want_dx[26] = 6;
  EXPECT_TRUE(bitwise_equal(dx, want_dx, "ref dx"));
  EXPECT_TRUE(bitwise_equal(dx_fast, want_dx, "cpu dx"));
}

TEST(MaxPool2dCpu, TiesGoToFirstMaxInRowMajorOrder) {
  const MaxPool2dShape s = max_pool2d_shape(1, 2, 2, 2);
  // Channel 0: all equal -> (0,0). Channel 1: max 3 at (0,1) and (1,0) -> (0,1).
  const std::vector<float> x = {1, 0, 1, 3, 1, 3, 1, 2};
  const std::vector<float> dy = {5, 9};
  std::vector<float> dx(8), dx_fast(8);
  max_pool2d_backward_ref(s, x.data(), dy.data(), dx.data());
  max_pool2d_backward_cpu(s, x.data(), dy.data(), dx_fast.data());
  const std::vector<float> want = {5, 0, 0, 9, 0, 0, 0, 0};
  EXPECT_TRUE(bitwise_equal(dx, want, "ref dx"));
  EXPECT_TRUE(bitwise_equal(dx_fast, want, "cpu dx"));
}

TEST(MaxPool2dCpu, NanPropagatesLikePyTorch) {
  const MaxPool2dShape s = max_pool2d_shape(1, 2, 4, 1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {1, 2, 5, 6, nan, 0, 7, 8};  // window 0 holds a NaN, window 1 not
  std::vector<float> y(2), y_fast(2);
  max_pool2d_forward_ref(s, x.data(), y.data());
  max_pool2d_forward_cpu(s, x.data(), y_fast.data());
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_TRUE(std::isnan(y_fast[0]));
  EXPECT_EQ(y[1], 8.0f);
  EXPECT_EQ(y_fast[1], 8.0f);
}

// ---------------------------------------------------------------- the reference, by calculus

TEST(MaxPool2dCpu, BackwardMatchesFiniteDifferences) {
  // Distinct inputs (spacing 2/x_size >> eps) so no argmax flips under the perturbation; the max is
  // then locally linear and central differences are exact up to rounding: tol 1e-6.
  for (const MaxPool2dShape& s :
       {max_pool2d_shape(2, 5, 7, 3), max_pool2d_shape(1, 7, 6, 2, 3, 3, 2, 2),
        max_pool2d_shape(1, 5, 8, 2, 2, 3, 1, 3)}) {
    SCOPED_TRACE(describe(s));
    const auto xf = distinct_floats(s.x_size(), 7);
    std::vector<double> x(xf.begin(), xf.end());
    const auto gf = random_floats(s.y_size(), 8);
    const std::vector<double> g(gf.begin(), gf.end());
    std::vector<double> y(s.y_size());
    auto loss = [&] {
      max_pool2d_forward_ref(s, x.data(), y.data());
      double l = 0;
      for (size_t i = 0; i < y.size(); ++i) l += y[i] * g[i];
      return l;
    };
    std::vector<double> dx(s.x_size());
    max_pool2d_backward_ref(s, x.data(), g.data(), dx.data());
    const auto numeric = numeric_gradient(loss, x);
    EXPECT_TRUE(gradients_match(dx, numeric, 1e-6, "max_pool2d dx"));
  }
}

// ---------------------------------------------------------------- rejections

TEST(MaxPool2dCpu, RejectsBadShapesWithClearMessages) {
  std::vector<float> buf(64);
  float* p = buf.data();
  expect_invalid([&] { max_pool2d_forward_cpu(max_pool2d_shape(0, 4, 4, 1), p, p); },
                 "max_pool2d_forward_cpu: input dims N,H,W,C must all be >= 1");
  expect_invalid([&] { max_pool2d_forward_ref(max_pool2d_shape(1, 4, 4, 0), p, p); },
                 "max_pool2d_forward_ref: input dims");
  expect_invalid([&] { max_pool2d_forward_cpu(max_pool2d_shape(1, 4, 4, 1, 0, 2), p, p); },
                 "window R,S must be >= 1");
  expect_invalid(
      [&] { max_pool2d_backward_cpu(max_pool2d_shape(1, 4, 4, 1, 2, 2, 0, 2), p, p, p); },
      "max_pool2d_backward_cpu: strides must be >= 1");
  expect_invalid([&] { max_pool2d_forward_cpu(max_pool2d_shape(1, 1, 4, 1), p, p); },
                 "window is larger than the input; pool a larger input or use a smaller window "
                 "(shape N=1 H=1 W=4 C=1 window=2x2 stride=2,2)");
  expect_invalid([&] { max_pool2d_forward_cpu(max_pool2d_shape(1, 4, 4, 1), nullptr, p); },
                 "x is null");
  expect_invalid(
      [&] { max_pool2d_backward_ref<float>(max_pool2d_shape(1, 4, 4, 1), p, nullptr, p); },
      "dy is null");
  expect_invalid([&] { max_pool2d_backward_cpu(max_pool2d_shape(1, 4, 4, 1), p, p, nullptr); },
                 "dx is null");
}

// ---------------------------------------------------------------- CUDA entry points, host side

TEST(MaxPool2dCudaContract, VariantNames) {
  EXPECT_STREQ(kMaxPool2dVariants.name(MaxPool2dVariant::kV1Naive), "v1_naive");
  EXPECT_STREQ(kMaxPool2dVariants.name(MaxPool2dVariant::kV2Vectorized), "v2_vectorized");
}

TEST(MaxPool2dCudaContract, RejectionsBeforeAnyLaunch) {
  // Checked on the host before any CUDA call, so no device (and no device pointer) is needed.
  UNET_REQUIRE_CUDA_BUILD();
  std::vector<float> buf(64);
  float* p = buf.data();
  expect_invalid(
      [&] {
        max_pool2d_forward_cuda(static_cast<MaxPool2dVariant>(7), max_pool2d_shape(1, 4, 4, 4), p,
                                p, nullptr);
      },
      "max_pool2d_forward_cuda: unknown variant 7");
  expect_invalid(
      [&] {
        max_pool2d_backward_cuda(MaxPool2dVariant::kV1Naive, max_pool2d_shape(1, 1, 4, 4), p, p, p,
                                 nullptr);
      },
      "max_pool2d_backward_cuda: window is larger");
  expect_invalid(
      [&] {
        max_pool2d_forward_cuda(MaxPool2dVariant::kV2Vectorized, max_pool2d_shape(1, 4, 4, 4),
                                nullptr, p, nullptr);
      },
      {"max_pool2d_forward_cuda: ", "x is null"});
}

TEST(MaxPool2dCudaContract, StubsReportNoCudaBackend) {
  // max_pool2d_cuda_stub.cpp stands in for max_pool2d_cuda.cu in a build without CUDA.
  if (unet::testing::cuda_backend_built()) GTEST_SKIP() << "the CUDA backend is built";
  expect_runtime_error(
      [] {
        max_pool2d_forward_cuda(MaxPool2dVariant::kV1Naive, max_pool2d_shape(1, 2, 2, 1), nullptr,
                                nullptr, nullptr);
      },
      "max_pool2d_forward_cuda: this build has no CUDA backend");
  expect_runtime_error(
      [] {
        max_pool2d_backward_cuda(MaxPool2dVariant::kV1Naive, max_pool2d_shape(1, 2, 2, 1), nullptr,
                                 nullptr, nullptr, nullptr);
      },
      "max_pool2d_backward_cuda: this build has no CUDA backend");
}

}  // namespace
}  // namespace unet::kernels
