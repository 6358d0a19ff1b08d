// dice_loss: one case table (n = 1, odd, around the CUDA block size, above the CPU's 64K chunk,
// beyond the CUDA 1024-block grid so threads stride, ~5M; binary and soft targets) run on every
// backend (the CPU fast path and the CUDA kernels) against the naive CPU reference; Dice's special
// cases (empty masks, perfect and inverted predictions) and a hand-computed case on every backend
// too. Outputs are poisoned (NaN bytes) first so an element left unwritten fails.
// Plain tests: the reference by hand and against finite differences in double, the CPU result's
// independence of the thread count, CUDA run-to-run bitwise determinism, the rejection messages,
// the host-side checks of the CUDA entry points and the stubs of a build without CUDA.
#include "kernels/dice_loss/dice_loss.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using namespace ::unet::testing;  // helpers: tests/testing/*.h

// Binary masks (the real targets) or soft targets in [0, 1).
std::vector<float> make_target(size_t n, uint64_t seed, bool binary) {
  std::vector<float> t = random_floats(n, seed, 0.0f, 1.0f);
  if (binary) {
    for (float& v : t) v = v < 0.3f ? 1.0f : 0.0f;
  }
  return t;
}

// The case table: 1, odd, one below / at / above the CUDA block size (256), 1000, one above the
// CPU chunk (65536), one above the CUDA grid (1024 blocks x 256) so threads stride, ~5M.
struct DiceCase {
  int64_t n;
  bool binary;
};
std::vector<DiceCase> cases() {
  std::vector<DiceCase> out;
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(255), int64_t(256), int64_t(257), int64_t(1000),
                    int64_t(65537), int64_t(262145), int64_t(5000003)}) {
    for (bool binary : {true, false}) out.push_back({n, binary});
  }
  return out;
}

// One forward and backward on a backend. CUDA returns out = [loss, I, Ps, Ts] as floats on the
// device and reads dloss from a device scalar; the CPU path returns the sums in double.
struct DiceRun {
  float loss;
  DiceSums sums;
  std::vector<float> dlogits;
};

DiceRun run(const KernelBackend& b, const std::vector<float>& logits,
            const std::vector<float>& target, float smooth, float dloss) {
  const int64_t n = int64_t(logits.size());
  BackendBuffer<float> x(b, logits), t(b, target), dx(b, logits.size());
  dx.poison();
  DiceRun r;
  if (b.cuda) {
    DeviceBuffer<float> out(4), g(std::vector<float>{dloss});
    DeviceBuffer<unsigned char> ws(dice_loss_cuda_workspace_bytes(n));
    out.poison();
    dice_loss_forward_cuda(n, x.get(), t.get(), smooth, out.get(), ws.get(), nullptr);
    dice_loss_backward_cuda(n, x.get(), t.get(), smooth, out.get(), g.get(), dx.get(), nullptr);
    const std::vector<float> o = out.to_host();
    r.loss = o[0];
    r.sums.intersection = o[1];
    r.sums.pred_sum = o[2];
    r.sums.target_sum = o[3];
  } else {
    r.loss = dice_loss_forward_cpu(n, x.get(), t.get(), smooth, &r.sums);
    dice_loss_backward_cpu(n, x.get(), t.get(), smooth, r.sums, dloss, dx.get());
  }
  r.dlogits = dx.to_host();
  return r;
}

// ---------------------------------------------------------------- every backend vs the reference

class DiceLossTest : public ::testing::TestWithParam<KernelBackend> {};

// Loss: double sums on every backend, cast to float; only the summation order differs on the CPU
// (rtol 1e-6), CUDA adds the device expf (<= 2 ulp): rtol 1e-5. Sums: the CPU returns them in
// double (rtol 1e-10: order only), CUDA as floats (rtol 1e-5). dlogits: the fast paths apply two
// float coefficients where the reference rounds once per element, a few ulp: rtol 1e-5, atol 1e-6
// of the largest gradient.
TEST_P(DiceLossTest, MatchesReferenceOnAwkwardSizes) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const double sum_rtol = b.cuda ? 1e-5 : 1e-10;
  const double sum_atol = b.cuda ? 1e-30 : 1e-12;
  const double loss_rtol = b.cuda ? 1e-5 : 1e-6;
  for (const DiceCase& c : cases()) {
    SCOPED_TRACE(::testing::Message() << b.name << " n=" << c.n << " binary=" << c.binary);
    const size_t un = static_cast<size_t>(c.n);
    const auto logits = random_floats(un, 11 + un, -4.0f, 4.0f);
    const auto target = make_target(un, 12 + un, c.binary);
    DiceSums want_s;
    const float want =
        dice_loss_forward_ref<float>(c.n, logits.data(), target.data(), 1.0f, &want_s);
    std::vector<float> dwant(un);
    dice_loss_backward_ref<float>(c.n, logits.data(), target.data(), 1.0f, want_s, 0.7f,
                                  dwant.data());
    const DiceRun got = run(b, logits, target, 1.0f, 0.7f);
    EXPECT_NEAR(got.loss, want, loss_rtol * std::fabs(want));
    EXPECT_NEAR(got.sums.intersection, want_s.intersection,
                sum_rtol * want_s.intersection + sum_atol);
    EXPECT_NEAR(got.sums.pred_sum, want_s.pred_sum, sum_rtol * want_s.pred_sum);
    EXPECT_NEAR(got.sums.target_sum, want_s.target_sum, sum_rtol * want_s.target_sum + sum_atol);
    EXPECT_TRUE(all_close(got.dlogits, dwant, 1e-5f, 1e-6f * max_abs(dwant), "dlogits"));
  }
}

