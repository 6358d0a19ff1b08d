// bce_loss CUDA tests: forward and backward against the CPU reference on awkward sizes, hand
// values, large logits, bitwise determinism. Skipped without a device.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/bce_with_logits/bce_with_logits.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using ::unet::testing::all_close;
using ::unet::testing::DeviceBuffer;
using ::unet::testing::random_floats;

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

struct BceRun {
  float loss;
  std::vector<float> dlogits;
};

BceRun run_cuda(const std::vector<float>& x, const std::vector<float>& t, float dloss) {
  const int64_t n = int64_t(x.size());
  DeviceBuffer<float> dx(x), dt(t), out(1), dd(std::vector<float>{dloss}), dg(x.size());
  DeviceBuffer<unsigned char> ws(bce_with_logits_cuda_workspace_bytes(n));
  out.poison();
  dg.poison();
  bce_with_logits_forward_cuda(n, dx.get(), dt.get(), out.get(), ws.get(), nullptr);
  bce_with_logits_backward_cuda(n, dx.get(), dt.get(), dd.get(), dg.get(), nullptr);
  return {out.to_host()[0], dg.to_host()};
}

TEST(BceLossCuda, HandComputedAndLargeLogits) {
  UNET_REQUIRE_CUDA();
  // See bce_loss_test.cpp for the arithmetic: mean 1.9562208, dx {-1/6, 0.2935990, -0.3175247}.
  const BceRun a = run_cuda({0.0f, 2.0f, -3.0f}, {1.0f, 0.0f, 1.0f}, 1.0f);
  EXPECT_NEAR(a.loss, 1.9562208f, 4e-7);
  EXPECT_NEAR(a.dlogits[0], -0.1666667f, 1e-7);
  EXPECT_NEAR(a.dlogits[1], 0.2935990f, 2e-7);
  EXPECT_NEAR(a.dlogits[2], -0.3175247f, 2e-7);
  const BceRun b = run_cuda({100.0f, -100.0f, 100.0f, -100.0f}, {0.0f, 1.0f, 1.0f, 0.0f}, 1.0f);
  EXPECT_NEAR(b.loss, 50.0f, 1e-5);
  EXPECT_NEAR(b.dlogits[0], 0.25f, 1e-7);
  EXPECT_NEAR(b.dlogits[3], 0.0f, 1e-7);
}

// Loss: double sums, float terms (device expf/log1pf within 2 ulp): rtol 1e-5. dx: same float
// expression, but device expf differs by an ulp and sigmoid(x) - t cancels where sigmoid(x) ~ t,
// so an absolute part too: rtol 1e-5, atol 1e-6 of the largest gradient (~ an ulp of sigmoid).
TEST(BceLossCuda, MatchesReferenceOnAwkwardSizes) {
  UNET_REQUIRE_CUDA();
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(255), int64_t(257), int64_t(65537),
                    int64_t(262145), int64_t(5000003)}) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    const size_t un = static_cast<size_t>(n);
    const auto x = random_floats(un, 60 + un, -6.0f, 6.0f);
    const auto t = random_floats(un, 61 + un, 0.0f, 1.0f);
    const float want = bce_with_logits_forward_ref<float>(n, x.data(), t.data());
    std::vector<float> dwant(un);
    bce_with_logits_backward_ref<float>(n, x.data(), t.data(), 0.8f, dwant.data());
    const BceRun got = run_cuda(x, t, 0.8f);
    EXPECT_NEAR(got.loss, want, 1e-5 * std::fabs(want));
    EXPECT_TRUE(all_close(got.dlogits, dwant, 1e-5f, 1e-6f * max_abs(dwant), "dlogits"));
  }
}

TEST(BceLossCuda, BitwiseDeterministic) {
  UNET_REQUIRE_CUDA();
  const size_t n = 5000003;
  const auto x = random_floats(n, 62, -6.0f, 6.0f);
  const auto t = random_floats(n, 63, 0.0f, 1.0f);
  const BceRun a = run_cuda(x, t, 1.0f), b = run_cuda(x, t, 1.0f);
  EXPECT_TRUE(::unet::testing::bitwise_equal({a.loss}, {b.loss}, "loss"));
  EXPECT_TRUE(::unet::testing::bitwise_equal(a.dlogits, b.dlogits, "dlogits"));
}

}  // namespace
}  // namespace unet::kernels
