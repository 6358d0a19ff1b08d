// batch_norm2d CPU tests: running statistics and outputs after two training steps against hand
// values, eval mode by hand, the OpenMP path against the reference on awkward shapes, finite
// differences in double for dx, dgamma and dbeta, the conv fold, thread-count independence, errors.
#include "kernels/batch_norm2d/batch_norm2d.h"

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

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

// x with a per-channel offset, so a wrong mean shows up.
std::vector<float> make_x(const BatchNormShape& s, uint64_t seed) {
  std::vector<float> x = random_floats(static_cast<size_t>(s.pixels * s.C), seed, -1.0f, 1.0f);
  for (int64_t p = 0; p < s.pixels; ++p) {
    for (int c = 0; c < s.C; ++c) x[static_cast<size_t>(p * s.C + c)] += 0.5f * float(c % 7) - 1.0f;
  }
  return x;
}

TEST(BatchNorm2d, RunningStatisticsAfterTwoStepsMatchHandValues) {
  // C = 2, pixels = 4, momentum 0.1, running mean 0 / var 1 at the start, eps 1e-5.
  // Channel 0 step 1: x = {1,2,3,4}: mean 2.5, biased var 1.25, unbiased 5/3
  //   rm = 0.9*0 + 0.1*2.5 = 0.25;  rv = 0.9*1 + 0.1*5/3 = 1.0666667
  //   y = (x - 2.5)/sqrt(1.25 + 1e-5) = {-1.3416354, -0.4472118, 0.4472118, 1.3416354}
  // Channel 0 step 2: x = {0,0,2,6}: mean 2, biased var 6, unbiased 8
  //   rm = 0.9*0.25 + 0.1*2 = 0.425;  rv = 0.9*1.0666667 + 0.1*8 = 1.76
  // Channel 1 is channel 0 times -2: step 1 mean -5, var 5, unbiased 20/3 -> rm -0.5, rv 1.5666667;
  //   step 2 mean -4, var 24, unbiased 32 -> rm = -0.45 - 0.4 = -0.85, rv = 1.41 + 3.2 = 4.61.
  const BatchNormShape s{4, 2};
  const std::vector<float> x1 = {1, -2, 2, -4, 3, -6, 4, -8};
  const std::vector<float> x2 = {0, 0, 0, 0, 2, -4, 6, -12};
  const std::vector<float> gamma = {1, 1}, beta = {0, 0};
  for (int backend = 0; backend < 2; ++backend) {
    SCOPED_TRACE(backend == 0 ? "ref" : "cpu");
    std::vector<float> rm = {0, 0}, rv = {1, 1}, sm(2), si(2), y(8);
    auto step = [&](const std::vector<float>& x) {
      if (backend == 0) {
        batch_norm2d_forward_train_ref<float>(s, x.data(), gamma.data(), beta.data(), 1e-5f, 0.1f,
                                              rm.data(), rv.data(), sm.data(), si.data(), y.data());
      } else {
        batch_norm2d_forward_train_cpu(s, x.data(), gamma.data(), beta.data(), 1e-5f, 0.1f,
                                       rm.data(), rv.data(), sm.data(), si.data(), y.data());
      }
    };
    step(x1);
    EXPECT_NEAR(rm[0], 0.25f, 1e-6);
    EXPECT_NEAR(rv[0], 1.0666667f, 1e-6);
    EXPECT_NEAR(rm[1], -0.5f, 1e-6);
    EXPECT_NEAR(rv[1], 1.5666667f, 1e-6);
    EXPECT_NEAR(sm[0], 2.5f, 1e-6);
    EXPECT_NEAR(si[0], 1.0f / std::sqrt(1.25f + 1e-5f), 1e-6);
    const float y0[4] = {-1.3416354f, -0.4472118f, 0.4472118f, 1.3416354f};
    // Channel 1: (x + 5)/sqrt(5 + 1e-5) = {3, 1, -1, -3} * 0.4472131 (eps weighs less than in ch
    // 0).
    const float y1[4] = {1.3416394f, 0.4472131f, -0.4472131f, -1.3416394f};
    for (int p = 0; p < 4; ++p) {
      EXPECT_NEAR(y[size_t(p) * 2], y0[p], 1e-6);
      EXPECT_NEAR(y[size_t(p) * 2 + 1], y1[p], 1e-6);
    }
    step(x2);
    EXPECT_NEAR(rm[0], 0.425f, 1e-6);
    EXPECT_NEAR(rv[0], 1.76f, 1e-6);
    EXPECT_NEAR(rm[1], -0.85f, 1e-6);
    EXPECT_NEAR(rv[1], 4.61f, 2e-6);
  }
}

