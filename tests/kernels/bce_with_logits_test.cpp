// bce_with_logits: one case table (n = 1, odd, around the CUDA block size, above the CPU's 64K
// chunk, beyond the CUDA 1024-block grid so threads stride, ~5M) run on every backend (the CPU fast
// path and the CUDA kernels) against the naive CPU reference, and hand-computed values including
// logits of +-100 (where a naive log(sigmoid) gives -inf) on every backend. Outputs are poisoned
// (NaN bytes) first so an element left unwritten fails.
// Plain tests: the reference by hand and against finite differences in double, the CPU result's
// independence of the thread count, CUDA run-to-run bitwise determinism, the rejection messages,
// the host-side checks of the CUDA entry points and the stubs of a build without CUDA.
#include "kernels/bce_with_logits/bce_with_logits.h"

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

// The case table: 1, odd, one below / at / above the CUDA block size (256), 1000, one above the
// CPU chunk (65536), one above the CUDA grid (1024 blocks x 256) so threads stride, ~5M.
std::vector<int64_t> case_sizes() { return {1, 7, 255, 256, 257, 1000, 65537, 262145, 5000003}; }

// One forward and backward on a backend. CUDA writes the mean to a device scalar and reads dloss
// from one.
struct BceRun {
  float loss;
  std::vector<float> dlogits;
};

BceRun run(const KernelBackend& b, const std::vector<float>& x, const std::vector<float>& t,
           float dloss) {
  const int64_t n = int64_t(x.size());
  BackendBuffer<float> dx_in(b, x), dt(b, t), dg(b, x.size());
  dg.poison();
  BceRun r;
  if (b.cuda) {
    DeviceBuffer<float> out(1), dd(std::vector<float>{dloss});
    DeviceBuffer<unsigned char> ws(bce_with_logits_cuda_workspace_bytes(n));
    out.poison();
    bce_with_logits_forward_cuda(n, dx_in.get(), dt.get(), out.get(), ws.get(), nullptr);
    bce_with_logits_backward_cuda(n, dx_in.get(), dt.get(), dd.get(), dg.get(), nullptr);
    r.loss = out.to_host()[0];
  } else {
    r.loss = bce_with_logits_forward_cpu(n, dx_in.get(), dt.get());
    bce_with_logits_backward_cpu(n, dx_in.get(), dt.get(), dloss, dg.get());
  }
  r.dlogits = dg.to_host();
  return r;
}

// ---------------------------------------------------------------- every backend vs the reference

class BceWithLogitsTest : public ::testing::TestWithParam<KernelBackend> {};

// Loss: double sums on every backend, cast to float. The CPU differs from the reference only in
// the summation order: rtol 1e-6; CUDA's float terms use the device expf/log1pf (within 2 ulp):
// rtol 1e-5.
// dx: the CPU path runs the reference's float expression element by element (the scale dloss/n is
// computed once in both): rtol 1e-6 allows for a different FMA contraction in the vectorised loop.
// CUDA: device expf differs by an ulp and sigmoid(x) - t cancels where sigmoid(x) ~ t, so an
// absolute part too: rtol 1e-5, atol 1e-6 of the largest gradient (~ an ulp of sigmoid).
TEST_P(BceWithLogitsTest, MatchesReferenceOnAwkwardSizes) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  for (int64_t n : case_sizes()) {
    SCOPED_TRACE(::testing::Message() << b.name << " n=" << n);
    const size_t un = static_cast<size_t>(n);
    const auto x = random_floats(un, 40 + un, -6.0f, 6.0f);
    const auto t = random_floats(un, 41 + un, 0.0f, 1.0f);
    const float dloss = 1.3f;
    const float want = bce_with_logits_forward_ref<float>(n, x.data(), t.data());
    std::vector<float> dwant(un);
    bce_with_logits_backward_ref<float>(n, x.data(), t.data(), dloss, dwant.data());
    const BceRun got = run(b, x, t, dloss);
    EXPECT_NEAR(got.loss, want, (b.cuda ? 1e-5 : 1e-6) * std::fabs(want));
    const float rtol = b.cuda ? 1e-5f : 1e-6f;
    const float atol = b.cuda ? 1e-6f * max_abs(dwant) : 1e-12f;
    EXPECT_TRUE(all_close(got.dlogits, dwant, rtol, atol, "dlogits"));
  }
}