TEST_P(DiceLossTest, HandComputedTwoElements) {
  // logits {0, 0} -> p = {0.5, 0.5}; t = {1, 0}: I = 0.5, Ps = 1, Ts = 1, smooth = 1
  // loss = -(2*0.5 + 1) / (1 + 1 + 1) = -2/3. Nn = 2, D = 3:
  // dL/dp = -(2*t*3 - 2)/9 = {-4/9, 2/9}; times p(1-p) = 1/4 -> dlogit = {-1/9, 1/18}.
  // The sums are exact in float and double (sigmoid(0) = 0.5 exactly).
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const DiceRun r = run(b, {0.0f, 0.0f}, {1.0f, 0.0f}, 1.0f, 1.0f);
  EXPECT_NEAR(r.loss, -2.0f / 3.0f, 1e-7);
  EXPECT_DOUBLE_EQ(r.sums.intersection, 0.5);
  EXPECT_DOUBLE_EQ(r.sums.pred_sum, 1.0);
  EXPECT_DOUBLE_EQ(r.sums.target_sum, 1.0);
  EXPECT_NEAR(r.dlogits[0], -1.0f / 9.0f, 1e-7);
  EXPECT_NEAR(r.dlogits[1], 1.0f / 18.0f, 1e-7);
}

TEST_P(DiceLossTest, SpecialCases) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  for (size_t n : {size_t(1001), size_t(4097)}) {
    SCOPED_TRACE(::testing::Message() << b.name << " n=" << n);
    // Empty target and prediction: p = sigmoid(-100) ~ 4e-44: I = 0, Ps ~ 0, Ts = 0 ->
    // loss = -(0 + 1)/(0 + 0 + 1) = -1; gradients written (the output was poisoned), finite and ~0
    // (sigmoid saturated: p(1-p) ~ 4e-44).
    const DiceRun empty =
        run(b, std::vector<float>(n, -100.0f), std::vector<float>(n, 0.0f), 1.0f, 1.0f);
    EXPECT_NEAR(empty.loss, -1.0f, 1e-6);
    for (float v : empty.dlogits) ASSERT_TRUE(std::isfinite(v));
    EXPECT_LT(max_abs(empty.dlogits), 1e-30f);

    const auto target = make_target(n, 21, true);
    std::vector<float> perfect(n), inverted(n);
    double ts = 0;
    for (size_t i = 0; i < n; ++i) {
      perfect[i] = target[i] > 0.5f ? 30.0f : -30.0f;
      inverted[i] = -perfect[i];
      ts += target[i];
    }
    ASSERT_GT(ts, 10.0);
    // Perfect prediction: ~ -1. Inverted: I ~ 0, Ps ~ n - Ts -> loss = -1 / (n + 1).
    EXPECT_NEAR(run(b, perfect, target, 1.0f, 1.0f).loss, -1.0f, 1e-6);
    EXPECT_NEAR(run(b, inverted, target, 1.0f, 1.0f).loss, -1.0f / float(n + 1), 1e-7);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, DiceLossTest, ::testing::ValuesIn(cpu_and_cuda()),
                         backend_test_name);

// ---------------------------------------------------------------- the reference and the CPU path

TEST(DiceLossCpu, ReferenceHandComputedAndEmpty) {
  // The hand case of HandComputedTwoElements and the empty case of SpecialCases.
  const std::vector<float> logits = {0.0f, 0.0f}, target = {1.0f, 0.0f};
  DiceSums sums;
  EXPECT_NEAR(dice_loss_forward_ref<float>(2, logits.data(), target.data(), 1.0f, &sums),
              -2.0f / 3.0f, 1e-7);
  std::vector<float> d(2);
  dice_loss_backward_ref<float>(2, logits.data(), target.data(), 1.0f, sums, 1.0f, d.data());
  EXPECT_NEAR(d[0], -1.0f / 9.0f, 1e-7);
  EXPECT_NEAR(d[1], 1.0f / 18.0f, 1e-7);
  const int64_t n = 4097;
  const std::vector<float> low(static_cast<size_t>(n), -100.0f), zero(static_cast<size_t>(n), 0.0f);
  EXPECT_NEAR(dice_loss_forward_ref<float>(n, low.data(), zero.data(), 1.0f, nullptr), -1.0f, 1e-6);
}

