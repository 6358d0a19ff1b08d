// conv_transpose2d: one suite run on every backend (the CPU fast path and each CUDA variant), each
// compared with the naive CPU reference (forward, backward-data, backward-weight, dbias) on one
// table of awkward shapes and on the seed U-Net's up-convolutions, bit for bit on small integers,
// run-to-run determinism and the optional dbias. Outputs are poisoned (NaN) first so an element a
// path forgets to write fails. A CUDA variant skips the shapes it does not support (v2/v3 need
// R == stride_h and S == stride_w; the contract tests check that they reject the others).
// Plain tests: the reference pinned by hand-computed cases, by its mirror identity with conv2d and
// by central finite differences in double; every rejection path by its message; the host-side
// checks of the CUDA entry points.
//
// Tolerance (random data): each output element is a sum of products; with A = that element
// computed from |x|, |w|, |bias|, |dy| (the sum of the products' magnitudes), the rounding error is
// bounded by u * A where
//   fp32 (CPU fast path, v1, v2): two fp32 accumulations (reference, backend) in different orders;
//     the typical error is ~1e-7 * A, so u = 1e-5 has a wide margin yet an indexing error (O(A))
//     fails;
//   TF32 (v3): each input rounded to a 10-bit mantissa (relative error <= 2^-11), so each product
//     is off by <= ~2^-10 relative: u = 3e-3 bounds the sum even if every error had the same sign;
// plus atol 1e-6 for outputs whose terms are all ~0. dbias is an fp32 sum of dy in every backend
// (no TF32 rounding): u = 1e-5 there. Small integers keep every partial sum exact (in TF32 too),
// so there every backend must equal the reference bit for bit.

#include "kernels/conv_transpose2d/conv_transpose2d.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/conv2d/conv2d.h"
#include "tests/testing/backend.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using namespace ::unet::testing;  // helpers: tests/testing/*.h

ConvTranspose2dShape conv_transpose2d_shape(int N, int H, int W, int C, int K, int R, int S,
                                            int stride_h, int stride_w) {
  ConvTranspose2dShape s;
  s.N = N, s.H = H, s.W = W, s.C = C, s.K = K, s.R = R, s.S = S;
  s.stride_h = stride_h, s.stride_w = stride_w;
  return s;
}

std::string describe(const ConvTranspose2dShape& s) {
  return "N" + std::to_string(s.N) + " H" + std::to_string(s.H) + " W" + std::to_string(s.W) +
         " C" + std::to_string(s.C) + " K" + std::to_string(s.K) + " R" + std::to_string(s.R) +
         " S" + std::to_string(s.S) + " stride" + std::to_string(s.stride_h) + "," +
         std::to_string(s.stride_w);
}

// ---------------------------------------------------------------- the case tables

// Batch 1, one channel, odd sizes, channel counts that are no multiple of any tile (64, 16, 8);
// the U-Net's 2x2/2 case (every variant) plus overlapping (R > stride), gapped (R < stride), 1x1,
// stride-1, non-square kernels and strides (CPU and v1 only).
std::vector<ConvTranspose2dShape> awkward_shapes() {
  return {
      conv_transpose2d_shape(1, 1, 1, 1, 1, 2, 2, 2, 2),
      conv_transpose2d_shape(1, 7, 5, 1, 1, 2, 2, 2, 2),
      conv_transpose2d_shape(2, 7, 5, 3, 4, 2, 2, 2, 2),
      conv_transpose2d_shape(3, 4, 6, 17, 9, 2, 2, 2, 2),
      conv_transpose2d_shape(3, 9, 11, 17, 9, 2, 2, 2, 2),
      conv_transpose2d_shape(1, 13, 6, 70, 33, 2, 2, 2, 2),
      conv_transpose2d_shape(2, 5, 9, 129, 65, 2, 2, 2, 2),
      conv_transpose2d_shape(2, 8, 8, 32, 16, 2, 2, 2, 2),
      conv_transpose2d_shape(1, 5, 7, 2, 3, 3, 3, 2, 2),
      conv_transpose2d_shape(1, 9, 11, 16, 8, 4, 4, 2, 2),
      conv_transpose2d_shape(2, 5, 4, 3, 2, 3, 3, 1, 1),
      conv_transpose2d_shape(1, 4, 4, 8, 8, 3, 3, 1, 1),
      conv_transpose2d_shape(1, 6, 5, 4, 3, 1, 1, 2, 2),
      conv_transpose2d_shape(2, 3, 5, 2, 5, 1, 1, 1, 1),
      conv_transpose2d_shape(1, 4, 6, 3, 2, 3, 2, 2, 1),
      conv_transpose2d_shape(2, 5, 3, 4, 3, 2, 3, 3, 2),
      conv_transpose2d_shape(1, 3, 4, 5, 6, 3, 2, 1, 2),
  };
}

