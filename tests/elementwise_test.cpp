// elementwise CPU tests: every op's fast path vs its reference on awkward sizes (n = 1, 7, not a
// multiple of 4, large enough to go parallel), in-place calls, stable sigmoid at +-1000, finite
// differences of every backward in double, and the rejection messages.
//
// Tolerance: exact (bitwise) for every op except sigmoid, whose fast loop may use a vectorised exp
// that differs from libm's by a few ulp: rtol 1e-6.

#include "kernels/elementwise/elementwise.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using unet::testing::all_close;
using unet::testing::bitwise_equal;
using unet::testing::gradients_match;
using unet::testing::numeric_gradient;
using unet::testing::random_doubles;
using unet::testing::random_floats;

// One op as y = f(a, b) over n elements; ops with fewer inputs ignore the rest. accumulate reads
// y as input too, so the harness presets y from `b` for it.
struct Case {
  const char* name;
  bool exact;
  std::function<void(int64_t, const float*, const float*, float*)> ref, cpu;
};

constexpr float kSlope = 0.01f;
constexpr float kAlpha = -0.37f;

std::vector<Case> cases() {
  return {
      {"relu_forward", true,
       [](int64_t n, const float* a, const float*, float* y) { relu_forward_ref(n, a, y); },
       [](int64_t n, const float* a, const float*, float* y) { relu_forward_cpu(n, a, y); }},
      {"relu_backward", true,
       [](int64_t n, const float* a, const float* b, float* y) { relu_backward_ref(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) { relu_backward_cpu(n, a, b, y); }},
      {"leaky_relu_forward", true,
       [](int64_t n, const float* a, const float*, float* y) {
         leaky_relu_forward_ref(n, kSlope, a, y);
       },
       [](int64_t n, const float* a, const float*, float* y) {
         leaky_relu_forward_cpu(n, kSlope, a, y);
       }},
      {"leaky_relu_backward", true,
       [](int64_t n, const float* a, const float* b, float* y) {
         leaky_relu_backward_ref(n, kSlope, a, b, y);
       },
       [](int64_t n, const float* a, const float* b, float* y) {
         leaky_relu_backward_cpu(n, kSlope, a, b, y);
       }},
      {"sigmoid_forward", false,
       [](int64_t n, const float* a, const float*, float* y) { sigmoid_forward_ref(n, a, y); },
       [](int64_t n, const float* a, const float*, float* y) { sigmoid_forward_cpu(n, a, y); }},
      {"sigmoid_backward", true,
       [](int64_t n, const float* a, const float* b, float* y) {
         sigmoid_backward_ref(n, a, b, y);
       },
       [](int64_t n, const float* a, const float* b, float* y) {
         sigmoid_backward_cpu(n, a, b, y);
       }},
      {"add", true,
       [](int64_t n, const float* a, const float* b, float* y) { add_ref(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) { add_cpu(n, a, b, y); }},
      {"mul", true,
       [](int64_t n, const float* a, const float* b, float* y) { mul_ref(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) { mul_cpu(n, a, b, y); }},
      {"scale", true,
       [](int64_t n, const float* a, const float*, float* y) { scale_ref(n, kAlpha, a, y); },
       [](int64_t n, const float* a, const float*, float* y) { scale_cpu(n, kAlpha, a, y); }},
      {"accumulate", true,
       [](int64_t n, const float* a, const float* b, float* y) {
         std::copy(b, b + n, y);
         accumulate_ref(n, a, y);
       },
       [](int64_t n, const float* a, const float* b, float* y) {
         std::copy(b, b + n, y);
         accumulate_cpu(n, a, y);
       }},
      {"fill", true, [](int64_t n, const float*, const float*, float* y) { fill_ref(n, 2.5f, y); },
       [](int64_t n, const float*, const float*, float* y) { fill_cpu(n, 2.5f, y); }},
  };
}

TEST(ElementwiseCpu, FastMatchesReference) {
  uint64_t seed = 1;
  for (const Case& c : cases()) {
    for (int64_t n : {1, 4, 7, 1001, 100003}) {
      SCOPED_TRACE(std::string(c.name) + " n=" + std::to_string(n));
      // Inputs in [-3, 3): both signs for relu / leaky / sigmoid.
      const auto a = random_floats(n, seed++, -3.0f, 3.0f);
      const auto b = random_floats(n, seed++, -3.0f, 3.0f);
      std::vector<float> y_ref(n, 7.0f), y_cpu(n, 9.0f);
      c.ref(n, a.data(), b.data(), y_ref.data());
      c.cpu(n, a.data(), b.data(), y_cpu.data());
      if (c.exact) {
        EXPECT_TRUE(bitwise_equal(y_cpu, y_ref, c.name));
      } else {
        EXPECT_TRUE(all_close(y_cpu, y_ref, 1e-6f, 0.0f, c.name));
      }
    }
  }
}

TEST(ElementwiseCpu, InPlaceCallsWork) {
  const int64_t n = 1003;
  const auto a = random_floats(n, 11, -3.0f, 3.0f);
  const auto b = random_floats(n, 12, -3.0f, 3.0f);
  std::vector<float> want(n), got;
  relu_forward_ref(n, a.data(), want.data());
  got = a;
  relu_forward_cpu(n, got.data(), got.data());
  EXPECT_TRUE(bitwise_equal(got, want, "relu in place"));
  sigmoid_forward_ref(n, a.data(), want.data());
  got = a;
  sigmoid_forward_cpu(n, got.data(), got.data());
  EXPECT_TRUE(all_close(got, want, 1e-6f, 0.0f, "sigmoid in place"));
  add_ref(n, a.data(), b.data(), want.data());
  got = a;
  add_cpu(n, got.data(), b.data(), got.data());
  EXPECT_TRUE(bitwise_equal(got, want, "add in place"));
  scale_ref(n, kAlpha, a.data(), want.data());
  got = a;
  scale_cpu(n, kAlpha, got.data(), got.data());
  EXPECT_TRUE(bitwise_equal(got, want, "scale in place"));
  relu_backward_ref(n, a.data(), b.data(), want.data());
  got = b;
  relu_backward_cpu(n, a.data(), got.data(), got.data());
  EXPECT_TRUE(bitwise_equal(got, want, "relu_backward in place (dx == dy)"));
}

TEST(ElementwiseCpu, ReluHandWritten) {
  const std::vector<float> x = {-2.0f, 0.0f, 3.0f, -0.5f, 1e-30f};
  std::vector<float> y(5);
  relu_forward_cpu(5, x.data(), y.data());
  EXPECT_TRUE(bitwise_equal(y, {0.0f, 0.0f, 3.0f, 0.0f, 1e-30f}, "relu"));
  const std::vector<float> dy = {1, 2, 3, 4, 5};
  std::vector<float> dx(5);
  relu_backward_cpu(5, y.data(), dy.data(), dx.data());
  EXPECT_TRUE(bitwise_equal(dx, {0, 0, 3, 0, 5}, "relu dx"));
}

TEST(ElementwiseCpu, SigmoidIsStableForLargeInputs) {
  const std::vector<float> x = {-1000.0f, -100.0f, -80.0f, 0.0f, 80.0f, 100.0f, 1000.0f};
  std::vector<float> y(x.size()), y_ref(x.size());
  sigmoid_forward_cpu(int64_t(x.size()), x.data(), y.data());
  sigmoid_forward_ref(int64_t(x.size()), x.data(), y_ref.data());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_TRUE(std::isfinite(y[i])) << "x=" << x[i];
    EXPECT_TRUE(std::isfinite(y_ref[i])) << "x=" << x[i];
  }
  EXPECT_EQ(y.front(), 0.0f);
  EXPECT_EQ(y[3], 0.5f);
  EXPECT_EQ(y.back(), 1.0f);
  EXPECT_GT(y[2], 0.0f);  // exp(-80) ~ 1.8e-35 is a normal float: no underflow to 0 yet
}

TEST(ElementwiseCpu, BiasAddMatchesReference) {
  uint64_t seed = 40;
  for (auto [pixels, C] :
       std::vector<std::pair<int64_t, int>>{{1, 1}, {7, 3}, {5, 32}, {20000, 5}}) {
    SCOPED_TRACE("pixels=" + std::to_string(pixels) + " C=" + std::to_string(C));
    const auto bias = random_floats(C, seed++);
    const auto y0 = random_floats(pixels * C, seed++);
    std::vector<float> y_ref = y0, y_cpu = y0;
    bias_add_ref(pixels, C, bias.data(), y_ref.data());
    bias_add_cpu(pixels, C, bias.data(), y_cpu.data());
    EXPECT_TRUE(bitwise_equal(y_cpu, y_ref, "bias_add"));
    EXPECT_EQ(y_ref[C - 1], y0[C - 1] + bias[C - 1]);  // the reference itself does what it says
  }
}

// Central differences of loss = sum(g * f(x)); inputs kept at least 0.1 from 0 so relu and
// leaky relu are differentiable at every probe (eps = 1e-6). tol 1e-6: the functions are smooth
// at those points, so the only error is the O(eps^2) truncation and rounding.
std::vector<double> away_from_zero(size_t n, uint64_t seed) {
  auto v = random_doubles(n, seed, -2.0, 2.0);
  for (double& x : v) x = x < 0 ? x - 0.1 : x + 0.1;
  return v;
}

void check_unary_gradient(const char* what,
                          const std::function<void(int64_t, const double*, double*)>& forward,
                          const std::function<void(int64_t, const double* x, const double* y,
                                                   const double* dy, double* dx)>& backward) {
  const int64_t n = 37;
  auto x = away_from_zero(n, 5);
  const auto g = random_doubles(n, 6);
  std::vector<double> y(n), dx(n);
  auto loss = [&] {
    forward(n, x.data(), y.data());
    double l = 0;
    for (int64_t i = 0; i < n; ++i) l += g[i] * y[i];
    return l;
  };
  forward(n, x.data(), y.data());
  backward(n, x.data(), y.data(), g.data(), dx.data());
  EXPECT_TRUE(gradients_match(dx, numeric_gradient(loss, x), 1e-6, what));
}

TEST(ElementwiseCpu, BackwardsMatchFiniteDifferences) {
  check_unary_gradient(
      "relu", [](int64_t n, const double* x, double* y) { relu_forward_ref(n, x, y); },
      [](int64_t n, const double*, const double* y, const double* dy, double* dx) {
        relu_backward_ref(n, y, dy, dx);
      });
  check_unary_gradient(
      "leaky_relu",
      [](int64_t n, const double* x, double* y) { leaky_relu_forward_ref(n, 0.01, x, y); },
      [](int64_t n, const double* x, const double*, const double* dy, double* dx) {
        leaky_relu_backward_ref(n, 0.01, x, dy, dx);
      });
  check_unary_gradient(
      "sigmoid", [](int64_t n, const double* x, double* y) { sigmoid_forward_ref(n, x, y); },
      [](int64_t n, const double*, const double* y, const double* dy, double* dx) {
        sigmoid_backward_ref(n, y, dy, dx);
      });
}

using unet::testing::expect_invalid;

TEST(ElementwiseCpu, RejectsBadArgumentsWithClearMessages) {
  std::vector<float> buf(8);
  float* p = buf.data();
  expect_invalid([&] { relu_forward_cpu(-1, p, p); },
                 "relu_forward_cpu: element count n=-1 is negative; pass n >= 0");
  expect_invalid([&] { add_ref<float>(-5, p, p, p); }, "add_ref: element count n=-5");
  expect_invalid([&] { mul_cpu(4, p, nullptr, p); }, "mul_cpu: b is null with n=4");
  expect_invalid([&] { sigmoid_backward_cpu(4, p, p, nullptr); }, "dx is null");
  expect_invalid([&] { fill_cpu(3, 1.0f, nullptr); }, "fill_cpu: y is null");
  expect_invalid([&] { bias_add_cpu(-1, 2, p, p); },
                 "bias_add_cpu: pixels must be >= 0 (pixels=-1 C=2)");
  expect_invalid([&] { bias_add_ref<float>(2, 0, p, p); }, "bias_add_ref: C must be >= 1");
  expect_invalid([&] { bias_add_cpu(2, 2, nullptr, p); }, "bias_add_cpu: bias is null");
  // n = 0 with null pointers is a valid no-op.
  relu_forward_cpu(0, nullptr, nullptr);
  bias_add_cpu(0, 3, nullptr, nullptr);
}

}  // namespace
}  // namespace unet::kernels