TEST(BatchNorm2d, EvalUsesRunningStatistics) {
  // y = gamma*(x - rm)/sqrt(rv + eps) + beta: (1 - 0.425)/sqrt(1.76001) = 0.4334213,
  // channel 1: 2*(-1 + 0.85)/sqrt(4.61001) + 0.5 = 2*(-0.0698619) + 0.5 = 0.3602762.
  const BatchNormShape s{1, 2};
  const std::vector<float> x = {1.0f, -1.0f}, gamma = {1.0f, 2.0f}, beta = {0.0f, 0.5f};
  const std::vector<float> rm = {0.425f, -0.85f}, rv = {1.76f, 4.61f};
  std::vector<float> y(2), yr(2);
  batch_norm2d_forward_eval_cpu(s, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 1e-5f,
                                y.data());
  batch_norm2d_forward_eval_ref<float>(s, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                                       1e-5f, yr.data());
  EXPECT_NEAR(y[0], 0.4334213f, 1e-6);
  EXPECT_NEAR(y[1], 0.3602762f, 1e-6);
  EXPECT_NEAR(yr[0], 0.4334213f, 1e-6);
  EXPECT_NEAR(yr[1], 0.3602762f, 1e-6);
}

// Statistics: both in double (different order), cast to float: rtol 1e-6. y, dx: the fast path
// works in float with per-channel coefficients where the reference stays in double, so a few ulp
// of the largest value: rtol 1e-5, atol 1e-5 * max|want|. dgamma/dbeta: double sums, rtol 1e-5
// (atol for sums that cancel to ~0).
TEST(BatchNorm2d, CpuMatchesReferenceOnAwkwardShapes) {
  const BatchNormShape shapes[] = {{2, 1},     {7, 3},   {1000, 1},  {105, 33},
                                   {4099, 64}, {646, 5}, {40960, 32}};
  for (const BatchNormShape& s : shapes) {
    SCOPED_TRACE(::testing::Message() << "pixels=" << s.pixels << " C=" << s.C);
    const size_t n = static_cast<size_t>(s.pixels * s.C), C = static_cast<size_t>(s.C);
    const auto x = make_x(s, 100 + n);
    const auto dy = random_floats(n, 101 + n);
    const auto gamma = random_floats(C, 102, 0.5f, 1.5f);
    const auto beta = random_floats(C, 103);
    const auto rm0 = random_floats(C, 104), rv0 = random_floats(C, 105, 0.5f, 2.0f);
    std::vector<float> rm_w = rm0, rv_w = rv0, rm_g = rm0, rv_g = rv0;
    std::vector<float> sm_w(C), si_w(C), sm_g(C), si_g(C), y_w(n), y_g(n);
    batch_norm2d_forward_train_ref<float>(s, x.data(), gamma.data(), beta.data(), 1e-5f, 0.1f,
                                          rm_w.data(), rv_w.data(), sm_w.data(), si_w.data(),
                                          y_w.data());
    batch_norm2d_forward_train_cpu(s, x.data(), gamma.data(), beta.data(), 1e-5f, 0.1f, rm_g.data(),
                                   rv_g.data(), sm_g.data(), si_g.data(), y_g.data());
    EXPECT_TRUE(all_close(sm_g, sm_w, 1e-6f, 1e-7f, "save_mean"));
    EXPECT_TRUE(all_close(si_g, si_w, 1e-6f, 0.0f, "save_invstd"));
    EXPECT_TRUE(all_close(rm_g, rm_w, 1e-6f, 1e-7f, "running_mean"));
    EXPECT_TRUE(all_close(rv_g, rv_w, 1e-6f, 0.0f, "running_var"));
    EXPECT_TRUE(all_close(y_g, y_w, 1e-5f, 1e-5f * max_abs(y_w), "y"));

    std::vector<float> e_w(n), e_g(n);
    batch_norm2d_forward_eval_ref<float>(s, x.data(), gamma.data(), beta.data(), rm0.data(),
                                         rv0.data(), 1e-5f, e_w.data());
    batch_norm2d_forward_eval_cpu(s, x.data(), gamma.data(), beta.data(), rm0.data(), rv0.data(),
                                  1e-5f, e_g.data());
    EXPECT_TRUE(all_close(e_g, e_w, 1e-5f, 1e-5f * max_abs(e_w), "eval y"));

    std::vector<float> dx_w(n), dx_g(n), dg_w(C), dg_g(C), db_w(C), db_g(C);
    batch_norm2d_backward_ref<float>(s, x.data(), dy.data(), gamma.data(), sm_w.data(), si_w.data(),
                                     dx_w.data(), dg_w.data(), db_w.data());
    batch_norm2d_backward_cpu(s, x.data(), dy.data(), gamma.data(), sm_w.data(), si_w.data(),
                              dx_g.data(), dg_g.data(), db_g.data());
    float gain = 0;  // dx is a difference of terms of size |gamma * invstd * dy|
    for (size_t c = 0; c < C; ++c) gain = std::max(gain, std::fabs(gamma[c] * si_w[c]));
    EXPECT_TRUE(all_close(dx_g, dx_w, 1e-4f, 1e-6f * gain * max_abs(dy), "dx"));
    EXPECT_TRUE(all_close(dg_g, dg_w, 1e-5f, 1e-6f * max_abs(dg_w), "dgamma"));
    EXPECT_TRUE(all_close(db_g, db_w, 1e-5f, 1e-6f * max_abs(db_w), "dbeta"));
  }
}

