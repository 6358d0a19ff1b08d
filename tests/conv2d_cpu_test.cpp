// conv2d CPU: the naive reference pinned by hand-computed cases and central finite differences in
// double; the fast path (im2col + GEMM) compared with the reference on random data over awkward
// shapes, and bit for bit on small integers; every rejection path checked by its message.

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/conv2d/conv2d.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using unet::testing::all_close;
using unet::testing::bitwise_equal;
using unet::testing::gradients_match;
using unet::testing::numeric_gradient;
using unet::testing::random_doubles;
using unet::testing::random_floats;
using unet::testing::random_small_ints;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Conv2dShape make_shape(int N, int H, int W, int C, int K, int R, int S, int pad_h, int pad_w,
                       int stride_h, int stride_w) {
  Conv2dShape s;
  s.N = N, s.H = H, s.W = W, s.C = C, s.K = K, s.R = R, s.S = S;
  s.pad_h = pad_h, s.pad_w = pad_w, s.stride_h = stride_h, s.stride_w = stride_w;
  return s;
}

std::string describe(const Conv2dShape& s) {
  return "N" + std::to_string(s.N) + " H" + std::to_string(s.H) + " W" + std::to_string(s.W) +
         " C" + std::to_string(s.C) + " K" + std::to_string(s.K) + " R" + std::to_string(s.R) +
         " S" + std::to_string(s.S) + " pad" + std::to_string(s.pad_h) + "," +
         std::to_string(s.pad_w) + " stride" + std::to_string(s.stride_h) + "," +
         std::to_string(s.stride_w);
}

// Awkward shapes: batch 1, one channel, odd and non-square sizes, stride 2, pad 0 and 1, 1x1,
// non-square kernels, a kernel bigger than the input, a 1x1 output.
std::vector<Conv2dShape> awkward_shapes() {
  return {
      make_shape(1, 7, 5, 1, 1, 3, 3, 1, 1, 1, 1),
      make_shape(2, 7, 5, 3, 4, 3, 3, 1, 1, 1, 1),
      make_shape(1, 7, 5, 3, 2, 3, 3, 0, 0, 2, 2),
      make_shape(3, 6, 9, 5, 3, 1, 1, 0, 0, 1, 1),
      make_shape(2, 5, 7, 4, 5, 1, 1, 0, 0, 2, 2),
      make_shape(1, 8, 6, 2, 3, 2, 3, 1, 0, 2, 1),
      make_shape(2, 9, 7, 6, 7, 3, 3, 1, 1, 2, 2),
      make_shape(1, 4, 4, 2, 2, 5, 5, 2, 2, 1, 1),
      make_shape(1, 3, 3, 1, 1, 3, 3, 0, 0, 1, 1),
      make_shape(2, 16, 16, 8, 16, 3, 3, 1, 1, 1, 1),
      make_shape(1, 11, 13, 17, 9, 3, 3, 1, 1, 1, 1),
  };
}

struct Outputs {
  std::vector<float> y, dx, dw, dbias;
};

// Runs forward, backward-data and backward-weight through either path. Outputs start as NaN so
// an element a path forgets to write shows up.
Outputs run(bool fast, const Conv2dShape& s, const std::vector<float>& x,
            const std::vector<float>& w, const std::vector<float>* bias, bool relu,
            const std::vector<float>& dy) {
  Outputs o;
  o.y.assign(s.y_size(), kNaN);
  o.dx.assign(s.x_size(), kNaN);
  o.dw.assign(s.w_size(), kNaN);
  o.dbias.assign(s.K, kNaN);
  const float* b = bias ? bias->data() : nullptr;
  if (fast) {
    conv2d_forward_cpu(s, x.data(), w.data(), b, o.y.data(), relu);
  } else {
    conv2d_forward_ref<float>(s, x.data(), w.data(), b, o.y.data(), relu);
  }
  // The mask always comes from the reference forward so both paths see the same one.
  std::vector<float> relu_y;
  if (relu) {
    relu_y.resize(s.y_size());
    conv2d_forward_ref<float>(s, x.data(), w.data(), b, relu_y.data(), true);
  }
  const float* ry = relu ? relu_y.data() : nullptr;
  if (fast) {
    conv2d_backward_data_cpu(s, dy.data(), w.data(), ry, o.dx.data());
    conv2d_backward_weight_cpu(s, x.data(), dy.data(), ry, o.dw.data(), o.dbias.data());
  } else {
    conv2d_backward_data_ref<float>(s, dy.data(), w.data(), ry, o.dx.data());
    conv2d_backward_weight_ref<float>(s, x.data(), dy.data(), ry, o.dw.data(), o.dbias.data());
  }
  return o;
}

