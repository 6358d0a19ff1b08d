// reduce CUDA tests: sum_cuda / channel_sum_cuda vs the double-accumulating CPU reference on
// awkward sizes and a misaligned input, a ~10M element sum vs a long-double sum, and determinism
// (two runs bitwise equal).
//
// Tolerance: the GPU also accumulates in double, so only the final fp32 rounding differs:
// rtol 1e-6 (plus a tiny atol for sums that cancel to ~0).

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/reduce/reduce.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using unet::testing::all_close;
using unet::testing::bitwise_equal;
using unet::testing::DeviceBuffer;
using unet::testing::random_floats;

float run_sum(const std::vector<float>& host, int offset) {
  std::vector<float> padded(offset, 0.0f);
  padded.insert(padded.end(), host.begin(), host.end());
  const int64_t n = int64_t(host.size());
  DeviceBuffer<float> x(padded), out(1);
  DeviceBuffer<char> ws(sum_cuda_workspace_bytes(n));
  out.poison();
  sum_cuda(n, x.get() + offset, out.get(), ws.get(), nullptr);
  return out.to_host()[0];
}

TEST(ReduceCuda, SumMatchesReference) {
  UNET_REQUIRE_CUDA();
  uint64_t seed = 1;
  for (int64_t n : {0, 1, 3, 7, 1023, 4 * 4096 + 3, 1000003}) {
    for (int offset : {0, 1}) {
      SCOPED_TRACE("n=" + std::to_string(n) + " offset=" + std::to_string(offset));
      const auto x = random_floats(n, seed++);
      const float want = sum_ref(n, x.data());
      const float got = run_sum(x, offset);
      EXPECT_TRUE(all_close(&got, &want, 1, 1e-6f, 1e-6f, "sum"));
    }
  }
}

TEST(ReduceCuda, TenMillionElementSumIsAccurateAndDeterministic) {
  UNET_REQUIRE_CUDA();
  const int64_t n = 10'000'019;
  const auto x = random_floats(n, 42, 0.0f, 1.0f);
  long double exact = 0;
  for (float v : x) exact += v;
  const float want = float(exact);
  DeviceBuffer<float> x_d(x), out(2);
  DeviceBuffer<char> ws(sum_cuda_workspace_bytes(n));
  sum_cuda(n, x_d.get(), out.get(), ws.get(), nullptr);
  sum_cuda(n, x_d.get(), out.get() + 1, ws.get(), nullptr);
  const auto got = out.to_host();
  EXPECT_TRUE(all_close(&got[0], &want, 1, 1e-6f, 0.0f, "sum of 10M"));
  EXPECT_TRUE(bitwise_equal({got[0]}, {got[1]}, "sum run 1 vs run 2"));
}

TEST(ReduceCuda, ChannelSumMatchesReferenceAndIsDeterministic) {
  UNET_REQUIRE_CUDA();
  uint64_t seed = 50;
  for (int64_t pixels : {0, 1, 7, 513, 5000, 655360}) {
    for (int C : {1, 3, 32, 33, 64}) {
      if (pixels * C > 30'000'000) continue;
      SCOPED_TRACE("pixels=" + std::to_string(pixels) + " C=" + std::to_string(C));
      const auto x = random_floats(pixels * C, seed++);
      std::vector<float> want(C);
      channel_sum_ref(pixels, C, x.data(), want.data());
      DeviceBuffer<float> x_d(x), out1(C), out2(C);
      DeviceBuffer<char> ws(channel_sum_cuda_workspace_bytes(pixels, C));
      out1.poison();
      out2.poison();
      channel_sum_cuda(pixels, C, x_d.get(), out1.get(), ws.get(), nullptr);
      channel_sum_cuda(pixels, C, x_d.get(), out2.get(), ws.get(), nullptr);
      const auto got = out1.to_host();
      EXPECT_TRUE(all_close(got, want, 1e-6f, 1e-6f, "channel_sum"));
      EXPECT_TRUE(bitwise_equal(got, out2.to_host(), "channel_sum run 1 vs run 2"));
    }
  }
}

TEST(ReduceCuda, WorkspaceIsNeverEmptyAndNullIsRejected) {
  EXPECT_GT(sum_cuda_workspace_bytes(0), 0u);
  EXPECT_GT(channel_sum_cuda_workspace_bytes(0, 3), 0u);
  EXPECT_GT(channel_sum_cuda_workspace_bytes(655360, 1), 0u);
  UNET_REQUIRE_CUDA();
  DeviceBuffer<float> buf(8);
  try {
    sum_cuda(8, buf.get(), buf.get(), nullptr, nullptr);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sum_cuda: workspace is null"), std::string::npos)
        << e.what();
  }
  try {
    channel_sum_cuda(2, 0, buf.get(), buf.get(), buf.get(), nullptr);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("channel_sum_cuda: C must be >= 1"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace unet::kernels
