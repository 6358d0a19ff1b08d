// concat: one case table run on every backend (the CPU fast path and each CUDA variant) against the
// naive CPU reference, BITWISE: concat only copies, so any difference is a bug. Every case runs
// with aligned and with misaligned (one float off) pointers, so v2 must also fall back to its
// scalar code, and outputs are poisoned (NaN bytes) first so an element left unwritten fails.
// Plain tests: a hand-written case, finite differences of the reference backward in double, the
// rejection messages and the host-side checks of the CUDA entry points.

#include "kernels/concat/concat.h"

#include <cstdint>
#include <string>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using namespace ::unet::testing;  // helpers: tests/testing/*.h

ConcatShape concat_shape(int64_t pixels, int C1, int C2) {
  ConcatShape s;
  s.pixels = pixels;
  s.C1 = C1;
  s.C2 = C2;
  return s;
}

std::string describe(const ConcatShape& s) {
  return "pixels=" + std::to_string(s.pixels) + " C1=" + std::to_string(s.C1) +
         " C2=" + std::to_string(s.C2);
}

// The case table: one pixel and one channel each, odd channel counts, channel counts a multiple of
// 4 (v2's float4 path) next to ones that are not (13x(4,1): the a/b boundary inside a float4),
// pixel counts that are no multiple of any block size, and the U-Net's top level (32+32).
std::vector<ConcatShape> cases() {
  return {concat_shape(1, 1, 1),       concat_shape(7, 3, 5),     concat_shape(6, 32, 32),
          concat_shape(13, 4, 1),      concat_shape(9, 4, 8),     concat_shape(4096, 64, 64),
          concat_shape(65536, 32, 32), concat_shape(100003, 1, 2)};
}

// ---------------------------------------------------------------- every backend vs the reference

class ConcatTest : public ::testing::TestWithParam<KernelBackend> {};

TEST_P(ConcatTest, MatchesReferenceBitwise) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 10;
  for (const ConcatShape& s : cases()) {
    for (int offset : {0, 1}) {  // 1: misaligned, v2 must run its scalar code and stay exact
      SCOPED_TRACE(b.name + " " + describe(s) + " offset=" + std::to_string(offset));
      const int C = s.C1 + s.C2;
      const auto a = random_floats(s.pixels * s.C1, seed++);
      const auto bb = random_floats(s.pixels * s.C2, seed++);
      const auto dy = random_floats(s.pixels * C, seed++);
      std::vector<float> y_ref(s.pixels * C), da_ref(a.size()), db_ref(bb.size());
      concat_forward_ref(s, a.data(), bb.data(), y_ref.data());
      concat_backward_ref(s, dy.data(), da_ref.data(), db_ref.data());

      BackendBuffer<float> a_d(b, with_leading_zeros(offset, a)),
          b_d(b, with_leading_zeros(offset, bb)), dy_d(b, with_leading_zeros(offset, dy));
      BackendBuffer<float> y_d(b, y_ref.size() + offset), da_d(b, a.size() + offset),
          db_d(b, bb.size() + offset);
      y_d.poison();
      da_d.poison();
      db_d.poison();
      if (b.cuda) {
        const auto v = b.variant_as<ConcatVariant>();
        concat_forward_cuda(v, s, a_d.get() + offset, b_d.get() + offset, y_d.get() + offset,
                            nullptr);
        concat_backward_cuda(v, s, dy_d.get() + offset, da_d.get() + offset, db_d.get() + offset,
                             nullptr);
      } else {
        concat_forward_cpu(s, a_d.get() + offset, b_d.get() + offset, y_d.get() + offset);
        concat_backward_cpu(s, dy_d.get() + offset, da_d.get() + offset, db_d.get() + offset);
      }
      EXPECT_TRUE(bitwise_equal(drop_leading(offset, y_d.to_host()), y_ref, "y"));
      EXPECT_TRUE(bitwise_equal(drop_leading(offset, da_d.to_host()), da_ref, "da"));
      EXPECT_TRUE(bitwise_equal(drop_leading(offset, db_d.to_host()), db_ref, "db"));
    }
  }
}

TEST_P(ConcatTest, ZeroPixelsIsANoOp) {
  // Nothing is read or written, so null buffers are accepted by every backend.
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const ConcatShape s = concat_shape(0, 2, 3);
  if (b.cuda) {
    const auto v = b.variant_as<ConcatVariant>();
    concat_forward_cuda(v, s, nullptr, nullptr, nullptr, nullptr);
    concat_backward_cuda(v, s, nullptr, nullptr, nullptr, nullptr);
  } else {
    concat_forward_cpu(s, nullptr, nullptr, nullptr);
    concat_backward_cpu(s, nullptr, nullptr, nullptr);
  }
  SUCCEED();
}

INSTANTIATE_TEST_SUITE_P(Backends, ConcatTest,
                         ::testing::ValuesIn(backends_with_variants(kConcatVariants)),
                         backend_test_name);

// ---------------------------------------------------------------- the reference and the CPU path

