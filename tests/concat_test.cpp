// concat CPU tests: fast path vs the reference (bitwise: pure copies), a hand-written case,
// finite differences of the reference backward in double, and the rejection messages.

#include "kernels/concat/concat.h"

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/testing/kernel_shapes.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using unet::testing::bitwise_equal;
using unet::testing::gradients_match;
using unet::testing::numeric_gradient;
using unet::testing::random_floats;

using unet::testing::concat_shape;

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

TEST(ConcatCpu, FastMatchesReferenceBitwise) {
  uint64_t seed = 1;
  for (const ConcatShape& s :
       {concat_shape(1, 1, 1), concat_shape(7, 3, 5), concat_shape(6, 32, 32),
        concat_shape(13, 4, 1), concat_shape(4096, 64, 64), concat_shape(100003, 1, 2)}) {
    SCOPED_TRACE("pixels=" + std::to_string(s.pixels) + " C1=" + std::to_string(s.C1) +
                 " C2=" + std::to_string(s.C2));
    const int C = s.C1 + s.C2;
    const auto a = random_floats(s.pixels * s.C1, seed++);
    const auto b = random_floats(s.pixels * s.C2, seed++);
    const auto dy = random_floats(s.pixels * C, seed++);
    std::vector<float> y_ref(s.pixels * C), y_cpu(s.pixels * C, 99.0f);
    concat_forward_ref(s, a.data(), b.data(), y_ref.data());
    concat_forward_cpu(s, a.data(), b.data(), y_cpu.data());
    EXPECT_TRUE(bitwise_equal(y_cpu, y_ref, "y"));
    std::vector<float> da_ref(a.size()), db_ref(b.size()), da(a.size(), 99.0f), db(b.size(), 99.0f);
    concat_backward_ref(s, dy.data(), da_ref.data(), db_ref.data());
    concat_backward_cpu(s, dy.data(), da.data(), db.data());
    EXPECT_TRUE(bitwise_equal(da, da_ref, "da"));
    EXPECT_TRUE(bitwise_equal(db, db_ref, "db"));
  }
}

TEST(ConcatCpu, ZeroPixelsIsANoOp) {
  concat_forward_cpu(concat_shape(0, 2, 3), nullptr, nullptr, nullptr);
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

using unet::testing::expect_invalid;

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

}  // namespace
}  // namespace unet::kernels
