// max_pool2d CPU tests: fast path vs the naive reference (bitwise: same comparisons, same
// summation order), hand-computed floor/tie/NaN cases, finite-difference gradient checks of the
// reference in double, and every rejection path's message.

#include "kernels/max_pool2d/max_pool2d.h"

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/testing/kernel_shapes.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using unet::testing::bitwise_equal;
using unet::testing::distinct_floats;
using unet::testing::gradients_match;
using unet::testing::numeric_gradient;
using unet::testing::random_floats;

using unet::testing::max_pool2d_shape;

// Awkward shapes: batch 1, one channel, odd sizes (floor), overlapping windows (stride < window),
// gaps between windows (stride > window), a 1x1 window, C not a multiple of 4.
std::vector<MaxPool2dShape> awkward_shapes() {
  return {max_pool2d_shape(1, 2, 2, 1),
          max_pool2d_shape(2, 5, 7, 3),
          max_pool2d_shape(1, 1, 1, 1, 1, 1, 1, 1),
          max_pool2d_shape(3, 8, 8, 4),
          max_pool2d_shape(1, 9, 6, 5, 3, 3, 2, 2),
          max_pool2d_shape(2, 7, 7, 2, 3, 2, 1, 3),
          max_pool2d_shape(1, 16, 16, 32),
          max_pool2d_shape(2, 11, 13, 7),
          max_pool2d_shape(1, 6, 5, 1, 2, 3, 1, 1)};
}

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

TEST(MaxPool2dCpu, FastMatchesReferenceBitwise) {
  uint64_t seed = 1;
  for (const MaxPool2dShape& s : awkward_shapes()) {
    SCOPED_TRACE("shape N=" + std::to_string(s.N) + " H=" + std::to_string(s.H) +
                 " W=" + std::to_string(s.W) + " C=" + std::to_string(s.C) +
                 " R=" + std::to_string(s.R) + " S=" + std::to_string(s.S));
    // random_floats has ties only by accident; the tie rule is identical in both paths anyway.
    const auto x = random_floats(s.x_size(), seed++);
    const auto dy = random_floats(s.y_size(), seed++);
    std::vector<float> y_ref(s.y_size()), y_cpu(s.y_size(), 99.0f);
    std::vector<float> dx_ref(s.x_size()), dx_cpu(s.x_size(), 99.0f);
    max_pool2d_forward_ref(s, x.data(), y_ref.data());
    max_pool2d_forward_cpu(s, x.data(), y_cpu.data());
    EXPECT_TRUE(bitwise_equal(y_cpu, y_ref, "y"));
    max_pool2d_backward_ref(s, x.data(), dy.data(), dx_ref.data());
    max_pool2d_backward_cpu(s, x.data(), dy.data(), dx_cpu.data());
    EXPECT_TRUE(bitwise_equal(dx_cpu, dx_ref, "dx"));
  }
}

TEST(MaxPool2dCpu, BackwardMatchesFiniteDifferences) {
  // Distinct inputs (spacing 2/x_size >> eps) so no argmax flips under the perturbation; the max is
  // then locally linear and central differences are exact up to rounding: tol 1e-6.
  for (const MaxPool2dShape& s :
       {max_pool2d_shape(2, 5, 7, 3), max_pool2d_shape(1, 7, 6, 2, 3, 3, 2, 2),
        max_pool2d_shape(1, 5, 8, 2, 2, 3, 1, 3)}) {
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

using unet::testing::expect_invalid;

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

}  // namespace
}  // namespace unet::kernels