TEST(ConcatCpu, HandWrittenCase) {
  const ConcatShape s = concat_shape(2, 1, 2);
  const std::vector<float> a = {1, 2}, b = {3, 4, 5, 6};
  std::vector<float> y(6), y_fast(6);
  concat_forward_ref(s, a.data(), b.data(), y.data());
  concat_forward_cpu(s, a.data(), b.data(), y_fast.data());
  const std::vector<float> want = {1, 3, 4, 2, 5, 6};
  EXPECT_TRUE(bitwise_equal(y, want, "ref y"));
  EXPECT_TRUE(bitwise_equal(y_fast, want, "cpu y"));
  std::vector<float> da(2), db(4);
  concat_backward_cpu(s, want.data(), da.data(), db.data());
  EXPECT_TRUE(bitwise_equal(da, a, "da"));
  EXPECT_TRUE(bitwise_equal(db, b, "db"));
}

TEST(ConcatCpu, ReferenceZeroPixelsIsANoOp) {
  concat_forward_ref<float>(concat_shape(0, 2, 3), nullptr, nullptr, nullptr);
  concat_backward_ref<float>(concat_shape(0, 2, 3), nullptr, nullptr, nullptr);
  SUCCEED();
}

TEST(ConcatCpu, BackwardMatchesFiniteDifferences) {
  // concat is linear, so central differences are exact up to rounding: tol 1e-7.
  const ConcatShape s = concat_shape(5, 3, 2);
  const auto af = random_floats(15, 3), bf = random_floats(10, 4), gf = random_floats(25, 5);
  std::vector<double> params(af.begin(), af.end());
  params.insert(params.end(), bf.begin(), bf.end());
  const std::vector<double> g(gf.begin(), gf.end());
  std::vector<double> y(25);
  auto loss = [&] {
    concat_forward_ref(s, params.data(), params.data() + 15, y.data());
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * g[i];
    return l;
  };
  std::vector<double> grad(25);
  concat_backward_ref(s, g.data(), grad.data(), grad.data() + 15);
  EXPECT_TRUE(gradients_match(grad, numeric_gradient(loss, params), 1e-7, "concat da,db"));
}

TEST(ConcatCpu, RejectsBadArgumentsWithClearMessages) {
  std::vector<float> buf(16);
  float* p = buf.data();
  expect_invalid([&] { concat_forward_cpu(concat_shape(-1, 1, 1), p, p, p); },
                 "concat_forward_cpu: pixels must be >= 0 (shape pixels=-1 C1=1 C2=1)");
  expect_invalid([&] { concat_forward_ref(concat_shape(2, 0, 1), p, p, p); },
                 "concat_forward_ref: channel counts C1 and C2 must both be >= 1");
  expect_invalid([&] { concat_backward_cpu(concat_shape(2, 1, -3), p, p, p); },
                 "concat_backward_cpu: channel counts");
  expect_invalid([&] { concat_forward_cpu(concat_shape(2, 1, 1), p, nullptr, p); }, "b is null");
  expect_invalid([&] { concat_backward_cpu(concat_shape(2, 1, 1), p, nullptr, p); }, "da is null");
}

// ---------------------------------------------------------------- CUDA entry points, host side

TEST(ConcatCudaContract, VariantNames) {
  EXPECT_STREQ(kConcatVariants.name(ConcatVariant::kV1Naive), "v1_naive");
  EXPECT_STREQ(kConcatVariants.name(ConcatVariant::kV2Vectorized), "v2_vectorized");
}

TEST(ConcatCudaContract, RejectionsBeforeAnyLaunch) {
  // Checked on the host before any CUDA call, so no device (and no device pointer) is needed.
  UNET_REQUIRE_CUDA_BUILD();
  std::vector<float> buf(16);
  float* p = buf.data();
  expect_invalid(
      [&] {
        concat_forward_cuda(static_cast<ConcatVariant>(3), concat_shape(2, 1, 1), p, p, p, nullptr);
      },
      "concat_forward_cuda: unknown variant 3");
  expect_invalid(
      [&] {
        concat_backward_cuda(ConcatVariant::kV1Naive, concat_shape(2, 0, 1), p, p, p, nullptr);
      },
      "concat_backward_cuda: channel counts C1 and C2 must both be >= 1");
  expect_invalid(
      [&] {
        concat_forward_cuda(ConcatVariant::kV2Vectorized, concat_shape(2, 1, 1), p, nullptr, p,
                            nullptr);
      },
      {"concat_forward_cuda: ", "b is null"});
}

TEST(ConcatCudaContract, StubsReportNoCudaBackend) {
  // concat_cuda_stub.cpp stands in for concat_cuda.cu in a build without CUDA.
  if (unet::testing::cuda_backend_built()) GTEST_SKIP() << "the CUDA backend is built";
  expect_runtime_error(
      [] {
        concat_forward_cuda(ConcatVariant::kV1Naive, concat_shape(1, 1, 1), nullptr, nullptr,
                            nullptr, nullptr);
      },
      "concat_forward_cuda: this build has no CUDA backend");
  expect_runtime_error(
      [] {
        concat_backward_cuda(ConcatVariant::kV1Naive, concat_shape(1, 1, 1), nullptr, nullptr,
                             nullptr, nullptr);
      },
      "concat_backward_cuda: this build has no CUDA backend");
}

}  // namespace
}  // namespace unet::kernels
