// conv_transpose2d CPU: the naive reference pinned by hand-computed cases, by its mirror identity
// with conv2d (forward == conv2d backward-data, and so on) and by central finite differences in
// double; the fast path (GEMM + scatter/gather) compared with the reference on random data over
// awkward shapes and bit for bit on small integers; every rejection path checked by its message.

#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/conv2d/conv2d.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"
#include "tests/testing/kernel_shapes.h"
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

using unet::testing::conv_transpose2d_shape;
using unet::testing::describe;

// The U-Net's 2x2/2 case at awkward sizes, overlapping (R > stride), gapped (R < stride), 1x1,
// stride 1, non-square kernels and strides, single channels, odd sizes.
std::vector<ConvTranspose2dShape> awkward_shapes() {
  return {
      conv_transpose2d_shape(1, 1, 1, 1, 1, 2, 2, 2, 2),
      conv_transpose2d_shape(1, 7, 5, 1, 1, 2, 2, 2, 2),
      conv_transpose2d_shape(2, 7, 5, 3, 4, 2, 2, 2, 2),
      conv_transpose2d_shape(3, 4, 6, 17, 9, 2, 2, 2, 2),
      conv_transpose2d_shape(1, 5, 7, 2, 3, 3, 3, 2, 2),
      conv_transpose2d_shape(2, 5, 4, 3, 2, 3, 3, 1, 1),
      conv_transpose2d_shape(1, 6, 5, 4, 3, 1, 1, 2, 2),
      conv_transpose2d_shape(2, 3, 5, 2, 5, 1, 1, 1, 1),
      conv_transpose2d_shape(1, 4, 6, 3, 2, 3, 2, 2, 1),
      conv_transpose2d_shape(2, 5, 3, 4, 3, 2, 3, 3, 2),
      conv_transpose2d_shape(1, 9, 11, 16, 8, 4, 4, 2, 2),
      conv_transpose2d_shape(2, 8, 8, 32, 16, 2, 2, 2, 2),
  };
}

struct Outputs {
  std::vector<float> y, dx, dw, dbias;
};

Outputs run(bool fast, const ConvTranspose2dShape& s, const std::vector<float>& x,
            const std::vector<float>& w, const std::vector<float>* bias,
            const std::vector<float>& dy) {
  Outputs o;  // NaN-filled so an element a path forgets to write shows up
  o.y.assign(s.y_size(), kNaN);
  o.dx.assign(s.x_size(), kNaN);
  o.dw.assign(s.w_size(), kNaN);
  o.dbias.assign(s.K, kNaN);
  const float* b = bias ? bias->data() : nullptr;
  if (fast) {
    conv_transpose2d_forward_cpu(s, x.data(), w.data(), b, o.y.data());
    conv_transpose2d_backward_data_cpu(s, dy.data(), w.data(), o.dx.data());
    conv_transpose2d_backward_weight_cpu(s, x.data(), dy.data(), o.dw.data(), o.dbias.data());
  } else {
    conv_transpose2d_forward_ref<float>(s, x.data(), w.data(), b, o.y.data());
    conv_transpose2d_backward_data_ref<float>(s, dy.data(), w.data(), o.dx.data());
    conv_transpose2d_backward_weight_ref<float>(s, x.data(), dy.data(), o.dw.data(),
                                                o.dbias.data());
  }
  return o;
}

// ---------------------------------------------------------------- the reference, by hand