TEST_P(BceWithLogitsTest, HandComputedThreeElements) {
  // x = {0, 2, -3}, t = {1, 0, 1}; terms max(x,0) - x*t + log1p(exp(-|x|)):
  //   0 - 0 + log 2 = 0.6931472;  2 - 0 + log1p(e^-2) = 2.1269280;  0 + 3 + log1p(e^-3) = 3.0485874
  //   mean = 5.8686625 / 3 = 1.9562208
  // dx = (sigmoid(x) - t) / 3 = {(0.5 - 1)/3, 0.8807971/3, (0.0474259 - 1)/3}
  //    = {-0.1666667, 0.2935990, -0.3175247}
  // The CPU rounds like the reference (2e-7 on the loss, 1e-7 on dx); the device expf/log1pf add
  // an ulp or two (4e-7, 2e-7).
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const BceRun r = run(b, {0.0f, 2.0f, -3.0f}, {1.0f, 0.0f, 1.0f}, 1.0f);
  EXPECT_NEAR(r.loss, 1.9562208f, b.cuda ? 4e-7 : 2e-7);
  EXPECT_NEAR(r.dlogits[0], -0.1666667f, 1e-7);
  EXPECT_NEAR(r.dlogits[1], 0.2935990f, b.cuda ? 2e-7 : 1e-7);
  EXPECT_NEAR(r.dlogits[2], -0.3175247f, b.cuda ? 2e-7 : 1e-7);
}

TEST_P(BceWithLogitsTest, StableForLargeLogits) {
  // A naive log(sigmoid(x)) gives -inf / NaN here; the stable form gives |x| or ~0.
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const BceRun r = run(b, {100.0f, -100.0f, 100.0f, -100.0f}, {0.0f, 1.0f, 1.0f, 0.0f}, 1.0f);
  EXPECT_NEAR(r.loss, 50.0f, 1e-5);
  EXPECT_NEAR(r.dlogits[0], 0.25f, 1e-7);
  EXPECT_NEAR(r.dlogits[1], -0.25f, 1e-7);
  EXPECT_NEAR(r.dlogits[2], 0.0f, 1e-7);
  EXPECT_NEAR(r.dlogits[3], 0.0f, 1e-7);
}

INSTANTIATE_TEST_SUITE_P(Backends, BceWithLogitsTest, ::testing::ValuesIn(cpu_and_cuda()),
                         backend_test_name);

// ---------------------------------------------------------------- the reference and the CPU path

TEST(BceWithLogitsCpu, ReferenceHandComputed) {
  // The case of HandComputedThreeElements.
  const std::vector<float> x = {0.0f, 2.0f, -3.0f}, t = {1.0f, 0.0f, 1.0f};
  EXPECT_NEAR(bce_with_logits_forward_ref<float>(3, x.data(), t.data()), 1.9562208f, 2e-7);
  std::vector<float> d(3);
  bce_with_logits_backward_ref<float>(3, x.data(), t.data(), 1.0f, d.data());
  EXPECT_NEAR(d[0], -0.1666667f, 1e-7);
  EXPECT_NEAR(d[1], 0.2935990f, 1e-7);
  EXPECT_NEAR(d[2], -0.3175247f, 1e-7);
}