// The seed U-Net's up-convolutions (2x2 stride 2): input size, C -> K.
std::vector<ConvTranspose2dShape> unet_shapes() {
  return {conv_transpose2d_shape(1, 16, 16, 512, 256, 2, 2, 2, 2),
          conv_transpose2d_shape(1, 32, 32, 256, 128, 2, 2, 2, 2),
          conv_transpose2d_shape(1, 64, 64, 128, 64, 2, 2, 2, 2),
          conv_transpose2d_shape(2, 128, 128, 64, 32, 2, 2, 2, 2)};
}

// Small-integer cases: the awkward shapes, a large U-Net-like one, and two shapes whose CPU col
// buffer is M x RSK = (3*37*41) x 2304 floats = 40 MiB, so the CPU path's 32 MiB chunking cuts
// after 88 input rows, inside the third image; both its overlapping (3x3/2, gather-add) and its
// exact-tiling (2x2/2, direct write) paths cross a chunk boundary.
std::vector<ConvTranspose2dShape> exact_shapes() {
  std::vector<ConvTranspose2dShape> shapes = awkward_shapes();
  shapes.push_back(conv_transpose2d_shape(2, 32, 32, 256, 128, 2, 2, 2, 2));
  shapes.push_back(conv_transpose2d_shape(3, 37, 41, 3, 256, 3, 3, 2, 2));
  shapes.push_back(conv_transpose2d_shape(3, 37, 41, 3, 576, 2, 2, 2, 2));
  return shapes;
}

// ---------------------------------------------------------------- running the passes

struct Outputs {
  std::vector<float> y, dx, dw, dbias;
};

Outputs run_reference(const ConvTranspose2dShape& s, const std::vector<float>& x,
                      const std::vector<float>& w, const std::vector<float>* bias,
                      const std::vector<float>& dy) {
  Outputs o{std::vector<float>(s.y_size()), std::vector<float>(s.x_size()),
            std::vector<float>(s.w_size()), std::vector<float>(s.K)};
  conv_transpose2d_forward_ref<float>(s, x.data(), w.data(), bias ? bias->data() : nullptr,
                                      o.y.data());
  conv_transpose2d_backward_data_ref<float>(s, dy.data(), w.data(), o.dx.data());
  conv_transpose2d_backward_weight_ref<float>(s, x.data(), dy.data(), o.dw.data(), o.dbias.data());
  return o;
}

// Whether backend b runs shape s (v2/v3 need R == stride_h and S == stride_w).
bool runs(const KernelBackend& b, const ConvTranspose2dShape& s) {
  return !b.cuda || conv_transpose2d_variant_supports(b.variant_as<ConvTranspose2dVariant>(), s);
}

