// dice_loss CPU tests: the OpenMP path against the naive reference on awkward sizes, the reference
// backward against central finite differences in double, hand-computed values, Dice's special cases
// (empty masks, perfect and inverted predictions), thread-count independence and argument errors.
#include "kernels/dice_loss/dice_loss.h"

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

// Binary masks (the real targets) or soft targets in [0, 1).
std::vector<float> make_target(size_t n, uint64_t seed, bool binary) {
  std::vector<float> t = random_floats(n, seed, 0.0f, 1.0f);
  if (binary) {
    for (float& v : t) v = v < 0.3f ? 1.0f : 0.0f;
  }
  return t;
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

TEST(DiceLoss, HandComputedTwoElements) {
  // logits {0, 0} -> p = {0.5, 0.5}; t = {1, 0}: I = 0.5, Ps = 1, Ts = 1, smooth = 1
  // loss = -(2*0.5 + 1) / (1 + 1 + 1) = -2/3. Nn = 2, D = 3:
  // dL/dp = -(2*t*3 - 2)/9 = {-4/9, 2/9}; times p(1-p) = 1/4 -> dlogit = {-1/9, 1/18}.
  const std::vector<float> logits = {0.0f, 0.0f}, target = {1.0f, 0.0f};
  DiceSums sums;
  const float loss = dice_loss_forward_cpu(2, logits.data(), target.data(), 1.0f, &sums);
  EXPECT_NEAR(loss, -2.0f / 3.0f, 1e-7);
  EXPECT_DOUBLE_EQ(sums.intersection, 0.5);
  EXPECT_DOUBLE_EQ(sums.pred_sum, 1.0);
  EXPECT_DOUBLE_EQ(sums.target_sum, 1.0);
  std::vector<float> d(2);
  dice_loss_backward_cpu(2, logits.data(), target.data(), 1.0f, sums, 1.0f, d.data());
  EXPECT_NEAR(d[0], -1.0f / 9.0f, 1e-7);
  EXPECT_NEAR(d[1], 1.0f / 18.0f, 1e-7);
  const float ref = dice_loss_forward_ref<float>(2, logits.data(), target.data(), 1.0f, nullptr);
  EXPECT_NEAR(ref, -2.0f / 3.0f, 1e-7);
}

// Loss and sums agree to ~1e-6 (both accumulate in double; only the summation order differs, and
// the final cast to float rounds). dlogits: the fast path applies two float coefficients where
// the reference rounds once per element, a few ulp: rtol 1e-5, atol 1e-6 of the largest value.
TEST(DiceLoss, CpuMatchesReferenceOnAwkwardSizes) {
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1000), int64_t(65537), int64_t(5000003)}) {
    for (bool binary : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "n=" << n << " binary=" << binary);
      const auto logits = random_floats(static_cast<size_t>(n), 11 + uint64_t(n), -4.0f, 4.0f);
      const auto target = make_target(static_cast<size_t>(n), 12 + uint64_t(n), binary);
      DiceSums want_s, got_s;
      const float want =
          dice_loss_forward_ref<float>(n, logits.data(), target.data(), 1.0f, &want_s);
      const float got = dice_loss_forward_cpu(n, logits.data(), target.data(), 1.0f, &got_s);
      EXPECT_NEAR(got, want, 1e-6 * std::fabs(want));
      EXPECT_NEAR(got_s.intersection, want_s.intersection, 1e-10 * want_s.intersection + 1e-12);
      EXPECT_NEAR(got_s.pred_sum, want_s.pred_sum, 1e-10 * want_s.pred_sum);
      EXPECT_NEAR(got_s.target_sum, want_s.target_sum, 1e-10 * want_s.target_sum + 1e-12);
      std::vector<float> dwant(static_cast<size_t>(n)), dgot(static_cast<size_t>(n));
      dice_loss_backward_ref<float>(n, logits.data(), target.data(), 1.0f, want_s, 0.7f,
                                    dwant.data());
      dice_loss_backward_cpu(n, logits.data(), target.data(), 1.0f, got_s, 0.7f, dgot.data());
      EXPECT_TRUE(all_close(dgot, dwant, 1e-5f, 1e-6f * max_abs(dwant), "dlogits"));
    }
  }
}

// Central differences in double: truncation ~eps^2, rounding ~1e-16/eps: agreement ~1e-8, tol 1e-6.
TEST(DiceLoss, ReferenceBackwardMatchesFiniteDifferences) {
  for (bool binary : {true, false}) {
    for (double smooth : {1.0, 1e-3}) {
      SCOPED_TRACE(::testing::Message() << "binary=" << binary << " smooth=" << smooth);
      const int64_t n = 13;
      std::vector<double> logits =
          ::unet::testing::random_doubles(static_cast<size_t>(n), 5, -3.0, 3.0);
      std::vector<double> target(static_cast<size_t>(n));
      const auto tf = make_target(static_cast<size_t>(n), 6, binary);
      for (size_t i = 0; i < target.size(); ++i) target[i] = tf[i];
      const double dloss = 0.7;
      auto loss = [&] {
        return dloss *
               dice_loss_forward_ref<double>(n, logits.data(), target.data(), smooth, nullptr);
      };
      DiceSums sums;
      dice_loss_forward_ref<double>(n, logits.data(), target.data(), smooth, &sums);
      std::vector<double> analytic(static_cast<size_t>(n));
      dice_loss_backward_ref<double>(n, logits.data(), target.data(), smooth, sums, dloss,
                                     analytic.data());
      const auto numeric = ::unet::testing::numeric_gradient(loss, logits);
      EXPECT_TRUE(::unet::testing::gradients_match(analytic, numeric, 1e-6, "dlogits"));
    }
  }
}