TEST(ConvTranspose2dRef, HandComputed2x2Stride2) {
  // x = [1 2; 3 4], w = [1 2; 3 4]: every pixel paints its own 2x2 block x * w.
  const ConvTranspose2dShape s = conv_transpose2d_shape(1, 2, 2, 1, 1, 2, 2, 2, 2);
  const std::vector<float> x = {1, 2, 3, 4}, w = {1, 2, 3, 4}, bias = {0.5f};
  std::vector<float> y(16);
  conv_transpose2d_forward_ref<float>(s, x.data(), w.data(), nullptr, y.data());
  EXPECT_TRUE(bitwise_equal(y, {1, 2, 2, 4, 3, 4, 6, 8, 3, 6, 4, 8, 9, 12, 12, 16}, "y"));
  conv_transpose2d_forward_ref<float>(s, x.data(), w.data(), bias.data(), y.data());
  EXPECT_EQ(y[0], 1.5f);
  EXPECT_EQ(y[15], 16.5f);
  // dy = 1..16: dx[h,w] = sum over its block of dy * w; dw[r,s] = sum_pixels x * dy.
  std::vector<float> dy(16), dx(4), dw(4), db(1);
  for (int i = 0; i < 16; ++i) dy[i] = float(i + 1);
  conv_transpose2d_backward_data_ref<float>(s, dy.data(), w.data(), dx.data());
  // pixel (0,0) block dy = [1 2; 5 6] -> 1+4+15+24 = 44; (0,1) [3 4; 7 8] -> 3+8+21+32 = 64;
  // (1,0) [9 10; 13 14] -> 9+20+39+56 = 124; (1,1) [11 12; 15 16] -> 11+24+45+64 = 144.
  EXPECT_TRUE(bitwise_equal(dx, {44, 64, 124, 144}, "dx"));
  conv_transpose2d_backward_weight_ref<float>(s, x.data(), dy.data(), dw.data(), db.data());
  // dw[0,0] = 1*1 + 2*3 + 3*9 + 4*11 = 78, dw[0,1] = 2+8+30+48 = 88, dw[1,0] = 5+14+39+60 = 118,
  // dw[1,1] = 6+16+42+64 = 128; dbias = 1+...+16 = 136.
  EXPECT_TRUE(bitwise_equal(dw, {78, 88, 118, 128}, "dw"));
  EXPECT_TRUE(bitwise_equal(db, {136}, "dbias"));
}

TEST(ConvTranspose2dRef, HandComputedOverlappingStride1) {
  // Stride 1: blocks overlap and add, y = full correlation of x with w.
  const ConvTranspose2dShape s = conv_transpose2d_shape(1, 2, 2, 1, 1, 2, 2, 1, 1);
  const std::vector<float> x = {1, 2, 3, 4}, w = {1, 2, 3, 4};
  std::vector<float> y(9);
  conv_transpose2d_forward_ref<float>(s, x.data(), w.data(), nullptr, y.data());
  EXPECT_TRUE(bitwise_equal(y, {1, 4, 4, 6, 20, 16, 9, 24, 16}, "y"));
}

TEST(ConvTranspose2dRef, HandComputedChannelOrderCRSK) {
  // One pixel, C=2, K=2, 1x1 kernel: w[c][k] = {{1, 10}, {100, 1000}}, y[k] = sum_c x[c] w[c][k].
  const ConvTranspose2dShape s = conv_transpose2d_shape(1, 1, 1, 2, 2, 1, 1, 1, 1);
  const std::vector<float> x = {1, 2}, w = {1, 10, 100, 1000};
  std::vector<float> y(2), dx(2);
  conv_transpose2d_forward_ref<float>(s, x.data(), w.data(), nullptr, y.data());
  EXPECT_TRUE(bitwise_equal(y, {201, 2010}, "y"));
  const std::vector<float> dy = {1, 2};
  conv_transpose2d_backward_data_ref<float>(s, dy.data(), w.data(), dx.data());
  EXPECT_TRUE(bitwise_equal(dx, {21, 2100}, "dx"));
}