// The three passes on backend b; outputs (and the CUDA workspace) are NaN-poisoned first so a
// skipped element shows. `with_dbias` false passes a null dbias (then `dbias` is not written).
Outputs run_backend(const KernelBackend& b, const ConvTranspose2dShape& s,
                    const std::vector<float>& x, const std::vector<float>& w,
                    const std::vector<float>* bias, const std::vector<float>& dy,
                    bool with_dbias = true) {
  BackendBuffer<float> d_x(b, x), d_w(b, w), d_dy(b, dy);
  BackendBuffer<float> d_bias(b, bias ? *bias : std::vector<float>());
  BackendBuffer<float> d_y(b, size_t(s.y_size())), d_dx(b, size_t(s.x_size())),
      d_dw(b, size_t(s.w_size())), d_db(b, size_t(s.K));
  d_y.poison(), d_dx.poison(), d_dw.poison(), d_db.poison();
  const float* bp = bias ? d_bias.get() : nullptr;
  float* dbp = with_dbias ? d_db.get() : nullptr;
  if (b.cuda) {
    const auto v = b.variant_as<ConvTranspose2dVariant>();
    const size_t ws_bytes = conv_transpose2d_backward_weight_workspace_bytes(v, s);
    BackendBuffer<float> d_ws(b, (ws_bytes + sizeof(float) - 1) / sizeof(float));
    d_ws.poison();
    conv_transpose2d_forward_cuda(v, s, d_x.get(), d_w.get(), bp, d_y.get(), nullptr);
    conv_transpose2d_backward_data_cuda(v, s, d_dy.get(), d_w.get(), d_dx.get(), nullptr);
    conv_transpose2d_backward_weight_cuda(v, s, d_x.get(), d_dy.get(), d_dw.get(), dbp, d_ws.get(),
                                          nullptr);
  } else if (b.variant == static_cast<int>(ConvTranspose2dCpuVariant::kDirect)) {
    // As the engine runs it when forced: the GEMM path for a forward the direct one cannot do.
    if (conv_transpose2d_direct_applies(s, true)) {
      conv_transpose2d_forward_cpu_direct(s, d_x.get(), d_w.get(), bp, d_y.get());
    } else {
      conv_transpose2d_forward_cpu(s, d_x.get(), d_w.get(), bp, d_y.get());
    }
    conv_transpose2d_backward_data_cpu_direct(s, d_dy.get(), d_w.get(), d_dx.get());
    conv_transpose2d_backward_weight_cpu_direct(s, d_x.get(), d_dy.get(), d_dw.get(), dbp);
  } else {
    conv_transpose2d_forward_cpu(s, d_x.get(), d_w.get(), bp, d_y.get());
    conv_transpose2d_backward_data_cpu(s, d_dy.get(), d_w.get(), d_dx.get());
    conv_transpose2d_backward_weight_cpu(s, d_x.get(), d_dy.get(), d_dw.get(), dbp);
  }
  return {d_y.to_host(), d_dx.to_host(), d_dw.to_host(), d_db.to_host()};
}

std::vector<float> abs_of(const std::vector<float>& v) {
  std::vector<float> a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(v[i]);
  return a;
}

// |got - want| <= u * bound + 1e-6 element-wise (see the tolerance note at the top).
::testing::AssertionResult within_bound(const std::vector<float>& got,
                                        const std::vector<float>& want,
                                        const std::vector<float>& bound, double u,
                                        const std::string& what) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure()
           << what << ": size " << got.size() << " vs " << want.size();
  size_t bad = 0, worst = 0;
  double worst_ratio = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(double(got[i]) - double(want[i]));
    const double allowed = u * bound[i] + 1e-6;
    if (!(diff <= allowed)) {  // NaN counts as bad
      ++bad;
      const double ratio = std::isnan(diff) ? 1e300 : diff / allowed;
      if (ratio >= worst_ratio) worst_ratio = ratio, worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": " << bad << " of " << got.size() << " elements off; worst at " << worst
         << ": got " << got[worst] << ", want " << want[worst] << ", allowed " << u << " * "
         << bound[worst] << " + 1e-6";
}

