// batch_norm2d: one case table run on every backend (the CPU OpenMP path and CUDA) against the
// naive CPU reference: training forward (y, saved and running statistics), eval forward and
// backward on awkward shapes (one pixel pair, one channel, C not a multiple of the 32-channel CUDA
// tile, pixel counts that are no multiple of any chunk and ones that hit the CUDA block cap), with
// outputs poisoned (NaN bytes) first; per backend also the hand-computed running statistics after
// two steps, eval by hand and run-to-run bitwise determinism.
// Plain tests: the reference's hand values, finite differences of the reference backward in
// double, the conv fold, the CPU path's thread-count independence, the rejection messages and the
// host-side checks of the CUDA entry points.

#include "kernels/batch_norm2d/batch_norm2d.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using namespace ::unet::testing;  // helpers: tests/testing/*.h

// x with a per-channel offset, so a wrong mean shows up.
std::vector<float> make_x(const BatchNormShape& s, uint64_t seed) {
  std::vector<float> x = random_floats(static_cast<size_t>(s.pixels * s.C), seed, -1.0f, 1.0f);
  for (int64_t p = 0; p < s.pixels; ++p) {
    for (int c = 0; c < s.C; ++c) x[static_cast<size_t>(p * s.C + c)] += 0.5f * float(c % 7) - 1.0f;
  }
  return x;
}

std::string describe(const BatchNormShape& s) {
  return "pixels=" + std::to_string(s.pixels) + " C=" + std::to_string(s.C);
}

// The case table: the smallest training batch (2 pixels) with one channel, odd sizes, one channel
// over many pixels, C not a multiple of the 32-channel CUDA tile (33, 5, 3), pixel counts that are
// no multiple of the CPU's 2048-pixel chunk or the CUDA block size, many channels (512), and
// pixel counts large enough to hit the CUDA cap of 1024 blocks (200003x3, 655360x32 = the U-Net's
// first level at batch 10).
std::vector<BatchNormShape> cases() {
  return {{2, 1},   {7, 3},      {1000, 1},   {105, 33},   {4099, 64},
          {646, 5}, {40960, 32}, {2560, 512}, {200003, 3}, {655360, 32}};
}

// Everything one backend computes for one case: training forward (from running statistics rm0,
// rv0), eval forward on rm0/rv0 and backward.
struct BnOut {
  std::vector<float> y, rm, rv, sm, si, eval_y, dx, dgamma, dbeta;
};

// Runs the three entry points of backend `b`. The backward runs on the given saved statistics when
// passed (to test it alone), else on this backend's training forward's.
BnOut run_backend(const KernelBackend& b, const BatchNormShape& s, const std::vector<float>& x,
                  const std::vector<float>& dy, const std::vector<float>& gamma,
                  const std::vector<float>& beta, const std::vector<float>& rm0,
                  const std::vector<float>& rv0, const std::vector<float>* bwd_mean = nullptr,
                  const std::vector<float>* bwd_invstd = nullptr) {
  const size_t n = x.size(), C = gamma.size();
  BackendBuffer<float> x_d(b, x), dy_d(b, dy), g_d(b, gamma), beta_d(b, beta), rm(b, rm0),
      rv(b, rv0), sm(b, C), si(b, C), y(b, n), ey(b, n), dx(b, n), dg(b, C), db(b, C);
  for (auto* buf : {&sm, &si, &y, &ey, &dx, &dg, &db}) buf->poison();
  // Eval on the starting running statistics (independent of the training update).
  BackendBuffer<float> rm_e(b, rm0), rv_e(b, rv0);
  BackendBuffer<float> bm(b, bwd_mean ? *bwd_mean : std::vector<float>(C)),
      bi(b, bwd_invstd ? *bwd_invstd : std::vector<float>(C));
  float* bwd_m = bwd_mean ? bm.get() : sm.get();
  float* bwd_i = bwd_invstd ? bi.get() : si.get();
  if (b.cuda) {
    BackendBuffer<unsigned char> ws(b, batch_norm2d_cuda_workspace_bytes(s));
    batch_norm2d_forward_train_cuda(s, x_d.get(), g_d.get(), beta_d.get(), 1e-5f, 0.1f, rm.get(),
                                    rv.get(), sm.get(), si.get(), y.get(), ws.get(), nullptr);
    batch_norm2d_forward_eval_cuda(s, x_d.get(), g_d.get(), beta_d.get(), rm_e.get(), rv_e.get(),
                                   1e-5f, ey.get(), nullptr);
    batch_norm2d_backward_cuda(s, x_d.get(), dy_d.get(), g_d.get(), bwd_m, bwd_i, dx.get(),
                               dg.get(), db.get(), ws.get(), nullptr);
  } else {
    batch_norm2d_forward_train_cpu(s, x_d.get(), g_d.get(), beta_d.get(), 1e-5f, 0.1f, rm.get(),
                                   rv.get(), sm.get(), si.get(), y.get());
    batch_norm2d_forward_eval_cpu(s, x_d.get(), g_d.get(), beta_d.get(), rm_e.get(), rv_e.get(),
                                  1e-5f, ey.get());
    batch_norm2d_backward_cpu(s, x_d.get(), dy_d.get(), g_d.get(), bwd_m, bwd_i, dx.get(), dg.get(),
                              db.get());
  }
  return {y.to_host(),  rm.to_host(), rv.to_host(), sm.to_host(), si.to_host(),
          ey.to_host(), dx.to_host(), dg.to_host(), db.to_host()};
}

