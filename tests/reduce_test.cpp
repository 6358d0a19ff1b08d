// reduce CPU tests: sum / channel_sum fast paths vs the double-accumulating reference, a ~10M
// element sum vs a long-double sum, determinism across thread counts, the calculus check of
// bias_add's gradient (= channel_sum of dy), and the rejection messages.
//
// Tolerance: both paths accumulate in double and differ only in summation order (error ~1e-16
// relative to sum|x|), so results differ by at most the final fp32 rounding: rtol 1e-6, plus a
// tiny atol for sums that cancel to ~0.

#include "kernels/reduce/reduce.h"

#include <omp.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/elementwise/elementwise.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using unet::testing::all_close;
using unet::testing::bitwise_equal;
using unet::testing::gradients_match;
using unet::testing::numeric_gradient;
using unet::testing::random_floats;

TEST(ReduceCpu, SumMatchesReference) {
  uint64_t seed = 1;
  for (int64_t n : {0, 1, 7, 65536, 65537, 1000003}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    const auto x = random_floats(n, seed++);
    const float want = sum_ref(n, x.data());
    const float got = sum_cpu(n, x.data());
    EXPECT_TRUE(all_close(&got, &want, 1, 1e-6f, 1e-6f, "sum"));
  }
  const std::vector<float> x = {1.5f, -2.0f, 4.0f};
  EXPECT_EQ(sum_ref(3, x.data()), 3.5f);
  EXPECT_EQ(sum_cpu(3, x.data()), 3.5f);
  EXPECT_EQ(sum_cpu(0, nullptr), 0.0f);
}

TEST(ReduceCpu, TenMillionElementSumMatchesHighPrecision) {
  const int64_t n = 10'000'019;
  const auto x = random_floats(n, 42, 0.0f, 1.0f);  // positive: relative error is meaningful
  long double exact = 0;
  for (float v : x) exact += v;
  const float want = float(exact);
  const float got = sum_cpu(n, x.data());
  EXPECT_TRUE(all_close(&got, &want, 1, 1e-6f, 0.0f, "sum of 10M"));
  // A naive fp32 running sum would be off by ~1e-3 relative here; make sure we are far better.
  EXPECT_NEAR(double(got), double(exact), 1e-6 * double(exact));
}

TEST(ReduceCpu, ResultDoesNotDependOnThreadCount) {
  const int64_t n = 3'000'017;
  const auto x = random_floats(n, 9);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const float one = sum_cpu(n, x.data());
  std::vector<float> c1(17);
  channel_sum_cpu(n / 17, 17, x.data(), c1.data());
  omp_set_num_threads(4);
  const float four = sum_cpu(n, x.data());
  std::vector<float> c4(17);
  channel_sum_cpu(n / 17, 17, x.data(), c4.data());
  omp_set_num_threads(saved);
  EXPECT_TRUE(bitwise_equal({one}, {four}, "sum"));
  EXPECT_TRUE(bitwise_equal(c1, c4, "channel_sum"));
}

TEST(ReduceCpu, ChannelSumMatchesReference) {
  uint64_t seed = 20;
  for (int64_t pixels : {0, 1, 7, 1025, 5000}) {
    for (int C : {1, 3, 32, 33}) {
      SCOPED_TRACE("pixels=" + std::to_string(pixels) + " C=" + std::to_string(C));
      const auto x = random_floats(pixels * C, seed++);
      std::vector<float> want(C, 7.0f), got(C, 9.0f);
      channel_sum_ref(pixels, C, x.data(), want.data());
      channel_sum_cpu(pixels, C, x.data(), got.data());
      EXPECT_TRUE(all_close(got, want, 1e-6f, 1e-6f, "channel_sum"));
    }
  }
  // Hand case: 2 pixels x 3 channels.
  const std::vector<float> x = {1, 2, 3, 10, 20, 30};
  std::vector<float> out(3);
  channel_sum_cpu(2, 3, x.data(), out.data());
  EXPECT_TRUE(bitwise_equal(out, {11, 22, 33}, "channel_sum hand case"));
}

TEST(ReduceCpu, ChannelSumIsTheGradientOfBiasAdd) {
  // loss = sum(g * bias_add(y0, bias)) -> dloss/dbias = channel_sum(g). Linear: tol 1e-7.
  const int64_t pixels = 9;
  const int C = 4;
  const auto gf = random_floats(pixels * C, 3), y0f = random_floats(pixels * C, 4);
  const std::vector<double> g(gf.begin(), gf.end()), y0(y0f.begin(), y0f.end());
  std::vector<double> bias = {0.1, -0.2, 0.3, 0.4}, y;
  auto loss = [&] {
    y = y0;
    bias_add_ref(pixels, C, bias.data(), y.data());
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += g[i] * y[i];
    return l;
  };
  std::vector<double> dbias(C);
  channel_sum_ref(pixels, C, g.data(), dbias.data());
  EXPECT_TRUE(gradients_match(dbias, numeric_gradient(loss, bias), 1e-7, "dbias"));
}

using unet::testing::expect_invalid;

TEST(ReduceCpu, RejectsBadArgumentsWithClearMessages) {
  std::vector<float> buf(8);
  float* p = buf.data();
  expect_invalid([&] { sum_cpu(-3, p); }, "sum_cpu: n must be >= 0 (n=-3)");
  expect_invalid([&] { sum_ref<float>(4, nullptr); }, "sum_ref: x is null; pass n elements (n=4)");
  expect_invalid([&] { channel_sum_cpu(-1, 2, p, p); },
                 "channel_sum_cpu: pixels must be >= 0 (pixels=-1 C=2)");
  expect_invalid([&] { channel_sum_ref<float>(2, 0, p, p); }, "channel_sum_ref: C must be >= 1");
  expect_invalid([&] { channel_sum_cpu(2, 2, nullptr, p); }, "channel_sum_cpu: x is null");
  expect_invalid([&] { channel_sum_cpu(2, 2, p, nullptr); }, "channel_sum_cpu: out is null");
}

}  // namespace
}  // namespace unet::kernels
