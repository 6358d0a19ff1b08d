// dice_loss CUDA tests: forward sums/loss and backward against the CPU reference on awkward sizes
// (1, odd, around the block size, beyond the 1024-block grid so threads stride, ~5M), Dice's
// special cases, and bitwise determinism run to run. Skipped without a device.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/dice_loss/dice_loss.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using ::unet::testing::all_close;
using ::unet::testing::DeviceBuffer;
using ::unet::testing::random_floats;

std::vector<float> make_target(size_t n, uint64_t seed) {
  std::vector<float> t = random_floats(n, seed, 0.0f, 1.0f);
  for (float& v : t) v = v < 0.3f ? 1.0f : 0.0f;
  return t;
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

struct DiceRun {
  std::vector<float> out, dlogits;
};

DiceRun run_cuda(const std::vector<float>& logits, const std::vector<float>& target, float dloss) {
  const int64_t n = int64_t(logits.size());
  DeviceBuffer<float> dl(logits), dt(target), out(4), dd(std::vector<float>{dloss}),
      dg(logits.size());
  DeviceBuffer<unsigned char> ws(dice_loss_cuda_workspace_bytes(n));
  out.poison();
  dg.poison();
  dice_loss_forward_cuda(n, dl.get(), dt.get(), 1.0f, out.get(), ws.get(), nullptr);
  dice_loss_backward_cuda(n, dl.get(), dt.get(), 1.0f, out.get(), dd.get(), dg.get(), nullptr);
  return {out.to_host(), dg.to_host()};
}

// Loss: double sums on both sides, cast to float: rtol 1e-5 covers the different order and the
// device expf (<= 2 ulp). The sums are returned as floats: rtol 1e-5. dlogits: the device derives
// two float coefficients from the float sums: rtol 1e-5, atol 1e-6 of the largest gradient.
TEST(DiceLossCuda, MatchesReferenceOnAwkwardSizes) {
  UNET_REQUIRE_CUDA();
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(255), int64_t(256), int64_t(257), int64_t(1000),
                    int64_t(65537), int64_t(262145), int64_t(5000003)}) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    const size_t un = static_cast<size_t>(n);
    const auto logits = random_floats(un, 70 + un, -4.0f, 4.0f);
    const auto target = make_target(un, 71 + un);
    DiceSums sums;
    const float loss = dice_loss_forward_ref<float>(n, logits.data(), target.data(), 1.0f, &sums);
    std::vector<float> dwant(un);
    dice_loss_backward_ref<float>(n, logits.data(), target.data(), 1.0f, sums, 0.7f, dwant.data());
    const DiceRun got = run_cuda(logits, target, 0.7f);
    EXPECT_NEAR(got.out[0], loss, 1e-5 * std::fabs(loss));
    EXPECT_NEAR(got.out[1], sums.intersection, 1e-5 * sums.intersection + 1e-30);
    EXPECT_NEAR(got.out[2], sums.pred_sum, 1e-5 * sums.pred_sum);
    EXPECT_NEAR(got.out[3], sums.target_sum, 1e-5 * sums.target_sum + 1e-30);
    EXPECT_TRUE(all_close(got.dlogits, dwant, 1e-5f, 1e-6f * max_abs(dwant), "dlogits"));
  }
}

TEST(DiceLossCuda, SpecialCases) {
  UNET_REQUIRE_CUDA();
  const size_t n = 4097;
  // Empty target and prediction: loss -(0 + 1)/(0 + 0 + 1) = -1, gradients finite and ~0.
  const DiceRun empty = run_cuda(std::vector<float>(n, -100.0f), std::vector<float>(n, 0.0f), 1.0f);
  EXPECT_NEAR(empty.out[0], -1.0f, 1e-6);
  for (float v : empty.dlogits) ASSERT_TRUE(std::isfinite(v));
  EXPECT_LT(max_abs(empty.dlogits), 1e-30f);
  // Perfect prediction: ~ -1.
  const auto target = make_target(n, 90);
  std::vector<float> perfect(n);
  for (size_t i = 0; i < n; ++i) perfect[i] = target[i] > 0.5f ? 30.0f : -30.0f;
  EXPECT_NEAR(run_cuda(perfect, target, 1.0f).out[0], -1.0f, 1e-6);
}

TEST(DiceLossCuda, BitwiseDeterministic) {
  UNET_REQUIRE_CUDA();
  const size_t n = 5000003;
  const auto logits = random_floats(n, 80, -4.0f, 4.0f);
  const auto target = make_target(n, 81);
  const DiceRun a = run_cuda(logits, target, 1.0f);
  const DiceRun b = run_cuda(logits, target, 1.0f);
  EXPECT_TRUE(::unet::testing::bitwise_equal(a.out, b.out, "out"));
  EXPECT_TRUE(::unet::testing::bitwise_equal(a.dlogits, b.dlogits, "dlogits"));
}

TEST(DiceLossCuda, RejectsBadArguments) {
  UNET_REQUIRE_CUDA();
  float dummy = 0;
  EXPECT_THROW(dice_loss_forward_cuda(0, &dummy, &dummy, 1.0f, &dummy, &dummy, nullptr),
               std::invalid_argument);
  try {
    dice_loss_forward_cuda(5, &dummy, &dummy, 1.0f, &dummy, nullptr, nullptr);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("dice_loss_forward_cuda: workspace must not be null"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace unet::kernels