// The state after one training step of the hand example below.
struct TrainStep {
  std::vector<float> rm, rv, sm, si, y;
};

// C = 2, pixels = 4, momentum 0.1, running mean 0 / var 1 at the start, eps 1e-5, gamma 1, beta 0.
// Channel 0 step 1: x = {1,2,3,4}: mean 2.5, biased var 1.25, unbiased 5/3
//   rm = 0.9*0 + 0.1*2.5 = 0.25;  rv = 0.9*1 + 0.1*5/3 = 1.0666667
//   y = (x - 2.5)/sqrt(1.25 + 1e-5) = {-1.3416354, -0.4472118, 0.4472118, 1.3416354}
// Channel 0 step 2: x = {0,0,2,6}: mean 2, biased var 6, unbiased 8
//   rm = 0.9*0.25 + 0.1*2 = 0.425;  rv = 0.9*1.0666667 + 0.1*8 = 1.76
//   y = (x - 2)/sqrt(6.00001): x = 6 gives 1.6329918
// Channel 1 is channel 0 times -2: step 1 mean -5, var 5, unbiased 20/3 -> rm -0.5, rv 1.5666667;
//   step 2 mean -4, var 24, unbiased 32 -> rm = -0.45 - 0.4 = -0.85, rv = 1.41 + 3.2 = 4.61.
// `step` runs one training step on x (keeping the running statistics between calls). Tolerance
// 1e-6 absolute: a few ulp of values of size ~1 (rv after step 2 of channel 1, ~4.6: 2e-6).
void expect_two_step_hand_values(const std::function<TrainStep(const std::vector<float>&)>& step) {
  const TrainStep a = step({1, -2, 2, -4, 3, -6, 4, -8});
  EXPECT_NEAR(a.rm[0], 0.25f, 1e-6);
  EXPECT_NEAR(a.rv[0], 1.0666667f, 1e-6);
  EXPECT_NEAR(a.rm[1], -0.5f, 1e-6);
  EXPECT_NEAR(a.rv[1], 1.5666667f, 1e-6);
  EXPECT_NEAR(a.sm[0], 2.5f, 1e-6);
  EXPECT_NEAR(a.si[0], 1.0f / std::sqrt(1.25f + 1e-5f), 1e-6);
  const float y0[4] = {-1.3416354f, -0.4472118f, 0.4472118f, 1.3416354f};
  // Channel 1: (x + 5)/sqrt(5 + 1e-5) = {3, 1, -1, -3} * 0.4472131 (eps weighs less than in ch
  // 0).
  const float y1[4] = {1.3416394f, 0.4472131f, -0.4472131f, -1.3416394f};
  for (int p = 0; p < 4; ++p) {
    EXPECT_NEAR(a.y[size_t(p) * 2], y0[p], 1e-6);
    EXPECT_NEAR(a.y[size_t(p) * 2 + 1], y1[p], 1e-6);
  }
  const TrainStep b = step({0, 0, 0, 0, 2, -4, 6, -12});
  EXPECT_NEAR(b.rm[0], 0.425f, 1e-6);
  EXPECT_NEAR(b.rv[0], 1.76f, 1e-6);
  EXPECT_NEAR(b.rm[1], -0.85f, 1e-6);
  EXPECT_NEAR(b.rv[1], 4.61f, 2e-6);
  EXPECT_NEAR(b.y[6], 1.6329918f, 1e-6);
}