TEST(DiceLoss, EmptyTargetAndEmptyPredictionGiveMinusOne) {
  // p = sigmoid(-100) ~ 4e-44: I = 0, Ps ~ 0, Ts = 0 -> loss = -(0 + 1)/(0 + 0 + 1) = -1.
  const int64_t n = 4097;
  const std::vector<float> logits(static_cast<size_t>(n), -100.0f),
      target(static_cast<size_t>(n), 0.0f);
  DiceSums sums;
  EXPECT_NEAR(dice_loss_forward_cpu(n, logits.data(), target.data(), 1.0f, &sums), -1.0f, 1e-6);
  EXPECT_NEAR(dice_loss_forward_ref<float>(n, logits.data(), target.data(), 1.0f, nullptr), -1.0f,
              1e-6);
  std::vector<float> d(static_cast<size_t>(n), 123.0f);
  dice_loss_backward_cpu(n, logits.data(), target.data(), 1.0f, sums, 1.0f, d.data());
  for (float v : d) ASSERT_TRUE(std::isfinite(v));
  EXPECT_LT(max_abs(d), 1e-30f);  // sigmoid saturated: p(1-p) ~ 4e-44
}

TEST(DiceLoss, PerfectPredictionNearMinusOneAndInvertedNearZero) {
  const int64_t n = 1001;
  const auto target = make_target(static_cast<size_t>(n), 21, true);
  std::vector<float> perfect(static_cast<size_t>(n)), inverted(static_cast<size_t>(n));
  double ts = 0;
  for (size_t i = 0; i < target.size(); ++i) {
    perfect[i] = target[i] > 0.5f ? 30.0f : -30.0f;
    inverted[i] = -perfect[i];
    ts += target[i];
  }
  ASSERT_GT(ts, 10.0);
  EXPECT_NEAR(dice_loss_forward_cpu(n, perfect.data(), target.data(), 1.0f, nullptr), -1.0f, 1e-6);
  // Inverted: I ~ 0, Ps ~ n - Ts -> loss = -1 / (n + 1).
  EXPECT_NEAR(dice_loss_forward_cpu(n, inverted.data(), target.data(), 1.0f, nullptr),
              -1.0f / float(n + 1), 1e-7);
}

TEST(DiceLoss, CpuResultDoesNotDependOnThreadCount) {
  const int64_t n = 300001;
  const auto logits = random_floats(static_cast<size_t>(n), 31, -4.0f, 4.0f);
  const auto target = make_target(static_cast<size_t>(n), 32, true);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  DiceSums a, b;
  const float la = dice_loss_forward_cpu(n, logits.data(), target.data(), 1.0f, &a);
  omp_set_num_threads(3);
  const float lb = dice_loss_forward_cpu(n, logits.data(), target.data(), 1.0f, &b);
  omp_set_num_threads(saved);
  EXPECT_EQ(la, lb);
  EXPECT_EQ(a.intersection, b.intersection);
  EXPECT_EQ(a.pred_sum, b.pred_sum);
  EXPECT_EQ(a.target_sum, b.target_sum);
}

TEST(DiceLoss, RejectsBadArguments) {
  const std::vector<float> x = {0.0f}, t = {1.0f};
  std::vector<float> d(1);
  DiceSums s;
  auto expect_msg = [](auto fn, const std::string& needle) {
    try {
      fn();
      FAIL() << "expected std::invalid_argument containing '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_msg([&] { dice_loss_forward_cpu(0, x.data(), t.data(), 1.0f, &s); },
             "dice_loss_forward_cpu: n must be > 0, got 0");
  expect_msg([&] { dice_loss_forward_ref<float>(-3, x.data(), t.data(), 1.0f, &s); },
             "dice_loss_forward_ref: n must be > 0, got -3");
  expect_msg([&] { dice_loss_forward_cpu(1, x.data(), t.data(), -1.0f, &s); },
             "smooth must be finite and >= 0");
  expect_msg([&] { dice_loss_forward_cpu(1, nullptr, t.data(), 1.0f, &s); },
             "logits and target must not be null");
  expect_msg([&] { dice_loss_backward_cpu(1, x.data(), t.data(), 1.0f, s, 1.0f, nullptr); },
             "dice_loss_backward_cpu: dlogits must not be null");
  expect_msg([&] { dice_loss_backward_ref<float>(1, x.data(), nullptr, 1.0f, s, 1.0f, d.data()); },
             "dice_loss_backward_ref: logits and target must not be null");
}

}  // namespace
}  // namespace unet::kernels