// Backend b against the reference on random data in [-1, 1), with the tolerance stated at the top.
void compare_with_reference(const KernelBackend& b, const ConvTranspose2dShape& s, bool with_bias,
                            uint64_t seed) {
  SCOPED_TRACE(b.name + " " + describe(s) + (with_bias ? " bias" : ""));
  const auto x = random_floats(s.x_size(), seed), w = random_floats(s.w_size(), seed + 1),
             bias = random_floats(s.K, seed + 2), dy = random_floats(s.y_size(), seed + 3);
  const std::vector<float>* bp = with_bias ? &bias : nullptr;
  const auto abs_bias = abs_of(bias);
  const Outputs want = run_reference(s, x, w, bp, dy);
  const Outputs bound =
      run_reference(s, abs_of(x), abs_of(w), with_bias ? &abs_bias : nullptr, abs_of(dy));
  const Outputs got = run_backend(b, s, x, w, bp, dy);
  const double u = b.tolerance(1e-5f, 3e-3f);
  EXPECT_TRUE(within_bound(got.y, want.y, bound.y, u, "y"));
  EXPECT_TRUE(within_bound(got.dx, want.dx, bound.dx, u, "dx"));
  EXPECT_TRUE(within_bound(got.dw, want.dw, bound.dw, u, "dw"));
  EXPECT_TRUE(within_bound(got.dbias, want.dbias, bound.dbias, 1e-5, "dbias"));
}

// ---------------------------------------------------------------- every backend vs the reference

class ConvTranspose2dTest : public ::testing::TestWithParam<KernelBackend> {};

TEST_P(ConvTranspose2dTest, MatchesReferenceOnAwkwardShapes) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 10;
  for (const ConvTranspose2dShape& s : awkward_shapes()) {
    if (!runs(b, s)) continue;
    compare_with_reference(b, s, true, seed += 4);
    compare_with_reference(b, s, false, seed += 4);
  }
}

TEST_P(ConvTranspose2dTest, MatchesReferenceOnUNetShapes) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 1000;
  for (const ConvTranspose2dShape& s : unet_shapes()) {
    if (!runs(b, s)) continue;
    compare_with_reference(b, s, true, seed += 4);
  }
}

TEST_P(ConvTranspose2dTest, BitExactOnSmallIntegers) {
  // Small integers are exact in TF32 too and keep every partial sum exact, so every backend,
  // whatever its order of summation, must equal the reference bit for bit.
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 2000;
  for (const ConvTranspose2dShape& s : exact_shapes()) {
    if (!runs(b, s)) continue;
    SCOPED_TRACE(b.name + " " + describe(s));
    const auto x = random_small_ints(s.x_size(), ++seed), w = random_small_ints(s.w_size(), ++seed),
               bias = random_small_ints(s.K, ++seed), dy = random_small_ints(s.y_size(), ++seed);
    const Outputs want = run_reference(s, x, w, &bias, dy);
    const Outputs got = run_backend(b, s, x, w, &bias, dy);
    EXPECT_TRUE(bitwise_equal(got.y, want.y, "y"));
    EXPECT_TRUE(bitwise_equal(got.dx, want.dx, "dx"));
    EXPECT_TRUE(bitwise_equal(got.dw, want.dw, "dw"));
    EXPECT_TRUE(bitwise_equal(got.dbias, want.dbias, "dbias"));
  }
}

TEST_P(ConvTranspose2dTest, DeterministicRunToRun) {
  // 2 x 128 x 128 input pixels: 32 split-K partials in CUDA backward-weight, summed in a fixed
  // order; the CPU path sums dw chunk by chunk and dbias in fixed 256-row blocks.
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const auto s = conv_transpose2d_shape(2, 128, 128, 64, 32, 2, 2, 2, 2);
  const auto x = random_floats(s.x_size(), 1), w = random_floats(s.w_size(), 2),
             bias = random_floats(s.K, 3), dy = random_floats(s.y_size(), 4);
  const Outputs first = run_backend(b, s, x, w, &bias, dy);
  const Outputs second = run_backend(b, s, x, w, &bias, dy);
  EXPECT_TRUE(bitwise_equal(first.y, second.y, "y"));
  EXPECT_TRUE(bitwise_equal(first.dx, second.dx, "dx"));
  EXPECT_TRUE(bitwise_equal(first.dw, second.dw, "dw"));
  EXPECT_TRUE(bitwise_equal(first.dbias, second.dbias, "dbias"));
}

