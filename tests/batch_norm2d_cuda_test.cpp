// batch_norm2d CUDA tests: training forward (y, saved and running statistics), eval forward and
// backward against the CPU reference on awkward shapes (C = 1, C not a multiple of the 32-channel
// tile, pixel counts that hit the block cap), hand-computed running statistics after two steps,
// bitwise determinism. Skipped without a device.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/batch_norm2d/batch_norm2d.h"
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

std::vector<float> make_x(const BatchNormShape& s, uint64_t seed) {
  std::vector<float> x = random_floats(static_cast<size_t>(s.pixels * s.C), seed, -1.0f, 1.0f);
  for (int64_t p = 0; p < s.pixels; ++p) {
    for (int c = 0; c < s.C; ++c) x[static_cast<size_t>(p * s.C + c)] += 0.5f * float(c % 7) - 1.0f;
  }
  return x;
}

struct BnOut {
  std::vector<float> y, rm, rv, sm, si, eval_y, dx, dgamma, dbeta;
};

BnOut run_cuda(const BatchNormShape& s, const std::vector<float>& x, const std::vector<float>& dy,
               const std::vector<float>& gamma, const std::vector<float>& beta,
               const std::vector<float>& rm0, const std::vector<float>& rv0,
               const std::vector<float>* bwd_mean = nullptr,
               const std::vector<float>* bwd_invstd = nullptr) {
  const size_t n = x.size(), C = gamma.size();
  DeviceBuffer<float> dx_in(x), ddy(dy), dgam(gamma), dbet(beta), rm(rm0), rv(rv0), sm(C), si(C),
      y(n), ey(n), dx(n), dg(C), db(C);
  DeviceBuffer<unsigned char> ws(batch_norm2d_cuda_workspace_bytes(s));
  for (auto* b : {&sm, &si, &y, &ey, &dx, &dg, &db}) b->poison();
  batch_norm2d_forward_train_cuda(s, dx_in.get(), dgam.get(), dbet.get(), 1e-5f, 0.1f, rm.get(),
                                  rv.get(), sm.get(), si.get(), y.get(), ws.get(), nullptr);
  // Eval on the starting running statistics (independent of the training update above).
  DeviceBuffer<float> rm_e(rm0), rv_e(rv0);
  batch_norm2d_forward_eval_cuda(s, dx_in.get(), dgam.get(), dbet.get(), rm_e.get(), rv_e.get(),
                                 1e-5f, ey.get(), nullptr);
  // The backward runs on the given saved statistics when passed (to test it alone), else on the
  // device forward's.
  DeviceBuffer<float> bm(bwd_mean ? *bwd_mean : std::vector<float>(C)),
      bi(bwd_invstd ? *bwd_invstd : std::vector<float>(C));
  batch_norm2d_backward_cuda(s, dx_in.get(), ddy.get(), dgam.get(), bwd_mean ? bm.get() : sm.get(),
                             bwd_invstd ? bi.get() : si.get(), dx.get(), dg.get(), db.get(),
                             ws.get(), nullptr);
  return {y.to_host(),  rm.to_host(), rv.to_host(), sm.to_host(), si.to_host(),
          ey.to_host(), dx.to_host(), dg.to_host(), db.to_host()};
}

// Statistics in double on both sides (the device uses E[x^2] - mean^2, exact enough at these
// offsets): rtol 1e-5. y, eval y: float per-channel affine vs the double reference: rtol 1e-5 and
// atol 1e-5 of the largest value. dx: a difference of terms of similar size: rtol 1e-4, atol 1e-6
// of the size of the terms it is a difference of (gamma*invstd*dy). dgamma/dbeta: double sums cast
// to float: rtol 1e-5. The backward is fed the reference's saved statistics: with pixels = 2, dx is
// pure cancellation (analytically ~eps/var), so a one-ulp different invstd from the device forward
// would move it by ~1e-3 relative.
TEST(BatchNorm2dCuda, MatchesReferenceOnAwkwardShapes) {
  UNET_REQUIRE_CUDA();
  const BatchNormShape shapes[] = {{2, 1},   {7, 3},      {1000, 1},   {105, 33},   {4099, 64},
                                   {646, 5}, {2560, 512}, {200003, 3}, {655360, 32}};
  for (const BatchNormShape& s : shapes) {
    SCOPED_TRACE(::testing::Message() << "pixels=" << s.pixels << " C=" << s.C);
    const size_t n = static_cast<size_t>(s.pixels * s.C), C = static_cast<size_t>(s.C);
    const auto x = make_x(s, 700 + n);
    const auto dy = random_floats(n, 701 + n);
    const auto gamma = random_floats(C, 702, 0.5f, 1.5f), beta = random_floats(C, 703);
    const auto rm0 = random_floats(C, 704), rv0 = random_floats(C, 705, 0.5f, 2.0f);
    std::vector<float> rm = rm0, rv = rv0, sm(C), si(C), y(n), ey(n), dx(n), dg(C), db(C);
    batch_norm2d_forward_train_ref<float>(s, x.data(), gamma.data(), beta.data(), 1e-5f, 0.1f,
                                          rm.data(), rv.data(), sm.data(), si.data(), y.data());
    batch_norm2d_forward_eval_ref<float>(s, x.data(), gamma.data(), beta.data(), rm0.data(),
                                         rv0.data(), 1e-5f, ey.data());
    batch_norm2d_backward_ref<float>(s, x.data(), dy.data(), gamma.data(), sm.data(), si.data(),
                                     dx.data(), dg.data(), db.data());
    const BnOut got = run_cuda(s, x, dy, gamma, beta, rm0, rv0, &sm, &si);
    EXPECT_TRUE(all_close(got.sm, sm, 1e-5f, 1e-7f, "save_mean"));
    EXPECT_TRUE(all_close(got.si, si, 1e-5f, 0.0f, "save_invstd"));
    EXPECT_TRUE(all_close(got.rm, rm, 1e-5f, 1e-7f, "running_mean"));
    EXPECT_TRUE(all_close(got.rv, rv, 1e-5f, 0.0f, "running_var"));
    EXPECT_TRUE(all_close(got.y, y, 1e-5f, 1e-5f * max_abs(y), "y"));
    EXPECT_TRUE(all_close(got.eval_y, ey, 1e-5f, 1e-5f * max_abs(ey), "eval y"));
    float gain = 0;  // dx is a difference of terms of size |gamma * invstd * dy|
    for (size_t c = 0; c < C; ++c) gain = std::max(gain, std::fabs(gamma[c] * si[c]));
    EXPECT_TRUE(all_close(got.dx, dx, 1e-4f, 1e-6f * gain * max_abs(dy), "dx"));
    EXPECT_TRUE(all_close(got.dgamma, dg, 1e-5f, 1e-6f * max_abs(dg), "dgamma"));
    EXPECT_TRUE(all_close(got.dbeta, db, 1e-5f, 1e-6f * max_abs(db), "dbeta"));
  }
}

