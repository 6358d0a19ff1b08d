// reduce: one case table per entry point (sum, channel_sum) run on every backend (the CPU OpenMP
// path and CUDA) against the double-accumulating naive CPU reference, on awkward sizes and (sum)
// a misaligned input, outputs poisoned (NaN bytes) first; per backend also a ~10M element sum vs a
// long-double sum, run-to-run bitwise equality and hand-computed values.
// Plain tests: the reference's hand values, determinism of the CPU path across thread counts, the
// calculus check that channel_sum is bias_add's gradient, the rejection messages and the host-side
// checks of the CUDA entry points (workspace sizes, null workspace).
//
// Tolerance: every backend accumulates in double and differs from the reference only in summation
// order (error ~1e-16 relative to sum|x|), so results differ by at most the final fp32 rounding:
// rtol 1e-6, plus a tiny atol for sums that cancel to ~0.

#include "kernels/reduce/reduce.h"

#include <omp.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/elementwise/elementwise.h"
#include "tests/testing/backend.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using namespace ::unet::testing;  // helpers: tests/testing/*.h

// sum sizes: empty, one element, fewer than one float4, one tail short of a CUDA block, 4 CUDA
// blocks of 4096 plus a tail, exactly one and one past a CPU chunk of 2^16, and ~1M (many chunks
// and blocks).
const int64_t kSumSizes[] = {0, 1, 3, 7, 1023, 4 * 4096 + 3, 65536, 65537, 1000003};
// channel_sum pixels x C: empty, one pixel, odd counts, one past the CPU's 1024-pixel chunk,
// the U-Net's first level at batch 10 (655360 pixels); C = 1 (CUDA's plain-sum path), odd, and
// around the 32-channel CUDA tile.
const int64_t kChannelSumPixels[] = {0, 1, 7, 513, 1025, 5000, 655360};
const int kChannelSumChannels[] = {1, 3, 32, 33, 64};

// `offset` zeros, then v: the buffer then starts `offset` floats into its allocation.
std::vector<float> shifted(int offset, const std::vector<float>& v) {
  std::vector<float> out(offset, 0.0f);
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

// sum of `host` on backend `b`, with x starting `offset` floats into its buffer (1: misaligned,
// the CUDA kernel must take its scalar loads and stay in the same order).
float backend_sum(const KernelBackend& b, const std::vector<float>& host, int offset = 0) {
  const int64_t n = int64_t(host.size());
  BackendBuffer<float> x(b, shifted(offset, host));
  if (!b.cuda) return sum_cpu(n, x.get() + offset);
  BackendBuffer<float> out(b, 1);
  BackendBuffer<char> ws(b, sum_cuda_workspace_bytes(n));
  out.poison();
  sum_cuda(n, x.get() + offset, out.get(), ws.get(), nullptr);
  return out.to_host()[0];
}

// channel_sum of `host` (pixels x C) on backend `b`; the output is poisoned first.
std::vector<float> backend_channel_sum(const KernelBackend& b, int64_t pixels, int C,
                                       const std::vector<float>& host) {
  BackendBuffer<float> x(b, host), out(b, size_t(C));
  out.poison();
  if (b.cuda) {
    BackendBuffer<char> ws(b, channel_sum_cuda_workspace_bytes(pixels, C));
    channel_sum_cuda(pixels, C, x.get(), out.get(), ws.get(), nullptr);
  } else {
    channel_sum_cpu(pixels, C, x.get(), out.get());
  }
  return out.to_host();
}

// ---------------------------------------------------------------- every backend vs the reference

class ReduceTest : public ::testing::TestWithParam<KernelBackend> {};

TEST_P(ReduceTest, SumMatchesReference) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 1;
  for (int64_t n : kSumSizes) {
    for (int offset : {0, 1}) {
      SCOPED_TRACE(b.name + " n=" + std::to_string(n) + " offset=" + std::to_string(offset));
      const auto x = random_floats(n, seed++);
      const float want = sum_ref(n, x.data());
      const float got = backend_sum(b, x, offset);
      EXPECT_TRUE(all_close(&got, &want, 1, 1e-6f, 1e-6f, "sum"));
    }
  }
}

TEST_P(ReduceTest, SumHandWritten) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  EXPECT_EQ(backend_sum(b, {1.5f, -2.0f, 4.0f}), 3.5f);
  EXPECT_EQ(backend_sum(b, {}), 0.0f);
}