TEST_P(ConvTranspose2dTest, DbiasIsOptional) {
  // A null dbias skips the bias gradient and leaves dw unchanged.
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const ConvTranspose2dShape s = conv_transpose2d_shape(2, 5, 3, 4, 3, 2, 2, 2, 2);
  const auto x = random_floats(s.x_size(), 1), w = random_floats(s.w_size(), 5),
             dy = random_floats(s.y_size(), 2);
  const Outputs without = run_backend(b, s, x, w, nullptr, dy, false);
  const Outputs with = run_backend(b, s, x, w, nullptr, dy, true);
  EXPECT_TRUE(bitwise_equal(without.dw, with.dw, "dw with and without dbias"));
}

// The CPU backends: the GEMM path ("cpu") and, where it was built, CPU variant 2 (the direct conv's
// register tiles); then each CUDA variant.
std::vector<KernelBackend> conv_transpose2d_backends() {
  std::vector<KernelBackend> all = backends_with_variants(kConvTranspose2dVariants);
  if (conv2d_direct_available()) {
    KernelBackend d;
    d.variant = static_cast<int>(ConvTranspose2dCpuVariant::kDirect);
    d.name = "cpu_direct";
    all.insert(all.begin() + 1, d);
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(Backends, ConvTranspose2dTest,
                         ::testing::ValuesIn(conv_transpose2d_backends()), backend_test_name);

// The default CPU variant per pass: the measured table (conv_transpose2d_cpu_direct.cpp), the GEMM
// path for shapes it does not list.
TEST(ConvTranspose2dCpuChoice, MeasuredTableDecidesPerShapePassAndBatch) {
  auto at = [](int n, int hw, int c, int k) {
    ConvTranspose2dShape s;
    s.N = n, s.H = s.W = hw, s.C = c, s.K = k;
    return s;
  };
  const auto fwd = ConvTranspose2dCpuPass::kForward, bwd = ConvTranspose2dCpuPass::kBackwardData,
             wgt = ConvTranspose2dCpuPass::kBackwardWeight;
  const auto gemm = ConvTranspose2dCpuVariant::kGemm;
  const auto direct = conv2d_direct_available() ? ConvTranspose2dCpuVariant::kDirect : gemm;
  // The seed net's top up-convolution (128x128, 64 -> 32): direct forward at batch 1 only.
  EXPECT_EQ(conv_transpose2d_cpu_default_variant(at(1, 128, 64, 32), fwd), direct);
  EXPECT_EQ(conv_transpose2d_cpu_default_variant(at(10, 128, 64, 32), fwd), gemm);
  EXPECT_EQ(conv_transpose2d_cpu_default_variant(at(10, 128, 64, 32), wgt), direct);
  EXPECT_EQ(conv_transpose2d_cpu_default_variant(at(10, 128, 64, 32), bwd), gemm);
  // The deep ones stay on the GEMM; unlisted shapes too.
  EXPECT_EQ(conv_transpose2d_cpu_default_variant(at(10, 16, 512, 256), fwd), gemm);
  EXPECT_EQ(conv_transpose2d_cpu_default_variant(at(10, 48, 64, 32), fwd), gemm);
}

// The direct forward needs non-overlapping taps; its entry point refuses others with a message.
TEST(ConvTranspose2dCpuDirect, ForwardRejectsOverlappingTaps) {
  if (!conv2d_direct_available()) GTEST_SKIP() << "the direct conv was not built (no AVX2/FMA)";
  ConvTranspose2dShape s;
  s.N = 1, s.H = 4, s.W = 4, s.C = 2, s.K = 2, s.R = 3, s.S = 3, s.stride_h = 2, s.stride_w = 2;
  EXPECT_FALSE(conv_transpose2d_direct_applies(s, true));
  EXPECT_TRUE(conv_transpose2d_direct_applies(s, false));
  std::vector<float> buf(4096, 0.0f);
  expect_invalid(
      [&] { conv_transpose2d_forward_cpu_direct(s, buf.data(), buf.data(), nullptr, buf.data()); },
      {"conv_transpose2d_forward_cpu_direct", "R == stride_h", "conv_transpose2d_forward_cpu"});
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

// ---------------------------------------------------------------- rejections

TEST(ConvTranspose2dErrors, EachRejectionNamesOpAndProblem) {
  // Every message names the op, the problem and the shape ("shape N=...").
  const auto expect_message = [](const std::function<void()>& call, const std::string& op,
                                 const std::string& what) {
    expect_invalid(call, {op + ": ", what, "shape N="});
  };
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

// ---------------------------------------------------------------- CUDA entry points, host side

TEST(ConvTranspose2dCudaContract, VariantNamesAndPrecision) {
  EXPECT_STREQ(kConvTranspose2dVariants.name(ConvTranspose2dVariant::kV1Naive), "v1_naive");
  EXPECT_STREQ(kConvTranspose2dVariants.name(ConvTranspose2dVariant::kV2GemmScatter),
               "v2_gemm_scatter");
  EXPECT_STREQ(kConvTranspose2dVariants.name(ConvTranspose2dVariant::kV3GemmTf32), "v3_tf32");
  EXPECT_FALSE(kConvTranspose2dVariants.is_tf32(ConvTranspose2dVariant::kV1Naive));
  EXPECT_FALSE(kConvTranspose2dVariants.is_tf32(ConvTranspose2dVariant::kV2GemmScatter));
  EXPECT_TRUE(kConvTranspose2dVariants.is_tf32(ConvTranspose2dVariant::kV3GemmTf32));
}

TEST(ConvTranspose2dCudaContract, CapabilitiesAndWorkspace) {
  UNET_REQUIRE_CUDA_BUILD();
  const auto tiled = conv_transpose2d_shape(1, 4, 4, 2, 2, 2, 2, 2, 2),
             overlap = conv_transpose2d_shape(1, 4, 4, 2, 2, 3, 3, 2, 2);
  for (int id : kConvTranspose2dVariants.ids()) {
    const auto v = static_cast<ConvTranspose2dVariant>(id);
    SCOPED_TRACE(kConvTranspose2dVariants.name(v));
    EXPECT_TRUE(conv_transpose2d_variant_supports(v, tiled));
    EXPECT_EQ(conv_transpose2d_variant_supports(v, overlap), v == ConvTranspose2dVariant::kV1Naive);
    // Workspace holds at least one partial dw and the dbias block sums.
    EXPECT_GE(conv_transpose2d_backward_weight_workspace_bytes(v, tiled),
              sizeof(float) * (tiled.w_size() + tiled.K));
  }
}

TEST(ConvTranspose2dCudaContract, RejectionsNameOpAndProblem) {
  // All checked on the host before any CUDA call, so no device (and no valid pointer) is needed.
  UNET_REQUIRE_CUDA_BUILD();
  const auto expect_message = [](const std::function<void()>& call, const std::string& op,
                                 const std::string& what) {
    expect_invalid(call, {op + ": ", what});
  };
  float dummy[4] = {};
  float* p = dummy;
  const auto good = conv_transpose2d_shape(1, 4, 4, 2, 2, 2, 2, 2, 2);
  const auto overlap = conv_transpose2d_shape(1, 4, 4, 2, 2, 3, 3, 2, 2);
  const auto v1 = ConvTranspose2dVariant::kV1Naive, v2 = ConvTranspose2dVariant::kV2GemmScatter,
             v3 = ConvTranspose2dVariant::kV3GemmTf32, bad = static_cast<ConvTranspose2dVariant>(9);
  expect_message([&] { conv_transpose2d_forward_cuda(bad, good, p, p, p, p, nullptr); },
                 "conv_transpose2d_forward_cuda", "unknown variant 9");
  expect_message([&] { conv_transpose2d_forward_cuda(v2, overlap, p, p, p, p, nullptr); },
                 "conv_transpose2d_forward_cuda",
                 "variant v2_gemm_scatter needs R == stride_h and S == stride_w");
  expect_message([&] { conv_transpose2d_backward_data_cuda(v3, overlap, p, p, p, nullptr); },
                 "conv_transpose2d_backward_data_cuda", "variant v3_tf32 needs R == stride_h");
  expect_message(
      [&] { conv_transpose2d_backward_weight_cuda(v2, overlap, p, p, p, p, p, nullptr); },
      "conv_transpose2d_backward_weight_cuda", "use v1_naive");
  expect_message(
      [&] { conv_transpose2d_backward_weight_cuda(v1, good, p, p, p, p, nullptr, nullptr); },
      "conv_transpose2d_backward_weight_cuda", "workspace (see *_workspace_bytes) is null");
  expect_message([&] { conv_transpose2d_forward_cuda(v1, good, nullptr, p, p, p, nullptr); },
                 "conv_transpose2d_forward_cuda", "x is null");
  expect_message([&] { conv_transpose2d_backward_data_cuda(v1, good, p, p, nullptr, nullptr); },
                 "conv_transpose2d_backward_data_cuda", "dx is null");
  auto zero_c = good;
  zero_c.C = 0;
  expect_message([&] { conv_transpose2d_backward_weight_workspace_bytes(v1, zero_c); },
                 "conv_transpose2d_backward_weight_workspace_bytes",
                 "input dims N,H,W,C must all be >= 1");
  auto huge = good;
  huge.N = 1 << 16, huge.H = 1 << 8, huge.W = 1 << 8;  // 2^32 input pixels: 32-bit indexing limit
  expect_message([&] { conv_transpose2d_backward_data_cuda(v1, huge, p, p, p, nullptr); },
                 "conv_transpose2d_backward_data_cuda", "N*H*W must be < 2^31");
  auto zero_stride = good;
  zero_stride.stride_w = 0;
  expect_message([&] { conv_transpose2d_forward_cuda(v1, zero_stride, p, p, p, p, nullptr); },
                 "conv_transpose2d_forward_cuda", "stride must be >= 1");
}

TEST(ConvTranspose2dCudaContract, StubsReportNoCudaBackend) {
  // conv_transpose2d_cuda_stub.cpp stands in for the .cu files in a build without CUDA.
  if (unet::testing::cuda_backend_built()) GTEST_SKIP() << "the CUDA backend is built";
  const auto s = conv_transpose2d_shape(1, 2, 2, 1, 1, 2, 2, 2, 2);
  const auto v = ConvTranspose2dVariant::kV1Naive;
  const std::string no_cuda = ": this build has no CUDA backend";
  expect_runtime_error([&] { conv_transpose2d_variant_supports(v, s); },
                       "conv_transpose2d_variant_supports" + no_cuda);
  expect_runtime_error([&] { conv_transpose2d_backward_weight_workspace_bytes(v, s); },
                       "conv_transpose2d_backward_weight_workspace_bytes" + no_cuda);
  expect_runtime_error(
      [&] { conv_transpose2d_forward_cuda(v, s, nullptr, nullptr, nullptr, nullptr, nullptr); },
      "conv_transpose2d_forward_cuda" + no_cuda);
  expect_runtime_error(
      [&] { conv_transpose2d_backward_data_cuda(v, s, nullptr, nullptr, nullptr, nullptr); },
      "conv_transpose2d_backward_data_cuda" + no_cuda);
  expect_runtime_error(
      [&] {
        conv_transpose2d_backward_weight_cuda(v, s, nullptr, nullptr, nullptr, nullptr, nullptr,
                                              nullptr);
      },
      "conv_transpose2d_backward_weight_cuda" + no_cuda);
}

}  // namespace
}  // namespace unet::kernels