// ---------------------------------------------------------------- the reference, by hand

TEST(Conv2dRef, HandComputed3x3Input2x2Kernel) {
  // x = [1 2 3; 4 5 6; 7 8 9], w = [1 2; 3 4], stride 1, no padding.
  const Conv2dShape s = make_shape(1, 3, 3, 1, 1, 2, 2, 0, 0, 1, 1);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w = {1, 2, 3, 4};
  std::vector<float> y(4);
  conv2d_forward_ref<float>(s, x.data(), w.data(), nullptr, y.data(), false);
  EXPECT_TRUE(bitwise_equal(y, {37, 47, 67, 77}, "y"));
  // Bias -50 and the fused ReLU clamp the first row of outputs.
  const std::vector<float> bias = {-50};
  conv2d_forward_ref<float>(s, x.data(), w.data(), bias.data(), y.data(), true);
  EXPECT_TRUE(bitwise_equal(y, {0, 0, 17, 27}, "relu(y + bias)"));

  // dy = 1 everywhere, no mask: dx counts how often each weight touches each pixel.
  std::vector<float> dx(9), dw(4), db(1);
  const std::vector<float> ones = {1, 1, 1, 1};
  conv2d_backward_data_ref<float>(s, ones.data(), w.data(), nullptr, dx.data());
  EXPECT_TRUE(bitwise_equal(dx, {1, 3, 2, 4, 10, 6, 3, 7, 4}, "dx"));
  // dy = [1 2; 3 4] masked by relu_y = [0 0; 17 27] leaves g = [0 0; 3 4].
  const std::vector<float> dy = {1, 2, 3, 4};
  conv2d_backward_data_ref<float>(s, dy.data(), w.data(), y.data(), dx.data());
  EXPECT_TRUE(bitwise_equal(dx, {0, 0, 0, 3, 10, 8, 9, 24, 16}, "masked dx"));
  conv2d_backward_weight_ref<float>(s, x.data(), dy.data(), y.data(), dw.data(), db.data());
  EXPECT_TRUE(bitwise_equal(dw, {32, 39, 53, 60}, "masked dw"));
  EXPECT_TRUE(bitwise_equal(db, {7}, "masked dbias"));
}

TEST(Conv2dRef, HandComputedPaddingAndStride) {
  // 3x3 ones kernel, pad 1, stride 2 on [1..9]: each output sums the in-range part of its window.
  const Conv2dShape s = make_shape(1, 3, 3, 1, 1, 3, 3, 1, 1, 2, 2);
  ASSERT_EQ(s.P(), 2);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w(9, 1.0f);
  std::vector<float> y(4);
  conv2d_forward_ref<float>(s, x.data(), w.data(), nullptr, y.data(), false);
  EXPECT_TRUE(bitwise_equal(y, {12, 16, 24, 28}, "y"));
}