// Central differences in double of L = sum(y * r) through the whole training forward (statistics
// included); agreement ~1e-8 in double; tol 1e-6.
TEST(BatchNorm2d, ReferenceBackwardMatchesFiniteDifferences) {
  for (const BatchNormShape s :
       {BatchNormShape{5, 2}, BatchNormShape{12, 3}, BatchNormShape{2, 1}}) {
    SCOPED_TRACE(::testing::Message() << "pixels=" << s.pixels << " C=" << s.C);
    const size_t n = static_cast<size_t>(s.pixels * s.C), C = static_cast<size_t>(s.C);
    std::vector<double> x = ::unet::testing::random_doubles(n, 200 + n, -2.0, 2.0);
    std::vector<double> gamma = ::unet::testing::random_doubles(C, 201, 0.5, 1.5);
    std::vector<double> beta = ::unet::testing::random_doubles(C, 202);
    const std::vector<double> r = ::unet::testing::random_doubles(n, 203);
    const double eps = 1e-3;  // larger than default so the M = 2 case is not ill-conditioned
    std::vector<double> sm(C), si(C), y(n);
    auto loss = [&]() -> double {
      batch_norm2d_forward_train_ref<double>(s, x.data(), gamma.data(), beta.data(), eps, 0.1,
                                             nullptr, nullptr, sm.data(), si.data(), y.data());
      double l = 0;
      for (size_t i = 0; i < n; ++i) l += y[i] * r[i];
      return l;
    };
    loss();
    std::vector<double> dx(n), dgamma(C), dbeta(C);
    batch_norm2d_backward_ref<double>(s, x.data(), r.data(), gamma.data(), sm.data(), si.data(),
                                      dx.data(), dgamma.data(), dbeta.data());
    EXPECT_TRUE(::unet::testing::gradients_match(dx, ::unet::testing::numeric_gradient(loss, x),
                                                 1e-6, "dx"));
    EXPECT_TRUE(::unet::testing::gradients_match(
        dgamma, ::unet::testing::numeric_gradient(loss, gamma), 1e-6, "dgamma"));
    EXPECT_TRUE(::unet::testing::gradients_match(
        dbeta, ::unet::testing::numeric_gradient(loss, beta), 1e-6, "dbeta"));
  }
}

TEST(BatchNorm2d, FoldIntoConvMatchesConvThenEval) {
  // A 1x1 "conv" (K = 3 out, 4 in) followed by eval BN equals the folded conv, up to float
  // rounding.
  const int K = 3, Cin = 4;
  const int64_t pixels = 9;
  const auto w = random_floats(K * Cin, 300), b = random_floats(K, 301),
             x = random_floats(9 * 4, 302);
  const auto gamma = random_floats(K, 303, 0.5f, 1.5f), beta = random_floats(K, 304);
  const auto rm = random_floats(K, 305), rv = random_floats(K, 306, 0.5f, 2.0f);
  std::vector<float> conv(size_t(pixels) * K), want(conv.size()), got(conv.size());
  auto conv1x1 = [&](const std::vector<float>& ww, const std::vector<float>& bb,
                     std::vector<float>& out) {
    for (int64_t p = 0; p < pixels; ++p) {
      for (int k = 0; k < K; ++k) {
        float acc = bb[size_t(k)];
        for (int c = 0; c < Cin; ++c) acc += ww[size_t(k * Cin + c)] * x[size_t(p * Cin + c)];
        out[size_t(p * K + k)] = acc;
      }
    }
  };
  conv1x1(w, b, conv);
  batch_norm2d_forward_eval_ref<float>({pixels, K}, conv.data(), gamma.data(), beta.data(),
                                       rm.data(), rv.data(), 1e-5f, want.data());
  std::vector<float> wf(w.size()), bf(static_cast<size_t>(K));
  batch_norm2d_fold_ref<float>(K, Cin, w.data(), b.data(), gamma.data(), beta.data(), rm.data(),
                               rv.data(), 1e-5f, wf.data(), bf.data());
  conv1x1(wf, bf, got);
  EXPECT_TRUE(all_close(got, want, 1e-5f, 1e-5f, "folded conv"));
}

