// bce_loss CPU tests: hand-computed values, stability at large |x|, the OpenMP path against the
// reference on awkward sizes, finite differences in double, thread-count independence, errors.
#include "kernels/bce_with_logits/bce_with_logits.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using ::unet::testing::all_close;
using ::unet::testing::random_floats;

TEST(BceLoss, HandComputedThreeElements) {
  // x = {0, 2, -3}, t = {1, 0, 1}; terms max(x,0) - x*t + log1p(exp(-|x|)):
  //   0 - 0 + log 2 = 0.6931472;  2 - 0 + log1p(e^-2) = 2.1269280;  0 + 3 + log1p(e^-3) = 3.0485874
  //   mean = 5.8686625 / 3 = 1.9562208
  // dx = (sigmoid(x) - t) / 3 = {(0.5 - 1)/3, 0.8807971/3, (0.0474259 - 1)/3}
  //    = {-0.1666667, 0.2935990, -0.3175247}
  const std::vector<float> x = {0.0f, 2.0f, -3.0f}, t = {1.0f, 0.0f, 1.0f};
  EXPECT_NEAR(bce_with_logits_forward_cpu(3, x.data(), t.data()), 1.9562208f, 2e-7);
  EXPECT_NEAR(bce_with_logits_forward_ref<float>(3, x.data(), t.data()), 1.9562208f, 2e-7);
  std::vector<float> d(3);
  bce_with_logits_backward_cpu(3, x.data(), t.data(), 1.0f, d.data());
  EXPECT_NEAR(d[0], -0.1666667f, 1e-7);
  EXPECT_NEAR(d[1], 0.2935990f, 1e-7);
  EXPECT_NEAR(d[2], -0.3175247f, 1e-7);
}

TEST(BceLoss, StableForLargeLogits) {
  // A naive log(sigmoid(x)) gives -inf / NaN here; the stable form gives |x| or ~0.
  const std::vector<float> x = {100.0f, -100.0f, 100.0f, -100.0f};
  const std::vector<float> t = {0.0f, 1.0f, 1.0f, 0.0f};
  EXPECT_NEAR(bce_with_logits_forward_cpu(4, x.data(), t.data()), 50.0f, 1e-5);
  std::vector<float> d(4);
  bce_with_logits_backward_cpu(4, x.data(), t.data(), 1.0f, d.data());
  EXPECT_NEAR(d[0], 0.25f, 1e-7);
  EXPECT_NEAR(d[1], -0.25f, 1e-7);
  EXPECT_NEAR(d[2], 0.0f, 1e-7);
  EXPECT_NEAR(d[3], 0.0f, 1e-7);
}

// Loss: both accumulate in double, only the order differs: rtol 1e-6 after the cast to float.
// dx: the same float expression element by element (the scale dloss/n is computed once in both):
// rtol 1e-6 allows for a different FMA contraction in the vectorised loop.
TEST(BceLoss, CpuMatchesReferenceOnAwkwardSizes) {
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1000), int64_t(65537), int64_t(5000003)}) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    const size_t un = static_cast<size_t>(n);
    const auto x = random_floats(un, 40 + uint64_t(n), -6.0f, 6.0f);
    const auto t = random_floats(un, 41 + uint64_t(n), 0.0f, 1.0f);
    const float want = bce_with_logits_forward_ref<float>(n, x.data(), t.data());
    const float got = bce_with_logits_forward_cpu(n, x.data(), t.data());
    EXPECT_NEAR(got, want, 1e-6 * std::fabs(want));
    std::vector<float> dwant(un), dgot(un);
    bce_with_logits_backward_ref<float>(n, x.data(), t.data(), 1.3f, dwant.data());
    bce_with_logits_backward_cpu(n, x.data(), t.data(), 1.3f, dgot.data());
    EXPECT_TRUE(all_close(dgot, dwant, 1e-6f, 1e-12f, "dlogits"));
  }
}

// Central differences in double: agreement ~1e-8; tol 1e-6.
TEST(BceLoss, ReferenceBackwardMatchesFiniteDifferences) {
  const int64_t n = 11;
  std::vector<double> x = ::unet::testing::random_doubles(11, 7, -5.0, 5.0);
  const std::vector<double> t = ::unet::testing::random_doubles(11, 8, 0.0, 1.0);
  const double dloss = 0.6;
  auto loss = [&]() -> double {
    return dloss * bce_with_logits_forward_ref<double>(n, x.data(), t.data());
  };
  std::vector<double> analytic(11);
  bce_with_logits_backward_ref<double>(n, x.data(), t.data(), dloss, analytic.data());
  const auto numeric = ::unet::testing::numeric_gradient(loss, x);
  EXPECT_TRUE(::unet::testing::gradients_match(analytic, numeric, 1e-6, "dlogits"));
}

TEST(BceLoss, CpuResultDoesNotDependOnThreadCount) {
  const int64_t n = 300001;
  const auto x = random_floats(300001, 50, -6.0f, 6.0f);
  const auto t = random_floats(300001, 51, 0.0f, 1.0f);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const float a = bce_with_logits_forward_cpu(n, x.data(), t.data());
  omp_set_num_threads(3);
  const float b = bce_with_logits_forward_cpu(n, x.data(), t.data());
  omp_set_num_threads(saved);
  EXPECT_EQ(a, b);
}

TEST(BceLoss, RejectsBadArguments) {
  const std::vector<float> x = {0.0f}, t = {1.0f};
  std::vector<float> d(1);
  auto expect_msg = [](auto fn, const std::string& needle) {
    try {
      fn();
      FAIL() << "expected std::invalid_argument containing '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_msg([&] { bce_with_logits_forward_cpu(0, x.data(), t.data()); },
             "bce_with_logits_forward_cpu: n must be > 0, got 0");
  expect_msg([&] { bce_with_logits_forward_ref<float>(-1, x.data(), t.data()); },
             "bce_with_logits_forward_ref: n must be > 0, got -1");
  expect_msg([&] { bce_with_logits_forward_cpu(1, x.data(), nullptr); },
             "logits and target must not be null");
  expect_msg([&] { bce_with_logits_backward_cpu(1, x.data(), t.data(), 1.0f, nullptr); },
             "bce_with_logits_backward_cpu: dlogits must not be null");
  expect_msg([&] { bce_with_logits_backward_ref<float>(0, x.data(), t.data(), 1.0f, d.data()); },
             "bce_with_logits_backward_ref: n must be > 0");
}

}  // namespace
}  // namespace unet::kernels