// Eval by hand: y = gamma*(x - rm)/sqrt(rv + eps) + beta: (1 - 0.425)/sqrt(1.76001) = 0.4334213,
// channel 1: 2*(-1 + 0.85)/sqrt(4.61001) + 0.5 = 2*(-0.0698619) + 0.5 = 0.3602762. `eval` maps
// (x, gamma, beta, rm, rv) to y.
void expect_eval_hand_values(
    const std::function<std::vector<float>(const std::vector<float>&, const std::vector<float>&,
                                           const std::vector<float>&, const std::vector<float>&,
                                           const std::vector<float>&)>& eval) {
  const std::vector<float> y =
      eval({1.0f, -1.0f}, {1.0f, 2.0f}, {0.0f, 0.5f}, {0.425f, -0.85f}, {1.76f, 4.61f});
  EXPECT_NEAR(y[0], 0.4334213f, 1e-6);
  EXPECT_NEAR(y[1], 0.3602762f, 1e-6);
}

// ---------------------------------------------------------------- every backend vs the reference

class BatchNorm2dTest : public ::testing::TestWithParam<KernelBackend> {};

// Tolerances. Statistics: double on both sides, cast to float; the CPU path sums in another order
// (rtol 1e-6), CUDA uses E[x^2] - mean^2 (exact enough at these offsets: rtol 1e-5). y, eval y:
// float per-channel affine vs the double reference: rtol 1e-5 and atol 1e-5 of the largest value.
// dx: a difference of terms of similar size: rtol 1e-4, atol 1e-6 of the size of the terms it is a
// difference of (gamma*invstd*dy). dgamma/dbeta: double sums cast to float: rtol 1e-5 (atol for
// sums that cancel to ~0). The backward is fed the reference's saved statistics: with pixels = 2,
// dx is pure cancellation (analytically ~eps/var), so a one-ulp different invstd from the
// backend's forward would move it by ~1e-3 relative.
TEST_P(BatchNorm2dTest, MatchesReferenceOnAwkwardShapes) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const float stat_rtol = b.cuda ? 1e-5f : 1e-6f;
  for (const BatchNormShape& s : cases()) {
    SCOPED_TRACE(b.name + " " + describe(s));
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
    const BnOut got = run_backend(b, s, x, dy, gamma, beta, rm0, rv0, &sm, &si);
    EXPECT_TRUE(all_close(got.sm, sm, stat_rtol, 1e-7f, "save_mean"));
    EXPECT_TRUE(all_close(got.si, si, stat_rtol, 0.0f, "save_invstd"));
    EXPECT_TRUE(all_close(got.rm, rm, stat_rtol, 1e-7f, "running_mean"));
    EXPECT_TRUE(all_close(got.rv, rv, stat_rtol, 0.0f, "running_var"));
    EXPECT_TRUE(all_close(got.y, y, 1e-5f, 1e-5f * max_abs(y), "y"));
    EXPECT_TRUE(all_close(got.eval_y, ey, 1e-5f, 1e-5f * max_abs(ey), "eval y"));
    float gain = 0;  // dx is a difference of terms of size |gamma * invstd * dy|
    for (size_t c = 0; c < C; ++c) gain = std::max(gain, std::fabs(gamma[c] * si[c]));
    EXPECT_TRUE(all_close(got.dx, dx, 1e-4f, 1e-6f * gain * max_abs(dy), "dx"));
    EXPECT_TRUE(all_close(got.dgamma, dg, 1e-5f, 1e-6f * max_abs(dg), "dgamma"));
    EXPECT_TRUE(all_close(got.dbeta, db, 1e-5f, 1e-6f * max_abs(db), "dbeta"));
  }
}