TEST(ConvTranspose2dRef, MirrorsConv2d) {
  // With the same weights read as KRSC, a transposed conv is the conv's backward-data, its
  // backward-data is the conv's forward and its backward-weight the conv's backward-weight with
  // the roles of x and dy swapped. Checks the reference against an independent implementation.
  uint64_t seed = 40;
  for (const ConvTranspose2dShape& t : awkward_shapes()) {
    SCOPED_TRACE(describe(t));
    Conv2dShape c;
    c.N = t.N, c.H = t.P(), c.W = t.Q(), c.C = t.K, c.K = t.C, c.R = t.R, c.S = t.S;
    c.stride_h = t.stride_h, c.stride_w = t.stride_w;
    ASSERT_EQ(c.P(), t.H);
    ASSERT_EQ(c.Q(), t.W);
    const auto x = random_small_ints(t.x_size(), ++seed), w = random_small_ints(t.w_size(), ++seed),
               dy = random_small_ints(t.y_size(), ++seed);
    std::vector<float> got(t.y_size()), want(t.y_size());
    conv_transpose2d_forward_ref<float>(t, x.data(), w.data(), nullptr, got.data());
    conv2d_backward_data_ref<float>(c, x.data(), w.data(), nullptr, want.data());
    EXPECT_TRUE(bitwise_equal(got, want, "forward vs conv2d backward-data"));
    got.assign(t.x_size(), 0), want.assign(t.x_size(), 0);
    conv_transpose2d_backward_data_ref<float>(t, dy.data(), w.data(), got.data());
    conv2d_forward_ref<float>(c, dy.data(), w.data(), nullptr, want.data(), false);
    EXPECT_TRUE(bitwise_equal(got, want, "backward-data vs conv2d forward"));
    got.assign(t.w_size(), 0), want.assign(t.w_size(), 0);
    conv_transpose2d_backward_weight_ref<float>(t, x.data(), dy.data(), got.data(), nullptr);
    conv2d_backward_weight_ref<float>(c, dy.data(), x.data(), nullptr, want.data(), nullptr);
    EXPECT_TRUE(bitwise_equal(got, want, "backward-weight vs conv2d backward-weight"));
  }
}

// ---------------------------------------------------------------- the reference, by calculus

void check_gradients(const ConvTranspose2dShape& s, uint64_t seed) {
  SCOPED_TRACE(describe(s));
  std::vector<double> x = random_doubles(s.x_size(), seed),
                      w = random_doubles(s.w_size(), seed + 1), b = random_doubles(s.K, seed + 2),
                      coef = random_doubles(s.y_size(), seed + 3);
  std::vector<double> y(s.y_size());
  auto loss = [&] {  // sum(coef * y): its gradients are the backward passes with dy = coef
    conv_transpose2d_forward_ref<double>(s, x.data(), w.data(), b.data(), y.data());
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += coef[i] * y[i];
    return l;
  };
  std::vector<double> dx(s.x_size()), dw(s.w_size()), db(s.K);
  conv_transpose2d_backward_data_ref<double>(s, coef.data(), w.data(), dx.data());
  conv_transpose2d_backward_weight_ref<double>(s, x.data(), coef.data(), dw.data(), db.data());
  // The loss is linear in each parameter, so central differences are exact up to rounding
  // (~1e-16 * |loss| / eps ~ 1e-9); 1e-6 is loose but any real error is O(1).
  const double tol = 1e-6;
  EXPECT_TRUE(gradients_match(dx, numeric_gradient(loss, x), tol, "dx"));
  EXPECT_TRUE(gradients_match(dw, numeric_gradient(loss, w), tol, "dw"));
  EXPECT_TRUE(gradients_match(db, numeric_gradient(loss, b), tol, "dbias"));
}

TEST(ConvTranspose2dRef, FiniteDifferences) {
  check_gradients(conv_transpose2d_shape(2, 3, 4, 3, 2, 2, 2, 2, 2), 21);  // the U-Net case
  check_gradients(conv_transpose2d_shape(1, 3, 3, 2, 3, 3, 3, 2, 2), 22);  // overlapping
  check_gradients(conv_transpose2d_shape(2, 3, 2, 2, 2, 1, 2, 2, 3), 23);  // gaps (dbias sees them)
}

// ---------------------------------------------------------------- the fast path vs the reference