TEST(Conv2dRef, HandComputedChannelOrderKRSC) {
  // One pixel, C=2, K=2: w[k][c] = {{1, 10}, {100, 1000}} must give y[k] = sum_c w[k][c] x[c].
  const Conv2dShape s = make_shape(1, 1, 1, 2, 2, 1, 1, 0, 0, 1, 1);
  const std::vector<float> x = {1, 2}, w = {1, 10, 100, 1000}, bias = {0.5f, -0.5f};
  std::vector<float> y(2);
  conv2d_forward_ref<float>(s, x.data(), w.data(), bias.data(), y.data(), false);
  EXPECT_TRUE(bitwise_equal(y, {21.5f, 2099.5f}, "y"));
  const std::vector<float> dy = {1, 2};
  std::vector<float> dx(2), dw(4), db(2);
  conv2d_backward_data_ref<float>(s, dy.data(), w.data(), nullptr, dx.data());
  EXPECT_TRUE(bitwise_equal(dx, {201, 2010}, "dx"));
  conv2d_backward_weight_ref<float>(s, x.data(), dy.data(), nullptr, dw.data(), db.data());
  EXPECT_TRUE(bitwise_equal(dw, {1, 2, 2, 4}, "dw"));
  EXPECT_TRUE(bitwise_equal(db, {1, 2}, "dbias"));
}

// ---------------------------------------------------------------- the reference, by calculus

// loss = sum(coef * act(conv(x, w) + b)); its gradients are the backward passes with dy = coef.
void check_gradients(const Conv2dShape& s, bool relu, uint64_t seed) {
  SCOPED_TRACE(describe(s) + (relu ? " relu" : ""));
  std::vector<double> x = random_doubles(s.x_size(), seed),
                      w = random_doubles(s.w_size(), seed + 1), b = random_doubles(s.K, seed + 2),
                      coef = random_doubles(s.y_size(), seed + 3);
  std::vector<double> y(s.y_size());
  auto loss = [&] {
    conv2d_forward_ref<double>(s, x.data(), w.data(), b.data(), y.data(), relu);
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += coef[i] * y[i];
    return l;
  };
  if (relu) {
    // A pre-activation within the step's reach of 0 would make the ReLU kink show up in the
    // difference quotient; eps 1e-6 moves any pre-activation by at most ~1e-5 here.
    std::vector<double> pre(s.y_size());
    conv2d_forward_ref<double>(s, x.data(), w.data(), b.data(), pre.data(), false);
    double closest = 1e9;
    int positive = 0, negative = 0;
    for (double v : pre) {
      closest = std::min(closest, std::fabs(v));
      (v > 0 ? positive : negative)++;
    }
    ASSERT_GT(closest, 1e-4) << "pick another seed: a pre-activation sits on the ReLU kink";
    ASSERT_GT(positive, 0);
    ASSERT_GT(negative, 0) << "the mask must actually remove something";
  }
  loss();
  const std::vector<double> relu_y = y;
  const double* ry = relu ? relu_y.data() : nullptr;
  std::vector<double> dx(s.x_size()), dw(s.w_size()), db(s.K);
  conv2d_backward_data_ref<double>(s, coef.data(), w.data(), ry, dx.data());
  conv2d_backward_weight_ref<double>(s, x.data(), coef.data(), ry, dw.data(), db.data());
  // The loss is piecewise linear in each parameter, so central differences are exact up to
  // rounding (~1e-16 * |loss| / eps ~ 1e-9): 1e-6 is loose but catches any real error.
  const double tol = 1e-6;
  EXPECT_TRUE(gradients_match(dx, numeric_gradient(loss, x), tol, "dx"));
  EXPECT_TRUE(gradients_match(dw, numeric_gradient(loss, w), tol, "dw"));
  EXPECT_TRUE(gradients_match(db, numeric_gradient(loss, b), tol, "dbias"));
}

TEST(Conv2dRef, FiniteDifferences) {
  check_gradients(make_shape(2, 5, 4, 2, 3, 3, 3, 1, 1, 1, 1), false, 11);
  check_gradients(make_shape(2, 5, 4, 2, 3, 3, 3, 1, 1, 1, 1), true, 12);
  check_gradients(make_shape(1, 7, 6, 3, 2, 3, 2, 1, 0, 2, 2), true, 13);
  check_gradients(make_shape(2, 3, 5, 4, 3, 1, 1, 0, 0, 1, 1), true, 14);
}

// ---------------------------------------------------------------- the fast path vs the reference