TEST_P(BatchNorm2dTest, RunningStatisticsAfterTwoStepsMatchHandValues) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const BatchNormShape s{4, 2};
  BackendBuffer<float> g(b, std::vector<float>{1, 1}), beta(b, std::vector<float>{0, 0});
  BackendBuffer<float> rm(b, std::vector<float>{0, 0}), rv(b, std::vector<float>{1, 1}), sm(b, 2),
      si(b, 2), y(b, 8);
  BackendBuffer<unsigned char> ws(b, b.cuda ? batch_norm2d_cuda_workspace_bytes(s) : 0);
  expect_two_step_hand_values([&](const std::vector<float>& x_host) {
    BackendBuffer<float> x(b, x_host);
    y.poison();
    if (b.cuda) {
      batch_norm2d_forward_train_cuda(s, x.get(), g.get(), beta.get(), 1e-5f, 0.1f, rm.get(),
                                      rv.get(), sm.get(), si.get(), y.get(), ws.get(), nullptr);
    } else {
      batch_norm2d_forward_train_cpu(s, x.get(), g.get(), beta.get(), 1e-5f, 0.1f, rm.get(),
                                     rv.get(), sm.get(), si.get(), y.get());
    }
    return TrainStep{rm.to_host(), rv.to_host(), sm.to_host(), si.to_host(), y.to_host()};
  });
}

TEST_P(BatchNorm2dTest, EvalUsesRunningStatistics) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  expect_eval_hand_values([&](const std::vector<float>& x_host, const std::vector<float>& g_host,
                              const std::vector<float>& beta_host,
                              const std::vector<float>& rm_host,
                              const std::vector<float>& rv_host) {
    const BatchNormShape s{1, 2};
    BackendBuffer<float> x(b, x_host), g(b, g_host), beta(b, beta_host), rm(b, rm_host),
        rv(b, rv_host), y(b, 2);
    y.poison();
    if (b.cuda) {
      batch_norm2d_forward_eval_cuda(s, x.get(), g.get(), beta.get(), rm.get(), rv.get(), 1e-5f,
                                     y.get(), nullptr);
    } else {
      batch_norm2d_forward_eval_cpu(s, x.get(), g.get(), beta.get(), rm.get(), rv.get(), 1e-5f,
                                    y.get());
    }
    return y.to_host();
  });
}

// Fixed summation orders (CPU: fixed pixel chunks; CUDA: a grid that depends only on the shape, no
// atomics): two runs give the same bits.
TEST_P(BatchNorm2dTest, BitwiseDeterministic) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const BatchNormShape s{655360, 32};
  const size_t n = static_cast<size_t>(s.pixels * s.C);
  const auto x = make_x(s, 800);
  const auto dy = random_floats(n, 801);
  const std::vector<float> gamma(32, 1.1f), beta(32, -0.2f), rm0(32, 0.0f), rv0(32, 1.0f);
  const BnOut r1 = run_backend(b, s, x, dy, gamma, beta, rm0, rv0);
  const BnOut r2 = run_backend(b, s, x, dy, gamma, beta, rm0, rv0);
  EXPECT_TRUE(bitwise_equal(r1.y, r2.y, "y"));
  EXPECT_TRUE(bitwise_equal(r1.si, r2.si, "save_invstd"));
  EXPECT_TRUE(bitwise_equal(r1.rv, r2.rv, "running_var"));
  EXPECT_TRUE(bitwise_equal(r1.dx, r2.dx, "dx"));
  EXPECT_TRUE(bitwise_equal(r1.dgamma, r2.dgamma, "dgamma"));
  EXPECT_TRUE(bitwise_equal(r1.dbeta, r2.dbeta, "dbeta"));
}