TEST(ConvTranspose2dCpu, MatchesReferenceOnRandomData) {
  uint64_t seed = 300;
  for (const ConvTranspose2dShape& s : awkward_shapes()) {
    for (int with_bias = 0; with_bias < 2; ++with_bias) {
      SCOPED_TRACE(describe(s) + (with_bias ? " bias" : ""));
      const auto x = random_floats(s.x_size(), ++seed), w = random_floats(s.w_size(), ++seed),
                 bias = random_floats(s.K, ++seed), dy = random_floats(s.y_size(), ++seed);
      const Outputs want = run(false, s, x, w, with_bias ? &bias : nullptr, dy);
      const Outputs got = run(true, s, x, w, with_bias ? &bias : nullptr, dy);
      // fp32 in a different summation order: rounding error of a sum of n products of values in
      // [-1, 1] stays below ~n * 6e-8; atol 1e-6 * n with n the longest sum of each pass.
      const int overlap =
          ((s.R + s.stride_h - 1) / s.stride_h) * ((s.S + s.stride_w - 1) / s.stride_w);
      const float n_fwd = float(s.C * overlap), n_bd = float(s.R * s.S * s.K),
                  n_bw = float(s.N) * s.P() * s.Q();
      EXPECT_TRUE(all_close(got.y, want.y, 1e-5f, 1e-6f * n_fwd, "y"));
      EXPECT_TRUE(all_close(got.dx, want.dx, 1e-5f, 1e-6f * n_bd, "dx"));
      EXPECT_TRUE(all_close(got.dw, want.dw, 1e-5f, 1e-6f * n_bw, "dw"));
      EXPECT_TRUE(all_close(got.dbias, want.dbias, 1e-5f, 1e-6f * n_bw, "dbias"));
    }
  }
}

TEST(ConvTranspose2dCpu, BitExactOnSmallIntegers) {
  // Small integers keep every partial sum exact, so summation order cannot matter.
  uint64_t seed = 700;
  for (const ConvTranspose2dShape& s : awkward_shapes()) {
    SCOPED_TRACE(describe(s));
    const auto x = random_small_ints(s.x_size(), ++seed), w = random_small_ints(s.w_size(), ++seed),
               bias = random_small_ints(s.K, ++seed), dy = random_small_ints(s.y_size(), ++seed);
    const Outputs want = run(false, s, x, w, &bias, dy);
    const Outputs got = run(true, s, x, w, &bias, dy);
    EXPECT_TRUE(bitwise_equal(got.y, want.y, "y"));
    EXPECT_TRUE(bitwise_equal(got.dx, want.dx, "dx"));
    EXPECT_TRUE(bitwise_equal(got.dw, want.dw, "dw"));
    EXPECT_TRUE(bitwise_equal(got.dbias, want.dbias, "dbias"));
  }
}

TEST(ConvTranspose2dCpu, ChunkBoundariesCrossImagesAndRows) {
  // col is M x RSK = (3*37*41) x 2304 floats = 40 MiB in both shapes, so the 32 MiB chunking cuts
  // after 88 input rows, inside the third image. Both the overlapping (3x3/2, gather-add) and the
  // exact-tiling (2x2/2, direct write) paths are exercised.
  for (const ConvTranspose2dShape& s : {conv_transpose2d_shape(3, 37, 41, 3, 256, 3, 3, 2, 2),
                                        conv_transpose2d_shape(3, 37, 41, 3, 576, 2, 2, 2, 2)}) {
    SCOPED_TRACE(describe(s));
    const auto x = random_small_ints(s.x_size(), 1), w = random_small_ints(s.w_size(), 2),
               bias = random_small_ints(s.K, 3), dy = random_small_ints(s.y_size(), 4);
    const Outputs want = run(false, s, x, w, &bias, dy);
    const Outputs got = run(true, s, x, w, &bias, dy);
    EXPECT_TRUE(bitwise_equal(got.y, want.y, "y"));
    EXPECT_TRUE(bitwise_equal(got.dx, want.dx, "dx"));
    EXPECT_TRUE(bitwise_equal(got.dw, want.dw, "dw"));
    EXPECT_TRUE(bitwise_equal(got.dbias, want.dbias, "dbias"));
  }
}