TEST_P(ReduceTest, TenMillionElementSumIsAccurateAndDeterministic) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const int64_t n = 10'000'019;
  const auto x = random_floats(n, 42, 0.0f, 1.0f);  // positive: relative error is meaningful
  long double exact = 0;
  for (float v : x) exact += v;
  const float want = float(exact);
  const float got = backend_sum(b, x), again = backend_sum(b, x);
  EXPECT_TRUE(all_close(&got, &want, 1, 1e-6f, 0.0f, "sum of 10M"));
  // A naive fp32 running sum would be off by ~1e-3 relative here; make sure we are far better.
  EXPECT_NEAR(double(got), double(exact), 1e-6 * double(exact));
  EXPECT_TRUE(bitwise_equal({got}, {again}, "sum run 1 vs run 2"));
}

TEST_P(ReduceTest, ChannelSumMatchesReferenceAndIsDeterministic) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 50;
  for (int64_t pixels : kChannelSumPixels) {
    for (int C : kChannelSumChannels) {
      if (pixels * C > 30'000'000) continue;
      SCOPED_TRACE(b.name + " pixels=" + std::to_string(pixels) + " C=" + std::to_string(C));
      const auto x = random_floats(pixels * C, seed++);
      std::vector<float> want(C, 7.0f);
      channel_sum_ref(pixels, C, x.data(), want.data());
      const auto got = backend_channel_sum(b, pixels, C, x);
      EXPECT_TRUE(all_close(got, want, 1e-6f, 1e-6f, "channel_sum"));
      EXPECT_TRUE(
          bitwise_equal(got, backend_channel_sum(b, pixels, C, x), "channel_sum run 1 vs run 2"));
    }
  }
}

TEST_P(ReduceTest, ChannelSumHandWritten) {
  // 2 pixels x 3 channels.
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  EXPECT_TRUE(bitwise_equal(backend_channel_sum(b, 2, 3, {1, 2, 3, 10, 20, 30}), {11, 22, 33},
                            "channel_sum hand case"));
}

INSTANTIATE_TEST_SUITE_P(Backends, ReduceTest, ::testing::ValuesIn(cpu_and_cuda()),
                         backend_test_name);

// ---------------------------------------------------------------- the reference and the CPU path

TEST(ReduceCpu, ReferenceHandWritten) {
  const std::vector<float> x = {1.5f, -2.0f, 4.0f};
  EXPECT_EQ(sum_ref(3, x.data()), 3.5f);
  const std::vector<float> y = {1, 2, 3, 10, 20, 30};
  std::vector<float> out(3);
  channel_sum_ref(2, 3, y.data(), out.data());
  EXPECT_TRUE(bitwise_equal(out, {11, 22, 33}, "channel_sum_ref hand case"));
}

TEST(ReduceCpu, ZeroElementsAcceptNull) {
  EXPECT_EQ(sum_cpu(0, nullptr), 0.0f);
  EXPECT_EQ(sum_ref<float>(0, nullptr), 0.0f);
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

// ---------------------------------------------------------------- CUDA entry points, host side

TEST(ReduceCudaContract, WorkspaceIsNeverEmptyAndNullIsRejected) {
  // Sizes and argument checks are computed on the host before any CUDA call, so no device (and no
  // device pointer) is needed.
  UNET_REQUIRE_CUDA_BUILD();
  EXPECT_GT(sum_cuda_workspace_bytes(0), 0u);
  EXPECT_GT(channel_sum_cuda_workspace_bytes(0, 3), 0u);
  EXPECT_GT(channel_sum_cuda_workspace_bytes(655360, 1), 0u);
  std::vector<float> buf(8);
  float* p = buf.data();
  expect_invalid([&] { sum_cuda(8, p, p, nullptr, nullptr); }, "sum_cuda: workspace is null");
  expect_invalid([&] { channel_sum_cuda(2, 3, p, p, nullptr, nullptr); },
                 "channel_sum_cuda: workspace is null");
  expect_invalid([&] { channel_sum_cuda(2, 0, p, p, p, nullptr); },
                 "channel_sum_cuda: C must be >= 1");
  expect_invalid([&] { sum_cuda(-1, p, p, p, nullptr); }, "sum_cuda: n must be >= 0 (n=-1)");
}

}  // namespace
}  // namespace unet::kernels