// Central differences in double: agreement ~1e-8; tol 1e-6.
TEST(BceWithLogitsCpu, ReferenceBackwardMatchesFiniteDifferences) {
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

TEST(BceWithLogitsCpu, ResultDoesNotDependOnThreadCount) {
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

TEST(BceWithLogitsCpu, RejectsBadArguments) {
  const std::vector<float> x = {0.0f}, t = {1.0f};
  std::vector<float> d(1);
  expect_invalid([&] { bce_with_logits_forward_cpu(0, x.data(), t.data()); },
                 "bce_with_logits_forward_cpu: n must be > 0, got 0");
  expect_invalid([&] { bce_with_logits_forward_ref<float>(-1, x.data(), t.data()); },
                 "bce_with_logits_forward_ref: n must be > 0, got -1");
  expect_invalid([&] { bce_with_logits_forward_cpu(1, x.data(), nullptr); },
                 "logits and target must not be null");
  expect_invalid([&] { bce_with_logits_backward_cpu(1, x.data(), t.data(), 1.0f, nullptr); },
                 "bce_with_logits_backward_cpu: dlogits must not be null");
  expect_invalid(
      [&] { bce_with_logits_backward_ref<float>(0, x.data(), t.data(), 1.0f, d.data()); },
      "bce_with_logits_backward_ref: n must be > 0");
}

// ---------------------------------------------------------------- CUDA

// The grid depends only on n and the block partials are summed in a fixed order (no atomics), so
// two runs give the same bits.
TEST(BceWithLogitsCuda, BitwiseDeterministic) {
  UNET_REQUIRE_CUDA();
  const KernelBackend cuda = cpu_and_cuda()[1];
  const size_t n = 5000003;
  const auto x = random_floats(n, 62, -6.0f, 6.0f);
  const auto t = random_floats(n, 63, 0.0f, 1.0f);
  const BceRun a = run(cuda, x, t, 1.0f), b = run(cuda, x, t, 1.0f);
  EXPECT_TRUE(bitwise_equal({a.loss}, {b.loss}, "loss"));
  EXPECT_TRUE(bitwise_equal(a.dlogits, b.dlogits, "dlogits"));
}

TEST(BceWithLogitsCudaContract, RejectionsBeforeAnyLaunch) {
  // Checked on the host before any CUDA call, so no device (and no device pointer) is needed.
  UNET_REQUIRE_CUDA_BUILD();
  float dummy = 0;
  expect_invalid([&] { bce_with_logits_forward_cuda(0, &dummy, &dummy, &dummy, &dummy, nullptr); },
                 "bce_with_logits_forward_cuda: n must be > 0, got 0");
  expect_invalid([&] { bce_with_logits_forward_cuda(5, &dummy, &dummy, &dummy, nullptr, nullptr); },
                 "bce_with_logits_forward_cuda: workspace must not be null");
  expect_invalid(
      [&] { bce_with_logits_backward_cuda(5, &dummy, nullptr, &dummy, &dummy, nullptr); },
      "bce_with_logits_backward_cuda: logits and target must not be null");
  expect_invalid(
      [&] { bce_with_logits_backward_cuda(5, &dummy, &dummy, nullptr, &dummy, nullptr); },
      "bce_with_logits_backward_cuda: dloss must not be null");
  // One block of 256 threads per 256 elements, at most 1024 blocks; one double per block.
  EXPECT_EQ(bce_with_logits_cuda_workspace_bytes(1), sizeof(double));
  EXPECT_EQ(bce_with_logits_cuda_workspace_bytes(257), 2 * sizeof(double));
  EXPECT_EQ(bce_with_logits_cuda_workspace_bytes(int64_t(1) << 30), 1024 * sizeof(double));
}

TEST(BceWithLogitsCudaContract, StubsReportNoCudaBackend) {
  // bce_with_logits_cuda_stub.cpp stands in for bce_with_logits_cuda.cu in a build without CUDA.
  if (::unet::testing::cuda_backend_built()) GTEST_SKIP() << "the CUDA backend is built";
  expect_runtime_error([] { bce_with_logits_cuda_workspace_bytes(1); },
                       "bce_with_logits_cuda_workspace_bytes: this build has no CUDA backend");
  expect_runtime_error(
      [] { bce_with_logits_forward_cuda(1, nullptr, nullptr, nullptr, nullptr, nullptr); },
      "bce_with_logits_forward_cuda: this build has no CUDA backend");
  expect_runtime_error(
      [] { bce_with_logits_backward_cuda(1, nullptr, nullptr, nullptr, nullptr, nullptr); },
      "bce_with_logits_backward_cuda: this build has no CUDA backend");
}

}  // namespace
}  // namespace unet::kernels