TEST(Conv2dCpu, MatchesReferenceOnRandomData) {
  uint64_t seed = 100;
  for (const Conv2dShape& s : awkward_shapes()) {
    for (int variant = 0; variant < 3; ++variant) {  // plain, +bias, +bias+relu
      SCOPED_TRACE(describe(s) + " variant " + std::to_string(variant));
      const auto x = random_floats(s.x_size(), ++seed), w = random_floats(s.w_size(), ++seed),
                 bias = random_floats(s.K, ++seed), dy = random_floats(s.y_size(), ++seed);
      const bool relu = variant == 2;
      const auto* b = variant > 0 ? &bias : nullptr;
      const Outputs want = run(false, s, x, w, b, relu, dy);
      const Outputs got = run(true, s, x, w, b, relu, dy);
      // fp32, different summation order (GEMM blocking vs plain loops): the rounding error of a
      // sum of n products of values in [-1, 1] stays below ~n * 6e-8, so atol 1e-6 * n with n the
      // longest sum in each pass; an indexing error is O(1).
      const float n_fwd = float(s.R * s.S * s.C), n_bd = float(s.K * s.R * s.S),
                  n_bw = float(s.N) * s.P() * s.Q();
      EXPECT_TRUE(all_close(got.y, want.y, 1e-5f, 1e-6f * n_fwd, "y"));
      EXPECT_TRUE(all_close(got.dx, want.dx, 1e-5f, 1e-6f * n_bd, "dx"));
      EXPECT_TRUE(all_close(got.dw, want.dw, 1e-5f, 1e-6f * n_bw, "dw"));
      EXPECT_TRUE(all_close(got.dbias, want.dbias, 1e-5f, 1e-6f * n_bw, "dbias"));
    }
  }
}

TEST(Conv2dCpu, BitExactOnSmallIntegers) {
  // Small-integer inputs keep every partial sum an exactly representable integer, so any
  // summation order gives the same float: fast must equal the reference bit for bit.
  uint64_t seed = 500;
  for (const Conv2dShape& s : awkward_shapes()) {
    for (int relu = 0; relu < 2; ++relu) {
      SCOPED_TRACE(describe(s) + (relu ? " relu" : ""));
      const auto x = random_small_ints(s.x_size(), ++seed),
                 w = random_small_ints(s.w_size(), ++seed), bias = random_small_ints(s.K, ++seed),
                 dy = random_small_ints(s.y_size(), ++seed);
      const Outputs want = run(false, s, x, w, &bias, relu, dy);
      const Outputs got = run(true, s, x, w, &bias, relu, dy);
      EXPECT_TRUE(bitwise_equal(got.y, want.y, "y"));
      EXPECT_TRUE(bitwise_equal(got.dx, want.dx, "dx"));
      EXPECT_TRUE(bitwise_equal(got.dw, want.dw, "dw"));
      EXPECT_TRUE(bitwise_equal(got.dbias, want.dbias, "dbias"));
    }
  }
}

TEST(Conv2dCpu, ChunkBoundariesCrossImagesAndRows) {
  // Big enough (im2col 3*45*43 x 2304 floats = 71 MiB) that the 32 MiB chunking splits the pixels
  // into several chunks, one boundary inside an image: results must not depend on where.
  const Conv2dShape s = make_shape(3, 45, 43, 256, 3, 3, 3, 1, 1, 1, 1);
  const auto x = random_small_ints(s.x_size(), 900), w = random_small_ints(s.w_size(), 901),
             bias = random_small_ints(s.K, 902), dy = random_small_ints(s.y_size(), 903);
  const Outputs want = run(false, s, x, w, &bias, true, dy);
  const Outputs got = run(true, s, x, w, &bias, true, dy);
  EXPECT_TRUE(bitwise_equal(got.y, want.y, "y"));
  EXPECT_TRUE(bitwise_equal(got.dx, want.dx, "dx"));
  EXPECT_TRUE(bitwise_equal(got.dw, want.dw, "dw"));
  EXPECT_TRUE(bitwise_equal(got.dbias, want.dbias, "dbias"));
}

