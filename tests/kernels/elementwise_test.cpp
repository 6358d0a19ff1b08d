// elementwise: one table of ops run on every backend (the CPU OpenMP path and CUDA) against the
// naive CPU reference, for n = 1, 4, 7, 1001, 100003 and 2^20 + 3 (below and above a float4, not a
// multiple of 4, large enough for OpenMP and many CUDA blocks), with aligned pointers (CUDA's
// float4 path), all-misaligned pointers (scalar path) and a misaligned output only (one misaligned
// pointer must also force the scalar path), outputs poisoned (NaN bytes) first. Per backend also:
// in-place calls, ReLU by hand, stable sigmoid at +-1000, bias_add with C % 4 == 0 and != 0 on
// aligned and misaligned buffers, and n = 0 with null pointers.
// Plain tests: the reference's stable sigmoid, finite differences of every backward in double,
// the rejection messages and the host-side checks of the CUDA entry points.
//
// Tolerance: bitwise for every op except sigmoid_forward, whose exp differs from glibc's by a few
// ulp (the CPU loop may use a vectorised exp; CUDA's expf has max 2 ulp error): rtol 1e-6.

#include "kernels/elementwise/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using namespace ::unet::testing;  // helpers: tests/testing/*.h

// One op as y = f(a, b) over n elements; ops with fewer inputs ignore the rest. accumulate reads y
// as input too (y += a), so the harness presets y from `b` for it (`y_from_b`).
using Fn = std::function<void(int64_t, const float*, const float*, float*)>;
struct Op {
  std::string name;
  bool exact;         // bitwise; otherwise rtol 1e-6 (see the top of the file)
  bool y_from_b;      // y starts as a copy of b
  Fn ref, cpu, cuda;  // cuda gets device pointers
  const Fn& on(const KernelBackend& b) const { return b.cuda ? cuda : cpu; }
};