INSTANTIATE_TEST_SUITE_P(Backends, BatchNorm2dTest, ::testing::ValuesIn(cpu_and_cuda()),
                         backend_test_name);

// ---------------------------------------------------------------- the reference and the CPU path

TEST(BatchNorm2dCpu, ReferenceRunningStatisticsAfterTwoStepsMatchHandValues) {
  const BatchNormShape s{4, 2};
  const std::vector<float> gamma = {1, 1}, beta = {0, 0};
  std::vector<float> rm = {0, 0}, rv = {1, 1}, sm(2), si(2), y(8);
  expect_two_step_hand_values([&](const std::vector<float>& x) {
    batch_norm2d_forward_train_ref<float>(s, x.data(), gamma.data(), beta.data(), 1e-5f, 0.1f,
                                          rm.data(), rv.data(), sm.data(), si.data(), y.data());
    return TrainStep{rm, rv, sm, si, y};
  });
}

TEST(BatchNorm2dCpu, ReferenceEvalUsesRunningStatistics) {
  expect_eval_hand_values([](const std::vector<float>& x, const std::vector<float>& gamma,
                             const std::vector<float>& beta, const std::vector<float>& rm,
                             const std::vector<float>& rv) {
    std::vector<float> y(2);
    batch_norm2d_forward_eval_ref<float>({1, 2}, x.data(), gamma.data(), beta.data(), rm.data(),
                                         rv.data(), 1e-5f, y.data());
    return y;
  });
}

// Central differences in double of L = sum(y * r) through the whole training forward (statistics
// included); agreement ~1e-8 in double; tol 1e-6.
TEST(BatchNorm2dCpu, ReferenceBackwardMatchesFiniteDifferences) {
  for (const BatchNormShape s :
       {BatchNormShape{5, 2}, BatchNormShape{12, 3}, BatchNormShape{2, 1}}) {
    SCOPED_TRACE(describe(s));
    const size_t n = static_cast<size_t>(s.pixels * s.C), C = static_cast<size_t>(s.C);
    std::vector<double> x = random_doubles(n, 200 + n, -2.0, 2.0);
    std::vector<double> gamma = random_doubles(C, 201, 0.5, 1.5);
    std::vector<double> beta = random_doubles(C, 202);
    const std::vector<double> r = random_doubles(n, 203);
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
    EXPECT_TRUE(gradients_match(dx, numeric_gradient(loss, x), 1e-6, "dx"));
    EXPECT_TRUE(gradients_match(dgamma, numeric_gradient(loss, gamma), 1e-6, "dgamma"));
    EXPECT_TRUE(gradients_match(dbeta, numeric_gradient(loss, beta), 1e-6, "dbeta"));
  }
}