TEST(ConvTranspose2dCpu, DbiasIsOptional) {
  const ConvTranspose2dShape s = conv_transpose2d_shape(2, 5, 3, 4, 3, 2, 2, 2, 2);
  const auto x = random_floats(s.x_size(), 1), dy = random_floats(s.y_size(), 2);
  std::vector<float> dw_a(s.w_size()), dw_b(s.w_size()), db(s.K);
  conv_transpose2d_backward_weight_cpu(s, x.data(), dy.data(), dw_a.data(), nullptr);
  conv_transpose2d_backward_weight_cpu(s, x.data(), dy.data(), dw_b.data(), db.data());
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
    EXPECT_NE(msg.find(op + ": "), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_NE(msg.find("shape N="), std::string::npos) << msg;
  }
}

TEST(ConvTranspose2dErrors, EachRejectionNamesOpAndProblem) {
  std::vector<float> buf(4096, 1.0f);
  float* p = buf.data();
  const ConvTranspose2dShape good = conv_transpose2d_shape(1, 3, 3, 2, 2, 2, 2, 2, 2);
  std::vector<std::pair<ConvTranspose2dShape, std::string>> cases;
  ConvTranspose2dShape s = good;
  s.W = 0;
  cases.push_back({s, "input dims N,H,W,C must all be >= 1"});
  s = good, s.C = -2;
  cases.push_back({s, "input dims N,H,W,C must all be >= 1"});
  s = good, s.S = 0;
  cases.push_back({s, "filter dims K,R,S must all be >= 1"});
  s = good, s.stride_h = 0;
  cases.push_back({s, "stride must be >= 1"});
  for (const auto& [cs, what] : cases) {
    expect_message([&] { conv_transpose2d_forward_ref<float>(cs, p, p, p, p); },
                   "conv_transpose2d_forward_ref", what);
    expect_message([&] { conv_transpose2d_forward_cpu(cs, p, p, p, p); },
                   "conv_transpose2d_forward_cpu", what);
  }
  s = good, s.stride_w = -1;
  expect_message([&] { conv_transpose2d_backward_data_ref<float>(s, p, p, p); },
                 "conv_transpose2d_backward_data_ref", "stride must be >= 1");
  expect_message([&] { conv_transpose2d_backward_data_cpu(s, p, p, p); },
                 "conv_transpose2d_backward_data_cpu", "stride must be >= 1");
  expect_message(
      [&] { conv_transpose2d_backward_weight_ref<double>(s, nullptr, nullptr, nullptr, nullptr); },
      "conv_transpose2d_backward_weight_ref", "stride must be >= 1");
  expect_message([&] { conv_transpose2d_backward_weight_cpu(s, p, p, p, p); },
                 "conv_transpose2d_backward_weight_cpu", "stride must be >= 1");
  expect_message([&] { conv_transpose2d_forward_cpu(good, p, nullptr, p, p); },
                 "conv_transpose2d_forward_cpu", "w is null");
  expect_message([&] { conv_transpose2d_forward_ref<float>(good, p, p, p, nullptr); },
                 "conv_transpose2d_forward_ref", "y is null");
  expect_message([&] { conv_transpose2d_backward_data_cpu(good, nullptr, p, p); },
                 "conv_transpose2d_backward_data_cpu", "dy is null");
  expect_message([&] { conv_transpose2d_backward_data_ref<float>(good, p, p, nullptr); },
                 "conv_transpose2d_backward_data_ref", "dx is null");
  expect_message([&] { conv_transpose2d_backward_weight_cpu(good, nullptr, p, p, p); },
                 "conv_transpose2d_backward_weight_cpu", "x is null");
  expect_message([&] { conv_transpose2d_backward_weight_ref<float>(good, p, p, nullptr, p); },
                 "conv_transpose2d_backward_weight_ref", "dw is null");
}

}  // namespace
}  // namespace unet::kernels