// The op table. The scalar parameters (leaky slope, scale alpha, fill value) each appear with two
// values, one of them negative where a sign matters.
std::vector<Op> ops() {
  std::vector<Op> out = {
      {"relu_forward", true, false,
       [](int64_t n, const float* a, const float*, float* y) { relu_forward_ref(n, a, y); },
       [](int64_t n, const float* a, const float*, float* y) { relu_forward_cpu(n, a, y); },
       [](int64_t n, const float* a, const float*, float* y) {
         relu_forward_cuda(n, a, y, nullptr);
       }},
      {"relu_backward", true, false,
       [](int64_t n, const float* a, const float* b, float* y) { relu_backward_ref(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) { relu_backward_cpu(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) {
         relu_backward_cuda(n, a, b, y, nullptr);
       }},
      {"sigmoid_forward", false, false,
       [](int64_t n, const float* a, const float*, float* y) { sigmoid_forward_ref(n, a, y); },
       [](int64_t n, const float* a, const float*, float* y) { sigmoid_forward_cpu(n, a, y); },
       [](int64_t n, const float* a, const float*, float* y) {
         sigmoid_forward_cuda(n, a, y, nullptr);
       }},
      {"sigmoid_backward", true, false,
       [](int64_t n, const float* a, const float* b, float* y) {
         sigmoid_backward_ref(n, a, b, y);
       },
       [](int64_t n, const float* a, const float* b, float* y) {
         sigmoid_backward_cpu(n, a, b, y);
       },
       [](int64_t n, const float* a, const float* b, float* y) {
         sigmoid_backward_cuda(n, a, b, y, nullptr);
       }},
      {"add", true, false,
       [](int64_t n, const float* a, const float* b, float* y) { add_ref(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) { add_cpu(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) { add_cuda(n, a, b, y, nullptr); }},
      {"mul", true, false,
       [](int64_t n, const float* a, const float* b, float* y) { mul_ref(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) { mul_cpu(n, a, b, y); },
       [](int64_t n, const float* a, const float* b, float* y) { mul_cuda(n, a, b, y, nullptr); }},
      {"accumulate", true, true,
       [](int64_t n, const float* a, const float*, float* y) { accumulate_ref(n, a, y); },
       [](int64_t n, const float* a, const float*, float* y) { accumulate_cpu(n, a, y); },
       [](int64_t n, const float* a, const float*, float* y) {
         accumulate_cuda(n, a, y, nullptr);
       }},
  };
  for (float slope : {0.01f, 0.2f}) {
    const std::string p = "(slope=" + std::to_string(slope) + ")";
    out.push_back({"leaky_relu_forward" + p, true, false,
                   [slope](int64_t n, const float* a, const float*, float* y) {
                     leaky_relu_forward_ref(n, slope, a, y);
                   },
                   [slope](int64_t n, const float* a, const float*, float* y) {
                     leaky_relu_forward_cpu(n, slope, a, y);
                   },
                   [slope](int64_t n, const float* a, const float*, float* y) {
                     leaky_relu_forward_cuda(n, slope, a, y, nullptr);
                   }});
    out.push_back({"leaky_relu_backward" + p, true, false,
                   [slope](int64_t n, const float* a, const float* b, float* y) {
                     leaky_relu_backward_ref(n, slope, a, b, y);
                   },
                   [slope](int64_t n, const float* a, const float* b, float* y) {
                     leaky_relu_backward_cpu(n, slope, a, b, y);
                   },
                   [slope](int64_t n, const float* a, const float* b, float* y) {
                     leaky_relu_backward_cuda(n, slope, a, b, y, nullptr);
                   }});
  }
  for (float alpha : {-0.37f, 1.75f}) {
    out.push_back(
        {"scale(alpha=" + std::to_string(alpha) + ")", true, false,
         [alpha](int64_t n, const float* a, const float*, float* y) { scale_ref(n, alpha, a, y); },
         [alpha](int64_t n, const float* a, const float*, float* y) { scale_cpu(n, alpha, a, y); },
         [alpha](int64_t n, const float* a, const float*, float* y) {
           scale_cuda(n, alpha, a, y, nullptr);
         }});
  }
  for (float value : {2.5f, -4.25f}) {
    out.push_back(
        {"fill(value=" + std::to_string(value) + ")", true, false,
         [value](int64_t n, const float*, const float*, float* y) { fill_ref(n, value, y); },
         [value](int64_t n, const float*, const float*, float* y) { fill_cpu(n, value, y); },
         [value](int64_t n, const float*, const float*, float* y) {
           fill_cuda(n, value, y, nullptr);
         }});
  }
  return out;
}

// `offset` zeros, then v: the buffer then starts `offset` floats into its allocation.
std::vector<float> shifted(int offset, const std::vector<float>& v) {
  std::vector<float> out(offset, 0.0f);
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

std::vector<float> unshifted(int offset, const std::vector<float>& v) {
  return std::vector<float>(v.begin() + offset, v.end());
}

::testing::AssertionResult matches(const Op& op, const std::vector<float>& got,
                                   const std::vector<float>& want, const std::string& what) {
  return op.exact ? bitwise_equal(got, want, what) : all_close(got, want, 1e-6f, 0.0f, what);
}

// ---------------------------------------------------------------- every backend vs the reference

class ElementwiseTest : public ::testing::TestWithParam<KernelBackend> {};

TEST_P(ElementwiseTest, AllOpsMatchReference) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  // (input offset, output offset) in floats: aligned, all misaligned, output-only misaligned.
  const std::pair<int, int> offsets[] = {{0, 0}, {1, 1}, {0, 3}};
  uint64_t seed = 1000;
  for (int64_t n : {1, 4, 7, 1001, 100003, (1 << 20) + 3}) {
    // Inputs in [-3, 3): both signs for relu / leaky / sigmoid.
    const auto a = random_floats(n, seed++, -3.0f, 3.0f);
    const auto bb = random_floats(n, seed++, -3.0f, 3.0f);
    for (const Op& op : ops()) {
      std::vector<float> want = op.y_from_b ? bb : std::vector<float>(n);
      op.ref(n, a.data(), bb.data(), want.data());
      for (auto [in_off, out_off] : offsets) {
        SCOPED_TRACE(b.name + " " + op.name + " n=" + std::to_string(n) +
                     " offsets=" + std::to_string(in_off) + "," + std::to_string(out_off));
        BackendBuffer<float> a_d(b, shifted(in_off, a)), b_d(b, shifted(in_off, bb));
        BackendBuffer<float> y_d(
            b, op.y_from_b ? shifted(out_off, bb) : std::vector<float>(n + out_off));
        if (!op.y_from_b) y_d.poison();
        op.on(b)(n, a_d.get() + in_off, b_d.get() + in_off, y_d.get() + out_off);
        EXPECT_TRUE(matches(op, unshifted(out_off, y_d.to_host()), want, op.name));
      }
    }
  }
}

TEST_P(ElementwiseTest, InPlaceCallsWork) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  constexpr float kAlpha = -0.37f;
  for (int64_t n : {1003, 4099}) {
    SCOPED_TRACE(b.name + " n=" + std::to_string(n));
    const auto a = random_floats(n, 11, -3.0f, 3.0f);
    const auto bb = random_floats(n, 12, -3.0f, 3.0f);
    std::vector<float> want(n);
    {
      relu_forward_ref(n, a.data(), want.data());
      BackendBuffer<float> x(b, a);
      if (b.cuda) {
        relu_forward_cuda(n, x.get(), x.get(), nullptr);
      } else {
        relu_forward_cpu(n, x.get(), x.get());
      }
      EXPECT_TRUE(bitwise_equal(x.to_host(), want, "relu in place"));
    }
    {
      sigmoid_forward_ref(n, a.data(), want.data());
      BackendBuffer<float> x(b, a);
      if (b.cuda) {
        sigmoid_forward_cuda(n, x.get(), x.get(), nullptr);
      } else {
        sigmoid_forward_cpu(n, x.get(), x.get());
      }
      EXPECT_TRUE(all_close(x.to_host(), want, 1e-6f, 0.0f, "sigmoid in place"));
    }
    {
      add_ref(n, a.data(), bb.data(), want.data());
      BackendBuffer<float> x(b, a), y(b, bb);
      if (b.cuda) {
        add_cuda(n, x.get(), y.get(), x.get(), nullptr);
      } else {
        add_cpu(n, x.get(), y.get(), x.get());
      }
      EXPECT_TRUE(bitwise_equal(x.to_host(), want, "add in place"));
    }
    {
      scale_ref(n, kAlpha, a.data(), want.data());
      BackendBuffer<float> x(b, a);
      if (b.cuda) {
        scale_cuda(n, kAlpha, x.get(), x.get(), nullptr);
      } else {
        scale_cpu(n, kAlpha, x.get(), x.get());
      }
      EXPECT_TRUE(bitwise_equal(x.to_host(), want, "scale in place"));
    }
    {
      relu_backward_ref(n, a.data(), bb.data(), want.data());
      BackendBuffer<float> y(b, a), g(b, bb);
      if (b.cuda) {
        relu_backward_cuda(n, y.get(), g.get(), g.get(), nullptr);
      } else {
        relu_backward_cpu(n, y.get(), g.get(), g.get());
      }
      EXPECT_TRUE(bitwise_equal(g.to_host(), want, "relu_backward in place (dx == dy)"));
    }
  }
}

TEST_P(ElementwiseTest, ReluHandWritten) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  BackendBuffer<float> x(b, std::vector<float>{-2.0f, 0.0f, 3.0f, -0.5f, 1e-30f}), y(b, 5);
  BackendBuffer<float> dy(b, std::vector<float>{1, 2, 3, 4, 5}), dx(b, 5);
  y.poison();
  dx.poison();
  if (b.cuda) {
    relu_forward_cuda(5, x.get(), y.get(), nullptr);
    relu_backward_cuda(5, y.get(), dy.get(), dx.get(), nullptr);
  } else {
    relu_forward_cpu(5, x.get(), y.get());
    relu_backward_cpu(5, y.get(), dy.get(), dx.get());
  }
  EXPECT_TRUE(bitwise_equal(y.to_host(), {0.0f, 0.0f, 3.0f, 0.0f, 1e-30f}, "relu"));
  EXPECT_TRUE(bitwise_equal(dx.to_host(), {0, 0, 3, 0, 5}, "relu dx"));
}

TEST_P(ElementwiseTest, SigmoidIsStableForLargeInputs) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const std::vector<float> x = {-1000.0f, -100.0f, -80.0f, 0.0f, 80.0f, 100.0f, 1000.0f};
  BackendBuffer<float> x_d(b, x), y_d(b, x.size());
  y_d.poison();
  if (b.cuda) {
    sigmoid_forward_cuda(int64_t(x.size()), x_d.get(), y_d.get(), nullptr);
  } else {
    sigmoid_forward_cpu(int64_t(x.size()), x_d.get(), y_d.get());
  }
  const auto y = y_d.to_host();
  for (size_t i = 0; i < y.size(); ++i) EXPECT_TRUE(std::isfinite(y[i])) << "x=" << x[i];
  EXPECT_EQ(y[0], 0.0f);
  // exp(-100) ~ 3.7e-44 is a denormal: kept or flushed, it must be tiny and not negative.
  EXPECT_GE(y[1], 0.0f);
  EXPECT_LT(y[1], 1e-40f);
  EXPECT_GT(y[2], 0.0f);  // exp(-80) ~ 1.8e-35 is a normal float: no underflow to 0 yet
  EXPECT_EQ(y[3], 0.5f);
  EXPECT_EQ(y[4], 1.0f);
  EXPECT_EQ(y[5], 1.0f);
  EXPECT_EQ(y[6], 1.0f);
}

TEST_P(ElementwiseTest, BiasAddMatchesReference) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 77;
  // One pixel and one channel, odd C, C % 4 == 0 (CUDA's float4 path) and != 0, many pixels.
  for (auto [pixels, C] : std::vector<std::pair<int64_t, int>>{
           {1, 1}, {7, 3}, {5, 32}, {20000, 5}, {65536, 32}, {999, 4}, {33, 6}}) {
    for (int offset : {0, 1}) {  // 1: misaligned bias and y, CUDA must take the scalar kernel
      SCOPED_TRACE(b.name + " pixels=" + std::to_string(pixels) + " C=" + std::to_string(C) +
                   " offset=" + std::to_string(offset));
      const auto bias = random_floats(C, seed++);
      const auto y0 = random_floats(pixels * C, seed++);
      std::vector<float> want = y0;
      bias_add_ref(pixels, C, bias.data(), want.data());
      EXPECT_EQ(want[C - 1], y0[C - 1] + bias[C - 1]);  // the reference itself does what it says
      BackendBuffer<float> b_d(b, shifted(offset, bias)), y_d(b, shifted(offset, y0));
      if (b.cuda) {
        bias_add_cuda(pixels, C, b_d.get() + offset, y_d.get() + offset, nullptr);
      } else {
        bias_add_cpu(pixels, C, b_d.get() + offset, y_d.get() + offset);
      }
      EXPECT_TRUE(bitwise_equal(unshifted(offset, y_d.to_host()), want, "bias_add"));
    }
  }
}

TEST_P(ElementwiseTest, ZeroElementsIsANoOp) {
  // Nothing is read or written (no launch on CUDA), so null buffers are accepted.
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  for (const Op& op : ops()) {
    SCOPED_TRACE(b.name + " " + op.name);
    op.on(b)(0, nullptr, nullptr, nullptr);
  }
  if (b.cuda) {
    bias_add_cuda(0, 4, nullptr, nullptr, nullptr);
  } else {
    bias_add_cpu(0, 4, nullptr, nullptr);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ElementwiseTest, ::testing::ValuesIn(cpu_and_cuda()),
                         backend_test_name);

// ---------------------------------------------------------------- the reference and the CPU path

TEST(ElementwiseCpu, ReferenceSigmoidIsStableForLargeInputs) {
  const std::vector<float> x = {-1000.0f, -100.0f, -80.0f, 0.0f, 80.0f, 100.0f, 1000.0f};
  std::vector<float> y(x.size());
  sigmoid_forward_ref(int64_t(x.size()), x.data(), y.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_TRUE(std::isfinite(y[i])) << "x=" << x[i];
  EXPECT_EQ(y.front(), 0.0f);
  EXPECT_EQ(y[3], 0.5f);
  EXPECT_EQ(y.back(), 1.0f);
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

// ---------------------------------------------------------------- CUDA entry points, host side

TEST(ElementwiseCudaContract, RejectionsBeforeAnyLaunch) {
  // Checked on the host before any CUDA call, so no device (and no device pointer) is needed.
  UNET_REQUIRE_CUDA_BUILD();
  std::vector<float> buf(8);
  float* p = buf.data();
  expect_invalid([&] { add_cuda(-2, nullptr, nullptr, nullptr, nullptr); },
                 "add_cuda: element count n=-2 is negative");
  expect_invalid([&] { mul_cuda(4, p, nullptr, p, nullptr); }, "mul_cuda: b is null with n=4");
  expect_invalid([&] { sigmoid_backward_cuda(4, p, p, nullptr, nullptr); },
                 "sigmoid_backward_cuda: dx is null");
  expect_invalid([&] { fill_cuda(3, 1.0f, nullptr, nullptr); }, "fill_cuda: y is null");
  expect_invalid([&] { bias_add_cuda(-1, 2, p, p, nullptr); },
                 "bias_add_cuda: pixels must be >= 0 (pixels=-1 C=2)");
  expect_invalid([&] { bias_add_cuda(2, 0, p, p, nullptr); }, "bias_add_cuda: C must be >= 1");
  expect_invalid([&] { bias_add_cuda(2, 2, nullptr, p, nullptr); }, "bias_add_cuda: bias is null");
}

}  // namespace
}  // namespace unet::kernels