TEST(BatchNorm2dCuda, RunningStatisticsAfterTwoStepsMatchHandValues) {
  UNET_REQUIRE_CUDA();
  // Same example as batch_norm2d_test.cpp: channel 0 {1,2,3,4} then {0,0,2,6}, channel 1 = -2x.
  const BatchNormShape s{4, 2};
  DeviceBuffer<float> x1(std::vector<float>{1, -2, 2, -4, 3, -6, 4, -8});
  DeviceBuffer<float> x2(std::vector<float>{0, 0, 0, 0, 2, -4, 6, -12});
  DeviceBuffer<float> g(std::vector<float>{1, 1}), b(std::vector<float>{0, 0});
  DeviceBuffer<float> rm(std::vector<float>{0, 0}), rv(std::vector<float>{1, 1}), sm(2), si(2),
      y(8);
  DeviceBuffer<unsigned char> ws(batch_norm2d_cuda_workspace_bytes(s));
  for (auto* x : {&x1, &x2}) {
    batch_norm2d_forward_train_cuda(s, x->get(), g.get(), b.get(), 1e-5f, 0.1f, rm.get(), rv.get(),
                                    sm.get(), si.get(), y.get(), ws.get(), nullptr);
  }
  const auto rmh = rm.to_host(), rvh = rv.to_host();
  EXPECT_NEAR(rmh[0], 0.425f, 1e-6);
  EXPECT_NEAR(rvh[0], 1.76f, 1e-6);
  EXPECT_NEAR(rmh[1], -0.85f, 1e-6);
  EXPECT_NEAR(rvh[1], 4.61f, 2e-6);
  // Step 2, channel 0: mean 2, var 6: y = (x - 2)/sqrt(6.00001) -> x = 6 gives 1.6329918.
  EXPECT_NEAR(y.to_host()[6], 1.6329918f, 1e-6);
}

TEST(BatchNorm2dCuda, BitwiseDeterministic) {
  UNET_REQUIRE_CUDA();
  const BatchNormShape s{655360, 32};
  const size_t n = static_cast<size_t>(s.pixels * s.C);
  const auto x = make_x(s, 800);
  const auto dy = random_floats(n, 801);
  const std::vector<float> gamma(32, 1.1f), beta(32, -0.2f), rm0(32, 0.0f), rv0(32, 1.0f);
  const BnOut a = run_cuda(s, x, dy, gamma, beta, rm0, rv0);
  const BnOut b = run_cuda(s, x, dy, gamma, beta, rm0, rv0);
  EXPECT_TRUE(::unet::testing::bitwise_equal(a.y, b.y, "y"));
  EXPECT_TRUE(::unet::testing::bitwise_equal(a.si, b.si, "save_invstd"));
  EXPECT_TRUE(::unet::testing::bitwise_equal(a.rv, b.rv, "running_var"));
  EXPECT_TRUE(::unet::testing::bitwise_equal(a.dx, b.dx, "dx"));
  EXPECT_TRUE(::unet::testing::bitwise_equal(a.dgamma, b.dgamma, "dgamma"));
  EXPECT_TRUE(::unet::testing::bitwise_equal(a.dbeta, b.dbeta, "dbeta"));
}

}  // namespace
}  // namespace unet::kernels