// Central differences in double: truncation ~eps^2, rounding ~1e-16/eps: agreement ~1e-8, tol 1e-6.
TEST(DiceLossCpu, ReferenceBackwardMatchesFiniteDifferences) {
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

TEST(DiceLossCpu, ResultDoesNotDependOnThreadCount) {
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

TEST(DiceLossCpu, RejectsBadArguments) {
  const std::vector<float> x = {0.0f}, t = {1.0f};
  std::vector<float> d(1);
  DiceSums s;
  expect_invalid([&] { dice_loss_forward_cpu(0, x.data(), t.data(), 1.0f, &s); },
                 "dice_loss_forward_cpu: n must be > 0, got 0");
  expect_invalid([&] { dice_loss_forward_ref<float>(-3, x.data(), t.data(), 1.0f, &s); },
                 "dice_loss_forward_ref: n must be > 0, got -3");
  expect_invalid([&] { dice_loss_forward_cpu(1, x.data(), t.data(), -1.0f, &s); },
                 "smooth must be finite and >= 0");
  expect_invalid([&] { dice_loss_forward_cpu(1, nullptr, t.data(), 1.0f, &s); },
                 "logits and target must not be null");
  expect_invalid([&] { dice_loss_backward_cpu(1, x.data(), t.data(), 1.0f, s, 1.0f, nullptr); },
                 "dice_loss_backward_cpu: dlogits must not be null");
  expect_invalid(
      [&] { dice_loss_backward_ref<float>(1, x.data(), nullptr, 1.0f, s, 1.0f, d.data()); },
      "dice_loss_backward_ref: logits and target must not be null");
}

// ---------------------------------------------------------------- CUDA

// The grid depends only on n and the block partials are summed in a fixed order (no atomics), so
// two runs give the same bits.
TEST(DiceLossCuda, BitwiseDeterministic) {
  UNET_REQUIRE_CUDA();
  const KernelBackend cuda = cpu_and_cuda()[1];
  const size_t n = 5000003;
  const auto logits = random_floats(n, 80, -4.0f, 4.0f);
  const auto target = make_target(n, 81, true);
  const DiceRun a = run(cuda, logits, target, 1.0f, 1.0f);
  const DiceRun b = run(cuda, logits, target, 1.0f, 1.0f);
  EXPECT_TRUE(bitwise_equal(
      {a.loss, float(a.sums.intersection), float(a.sums.pred_sum), float(a.sums.target_sum)},
      {b.loss, float(b.sums.intersection), float(b.sums.pred_sum), float(b.sums.target_sum)},
      "out"));
  EXPECT_TRUE(bitwise_equal(a.dlogits, b.dlogits, "dlogits"));
}

TEST(DiceLossCudaContract, RejectionsBeforeAnyLaunch) {
  // Checked on the host before any CUDA call, so no device (and no device pointer) is needed.
  UNET_REQUIRE_CUDA_BUILD();
  float dummy = 0;
  expect_invalid([&] { dice_loss_forward_cuda(0, &dummy, &dummy, 1.0f, &dummy, &dummy, nullptr); },
                 "dice_loss_forward_cuda: n must be > 0, got 0");
  expect_invalid([&] { dice_loss_forward_cuda(5, &dummy, &dummy, 1.0f, &dummy, nullptr, nullptr); },
                 "dice_loss_forward_cuda: workspace must not be null");
  expect_invalid(
      [&] { dice_loss_backward_cuda(5, &dummy, &dummy, 1.0f, &dummy, nullptr, &dummy, nullptr); },
      "dice_loss_backward_cuda: dloss must not be null");
  expect_invalid(
      [&] { dice_loss_backward_cuda(5, &dummy, &dummy, -1.0f, &dummy, &dummy, &dummy, nullptr); },
      "dice_loss_backward_cuda: smooth must be finite and >= 0");
  // One block of 256 threads per 256 elements, at most 1024 blocks; 3 doubles per block.
  EXPECT_EQ(dice_loss_cuda_workspace_bytes(1), 3 * sizeof(double));
  EXPECT_EQ(dice_loss_cuda_workspace_bytes(257), 2 * 3 * sizeof(double));
  EXPECT_EQ(dice_loss_cuda_workspace_bytes(int64_t(1) << 30), 1024 * 3 * sizeof(double));
}

TEST(DiceLossCudaContract, StubsReportNoCudaBackend) {
  // dice_loss_cuda_stub.cpp stands in for dice_loss_cuda.cu in a build without CUDA.
  if (::unet::testing::cuda_backend_built()) GTEST_SKIP() << "the CUDA backend is built";
  expect_runtime_error([] { dice_loss_cuda_workspace_bytes(1); },
                       "dice_loss_cuda_workspace_bytes: this build has no CUDA backend");
  expect_runtime_error(
      [] { dice_loss_forward_cuda(1, nullptr, nullptr, 1.0f, nullptr, nullptr, nullptr); },
      "dice_loss_forward_cuda: this build has no CUDA backend");
  expect_runtime_error(
      [] {
        dice_loss_backward_cuda(1, nullptr, nullptr, 1.0f, nullptr, nullptr, nullptr, nullptr);
      },
      "dice_loss_backward_cuda: this build has no CUDA backend");
}

}  // namespace
}  // namespace unet::kernels