TEST(BatchNorm2d, CpuResultDoesNotDependOnThreadCount) {
  const BatchNormShape s{50001, 7};
  const size_t n = static_cast<size_t>(s.pixels * s.C);
  const auto x = make_x(s, 400);
  const auto dy = random_floats(n, 401);
  const std::vector<float> gamma(7, 1.2f), beta(7, 0.1f);
  std::vector<float> sm[2], si[2], y[2], dx[2], dg[2], db[2];
  const int saved = omp_get_max_threads();
  for (int r = 0; r < 2; ++r) {
    omp_set_num_threads(r == 0 ? 1 : 3);
    sm[r].resize(7), si[r].resize(7), y[r].resize(n), dx[r].resize(n), dg[r].resize(7),
        db[r].resize(7);
    batch_norm2d_forward_train_cpu(s, x.data(), gamma.data(), beta.data(), 1e-5f, 0.1f, nullptr,
                                   nullptr, sm[r].data(), si[r].data(), y[r].data());
    batch_norm2d_backward_cpu(s, x.data(), dy.data(), gamma.data(), sm[r].data(), si[r].data(),
                              dx[r].data(), dg[r].data(), db[r].data());
  }
  omp_set_num_threads(saved);
  EXPECT_TRUE(::unet::testing::bitwise_equal(y[1], y[0], "y"));
  EXPECT_TRUE(::unet::testing::bitwise_equal(dx[1], dx[0], "dx"));
  EXPECT_TRUE(::unet::testing::bitwise_equal(dg[1], dg[0], "dgamma"));
  EXPECT_TRUE(::unet::testing::bitwise_equal(db[1], db[0], "dbeta"));
}

TEST(BatchNorm2d, RejectsBadArguments) {
  const std::vector<float> x(8, 1.0f), g(2, 1.0f), b(2, 0.0f), rm(2, 0.0f);
  std::vector<float> rv(2, 1.0f), sm(2), si(2), y(8), dx(8), dg(2), db(2);
  auto expect_msg = [](auto fn, const std::string& needle) {
    try {
      fn();
      FAIL() << "expected std::invalid_argument containing '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto train = [&](BatchNormShape s, float eps, float mom, const float* gamma, float* rmean,
                   float* rvar) {
    batch_norm2d_forward_train_cpu(s, x.data(), gamma, b.data(), eps, mom, rmean, rvar, sm.data(),
                                   si.data(), y.data());
  };
  std::vector<float> rm_w = rm;
  expect_msg(
      [&] {
        train({1, 2}, 1e-5f, 0.1f, g.data(), rm_w.data(), rv.data());
      },
      "batch_norm2d_forward_train_cpu: shape (pixels 1, C 2) needs C >= 1 and pixels >= 2 "
      "(training needs more than one value per channel");
  expect_msg(
      [&] {
        train({4, 0}, 1e-5f, 0.1f, g.data(), rm_w.data(), rv.data());
      },
      "shape (pixels 4, C 0) needs C >= 1");
  expect_msg(
      [&] {
        train({4, 2}, 0.0f, 0.1f, g.data(), rm_w.data(), rv.data());
      },
      "eps must be finite and > 0, got 0");
  expect_msg(
      [&] {
        train({4, 2}, 1e-5f, 1.5f, g.data(), rm_w.data(), rv.data());
      },
      "momentum must be in [0, 1], got 1.5");
  expect_msg(
      [&] {
        train({4, 2}, 1e-5f, 0.1f, nullptr, rm_w.data(), rv.data());
      },
      "gamma must not be null (shape (pixels 4, C 2))");
  expect_msg(
      [&] {
        train({4, 2}, 1e-5f, 0.1f, g.data(), rm_w.data(), nullptr);
      },
      "running_mean and running_var must both be given or both be null");
  expect_msg(
      [&] {
        batch_norm2d_forward_eval_ref<float>({0, 2}, x.data(), g.data(), b.data(), rm.data(),
                                             rv.data(), 1e-5f, y.data());
      },
      "batch_norm2d_forward_eval_ref: shape (pixels 0, C 2) needs C >= 1 and pixels >= 1");
  expect_msg(
      [&] {
        batch_norm2d_backward_cpu({4, 2}, x.data(), nullptr, g.data(), sm.data(), si.data(),
                                  dx.data(), dg.data(), db.data());
      },
      "batch_norm2d_backward_cpu: dy must not be null");
}

}  // namespace
}  // namespace unet::kernels