TEST(BatchNorm2dCpu, FoldIntoConvMatchesConvThenEval) {
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

TEST(BatchNorm2dCpu, ResultDoesNotDependOnThreadCount) {
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
  EXPECT_TRUE(bitwise_equal(y[1], y[0], "y"));
  EXPECT_TRUE(bitwise_equal(dx[1], dx[0], "dx"));
  EXPECT_TRUE(bitwise_equal(dg[1], dg[0], "dgamma"));
  EXPECT_TRUE(bitwise_equal(db[1], db[0], "dbeta"));
}

TEST(BatchNorm2dCpu, RejectsBadArguments) {
  const std::vector<float> x(8, 1.0f), g(2, 1.0f), b(2, 0.0f), rm(2, 0.0f);
  std::vector<float> rv(2, 1.0f), sm(2), si(2), y(8), dx(8), dg(2), db(2);
  auto train = [&](BatchNormShape s, float eps, float mom, const float* gamma, float* rmean,
                   float* rvar) {
    batch_norm2d_forward_train_cpu(s, x.data(), gamma, b.data(), eps, mom, rmean, rvar, sm.data(),
                                   si.data(), y.data());
  };
  std::vector<float> rm_w = rm;
  expect_invalid(
      [&] {
        train({1, 2}, 1e-5f, 0.1f, g.data(), rm_w.data(), rv.data());
      },
      "batch_norm2d_forward_train_cpu: shape (pixels 1, C 2) needs C >= 1 and pixels "
      ">= 2 (training needs more than one value per channel");
  expect_invalid(
      [&] {
        train({4, 0}, 1e-5f, 0.1f, g.data(), rm_w.data(), rv.data());
      },
      "shape (pixels 4, C 0) needs C >= 1");
  expect_invalid(
      [&] {
        train({4, 2}, 0.0f, 0.1f, g.data(), rm_w.data(), rv.data());
      },
      "eps must be finite and > 0, got 0");
  expect_invalid(
      [&] {
        train({4, 2}, 1e-5f, 1.5f, g.data(), rm_w.data(), rv.data());
      },
      "momentum must be in [0, 1], got 1.5");
  expect_invalid(
      [&] {
        train({4, 2}, 1e-5f, 0.1f, nullptr, rm_w.data(), rv.data());
      },
      "gamma must not be null (shape (pixels 4, C 2))");
  expect_invalid(
      [&] {
        train({4, 2}, 1e-5f, 0.1f, g.data(), rm_w.data(), nullptr);
      },
      "running_mean and running_var must both be given or both be null");
  expect_invalid(
      [&] {
        batch_norm2d_forward_eval_ref<float>({0, 2}, x.data(), g.data(), b.data(), rm.data(),
                                             rv.data(), 1e-5f, y.data());
      },
      "batch_norm2d_forward_eval_ref: shape (pixels 0, C 2) needs C >= 1 and pixels >= 1");
  expect_invalid(
      [&] {
        batch_norm2d_backward_cpu({4, 2}, x.data(), nullptr, g.data(), sm.data(), si.data(),
                                  dx.data(), dg.data(), db.data());
      },
      "batch_norm2d_backward_cpu: dy must not be null");
}

// ---------------------------------------------------------------- CUDA entry points, host side

TEST(BatchNorm2dCudaContract, RejectionsBeforeAnyLaunch) {
  // Checked on the host before any CUDA call, so no device (and no device pointer) is needed.
  UNET_REQUIRE_CUDA_BUILD();
  EXPECT_GT(batch_norm2d_cuda_workspace_bytes({4, 2}), 0u);
  std::vector<float> buf(8, 1.0f);
  float* p = buf.data();
  expect_invalid(
      [&] {
        batch_norm2d_cuda_workspace_bytes({4, 0});
      },
      "batch_norm2d_cuda_workspace_bytes: shape (pixels 4, C 0) needs C >= 1");
  expect_invalid(
      [&] {
        batch_norm2d_forward_train_cuda({1, 2}, p, p, p, 1e-5f, 0.1f, p, p, p, p, p, p, nullptr);
      },
      "batch_norm2d_forward_train_cuda: shape (pixels 1, C 2) needs C >= 1 and pixels >= 2");
  expect_invalid(
      [&] {
        batch_norm2d_forward_train_cuda({4, 2}, p, p, p, 1e-5f, 0.1f, p, p, p, p, p, nullptr,
                                        nullptr);
      },
      "batch_norm2d_forward_train_cuda: workspace must not be null");
  expect_invalid(
      [&] {
        batch_norm2d_forward_eval_cuda({4, 2}, p, p, p, p, p, -1.0f, p, nullptr);
      },
      {"batch_norm2d_forward_eval_cuda: ", "eps must be finite and > 0"});
  expect_invalid(
      [&] {
        batch_norm2d_backward_cuda({4, 2}, p, p, p, p, p, p, p, p, nullptr, nullptr);
      },
      "batch_norm2d_backward_cuda: workspace must not be null");
  expect_invalid(
      [&] {
        batch_norm2d_backward_cuda({4, 2}, p, nullptr, p, p, p, p, p, p, p, nullptr);
      },
      "batch_norm2d_backward_cuda: dy must not be null");
}

}  // namespace
}  // namespace unet::kernels