TEST(Conv2dCpu, DbiasIsOptional) {
  const Conv2dShape s = make_shape(2, 6, 5, 3, 4, 3, 3, 1, 1, 1, 1);
  const auto x = random_floats(s.x_size(), 1), dy = random_floats(s.y_size(), 2);
  std::vector<float> dw_a(s.w_size()), dw_b(s.w_size()), db(s.K);
  conv2d_backward_weight_cpu(s, x.data(), dy.data(), nullptr, dw_a.data(), nullptr);
  conv2d_backward_weight_cpu(s, x.data(), dy.data(), nullptr, dw_b.data(), db.data());
  EXPECT_TRUE(bitwise_equal(dw_a, dw_b, "dw with and without dbias"));
}

// ---------------------------------------------------------------- rejections

void expect_message(const std::function<void()>& call, const std::string& op,
                    const std::string& what) {
  try {
    call();
    ADD_FAILURE() << op << ": expected std::invalid_argument containing '" << what << "'";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(op), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_NE(msg.find("shape N="), std::string::npos) << msg;
  }
}

TEST(Conv2dErrors, EachRejectionNamesOpAndProblem) {
  std::vector<float> buf(4096, 1.0f);
  float* p = buf.data();
  const Conv2dShape good = make_shape(1, 4, 4, 2, 2, 3, 3, 1, 1, 1, 1);
  struct Case {
    Conv2dShape s;
    std::string what;
  };
  std::vector<Case> cases;
  Conv2dShape s = good;
  s.N = 0;
  cases.push_back({s, "input dims N,H,W,C must all be >= 1"});
  s = good, s.C = -1;
  cases.push_back({s, "input dims N,H,W,C must all be >= 1"});
  s = good, s.K = 0;
  cases.push_back({s, "filter dims K,R,S must all be >= 1"});
  s = good, s.pad_w = -1;
  cases.push_back({s, "padding must be >= 0"});
  s = good, s.stride_h = 0;
  cases.push_back({s, "stride must be >= 1"});
  s = good, s.pad_h = 0, s.H = 2;
  cases.push_back({s, "kernel larger than the padded input"});
  for (const Case& c : cases) {
    expect_message([&] { conv2d_forward_ref<float>(c.s, p, p, p, p, false); }, "conv2d_forward_ref",
                   c.what);
    expect_message([&] { conv2d_forward_cpu(c.s, p, p, p, p, false); }, "conv2d_forward_cpu",
                   c.what);
  }
  // Every entry point checks its shape and its required pointers.
  s = good, s.stride_w = 0;
  expect_message([&] { conv2d_backward_data_ref<float>(s, p, p, p, p); },
                 "conv2d_backward_data_ref", "stride must be >= 1");
  expect_message([&] { conv2d_backward_weight_ref<float>(s, p, p, p, p, p); },
                 "conv2d_backward_weight_ref", "stride must be >= 1");
  expect_message([&] { conv2d_backward_data_cpu(s, p, p, p, p); }, "conv2d_backward_data_cpu",
                 "stride must be >= 1");
  expect_message([&] { conv2d_backward_weight_cpu(s, p, p, p, p, p); },
                 "conv2d_backward_weight_cpu", "stride must be >= 1");
  expect_message([&] { conv2d_forward_cpu(good, nullptr, p, p, p, false); }, "conv2d_forward_cpu",
                 "x is null");
  expect_message([&] { conv2d_forward_ref<float>(good, p, nullptr, p, p, false); },
                 "conv2d_forward_ref", "w is null");
  expect_message([&] { conv2d_backward_data_cpu(good, nullptr, p, p, p); },
                 "conv2d_backward_data_cpu", "dy is null");
  expect_message(
      [&] { conv2d_backward_data_ref<double>(good, nullptr, nullptr, nullptr, nullptr); },
      "conv2d_backward_data_ref", "dy is null");
  expect_message([&] { conv2d_backward_weight_cpu(good, p, p, p, nullptr, p); },
                 "conv2d_backward_weight_cpu", "dw is null");
  expect_message([&] { conv2d_backward_weight_ref<float>(good, p, p, p, nullptr, p); },
                 "conv2d_backward_weight_ref", "dw is null");
}

}  // namespace
}  // namespace unet::kernels
