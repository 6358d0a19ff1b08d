// conv_transpose2d CUDA: every variant against the CPU reference (forward, backward-data,
// backward-weight, dbias) on awkward shapes and on the seed U-Net's up-convolutions, bit for bit
// on small integers, determinism (two runs bitwise equal), and the host-side rejections (these
// run without a GPU too).
//
// Tolerance: each output element is a sum of products; with A = that element computed from |x|,
// |w| (the sum of the products' magnitudes), the rounding error is bounded by u * A where
//   fp32 (v1, v2): the two fp32 accumulations (CPU reference, GPU) in different orders; the
//     typical error is ~1e-7 * A, so 1e-5 * A has a wide margin yet an indexing error (O(A)) fails;
//   TF32 (v3): each input rounded to a 10-bit mantissa (relative error <= 2^-11), so each product
//     is off by <= ~2^-10 relative: 3e-3 * A bounds the sum even if every error had the same sign.
// plus atol 1e-6 for outputs whose terms are all ~0.

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/conv_transpose2d/conv_transpose2d.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/kernel_shapes.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using unet::testing::bitwise_equal;
using unet::testing::random_floats;
using unet::testing::random_small_ints;

using unet::testing::conv_transpose2d_shape;
using unet::testing::describe;

std::vector<ConvTranspose2dVariant> all_variants() {
  std::vector<ConvTranspose2dVariant> v;
  for (int i = 1; i <= kConvTranspose2dVariants.size(); ++i)
    v.push_back(static_cast<ConvTranspose2dVariant>(i));
  return v;
}

// Not multiples of any tile (64, 16, 8): batch 1, one channel, odd sizes; the 2x2/2 case the
// GEMM variants support plus overlapping, gapped and 1x1 kernels for v1.
std::vector<ConvTranspose2dShape> awkward_shapes() {
  return {
      conv_transpose2d_shape(1, 1, 1, 1, 1, 2, 2, 2, 2),
      conv_transpose2d_shape(1, 7, 5, 1, 1, 2, 2, 2, 2),
      conv_transpose2d_shape(2, 7, 5, 3, 4, 2, 2, 2, 2),
      conv_transpose2d_shape(3, 9, 11, 17, 9, 2, 2, 2, 2),
      conv_transpose2d_shape(1, 13, 6, 70, 33, 2, 2, 2, 2),
      conv_transpose2d_shape(2, 5, 9, 129, 65, 2, 2, 2, 2),
      conv_transpose2d_shape(1, 4, 4, 8, 8, 3, 3, 1, 1),
      conv_transpose2d_shape(1, 5, 7, 2, 3, 3, 3, 2, 2),
      conv_transpose2d_shape(1, 6, 5, 4, 3, 1, 1, 2, 2),
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

struct Outputs {
  std::vector<float> y, dx, dw, dbias;
};

Outputs run_cpu(bool ref, const ConvTranspose2dShape& s, const std::vector<float>& x,
                const std::vector<float>& w, const std::vector<float>* bias,
                const std::vector<float>& dy) {
  Outputs o{std::vector<float>(s.y_size()), std::vector<float>(s.x_size()),
            std::vector<float>(s.w_size()), std::vector<float>(s.K)};
  const float* b = bias ? bias->data() : nullptr;
  if (ref) {
    conv_transpose2d_forward_ref<float>(s, x.data(), w.data(), b, o.y.data());
    conv_transpose2d_backward_data_ref<float>(s, dy.data(), w.data(), o.dx.data());
    conv_transpose2d_backward_weight_ref<float>(s, x.data(), dy.data(), o.dw.data(),
                                                o.dbias.data());
  } else {
    conv_transpose2d_forward_cpu(s, x.data(), w.data(), b, o.y.data());
    conv_transpose2d_backward_data_cpu(s, dy.data(), w.data(), o.dx.data());
    conv_transpose2d_backward_weight_cpu(s, x.data(), dy.data(), o.dw.data(), o.dbias.data());
  }
  return o;
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

#ifdef UNET_HAS_CUDA
using unet::testing::DeviceBuffer;

// Runs the three passes on the device; outputs are NaN-poisoned first so a skipped element shows.
Outputs run_cuda(ConvTranspose2dVariant v, const ConvTranspose2dShape& s,
                 const std::vector<float>& x, const std::vector<float>& w,
                 const std::vector<float>* bias, const std::vector<float>& dy) {
  DeviceBuffer<float> d_x(x), d_w(w), d_dy(dy), d_y(s.y_size()), d_dx(s.x_size()), d_dw(s.w_size()),
      d_db(s.K);
  DeviceBuffer<float> d_bias(bias ? *bias : std::vector<float>());
  const size_t ws_bytes = conv_transpose2d_backward_weight_workspace_bytes(v, s);
  DeviceBuffer<float> d_ws((ws_bytes + sizeof(float) - 1) / sizeof(float));
  d_y.poison(), d_dx.poison(), d_dw.poison(), d_db.poison(), d_ws.poison();
  conv_transpose2d_forward_cuda(v, s, d_x.get(), d_w.get(), bias ? d_bias.get() : nullptr,
                                d_y.get(), nullptr);
  conv_transpose2d_backward_data_cuda(v, s, d_dy.get(), d_w.get(), d_dx.get(), nullptr);
  conv_transpose2d_backward_weight_cuda(v, s, d_x.get(), d_dy.get(), d_dw.get(), d_db.get(),
                                        d_ws.get(), nullptr);
  return {d_y.to_host(), d_dx.to_host(), d_dw.to_host(), d_db.to_host()};
}

void compare_with_reference(const ConvTranspose2dShape& s, bool with_bias, uint64_t seed) {
  const auto x = random_floats(s.x_size(), seed), w = random_floats(s.w_size(), seed + 1),
             bias = random_floats(s.K, seed + 2), dy = random_floats(s.y_size(), seed + 3);
  const std::vector<float>* b = with_bias ? &bias : nullptr;
  const Outputs want = run_cpu(true, s, x, w, b, dy);
  const auto abs_bias = abs_of(bias);
  const Outputs bound =
      run_cpu(false, s, abs_of(x), abs_of(w), with_bias ? &abs_bias : nullptr, abs_of(dy));
  for (ConvTranspose2dVariant v : all_variants()) {
    if (!conv_transpose2d_variant_supports(v, s)) continue;
    SCOPED_TRACE(std::string(kConvTranspose2dVariants.name(v)) + " " + describe(s) +
                 (with_bias ? " bias" : ""));
    const double u = kConvTranspose2dVariants.is_tf32(v) ? 3e-3 : 1e-5;
    const Outputs got = run_cuda(v, s, x, w, b, dy);
    EXPECT_TRUE(within_bound(got.y, want.y, bound.y, u, "y"));
    EXPECT_TRUE(within_bound(got.dx, want.dx, bound.dx, u, "dx"));
    EXPECT_TRUE(within_bound(got.dw, want.dw, bound.dw, u, "dw"));
    // dbias is an fp32 sum of dy in every variant (no TF32 rounding).
    EXPECT_TRUE(within_bound(got.dbias, want.dbias, bound.dbias, 1e-5, "dbias"));
  }
}
#endif

// ---------------------------------------------------------------- device tests

TEST(ConvTranspose2dCuda, MatchesReferenceOnAwkwardShapes) {
  UNET_REQUIRE_CUDA();
#ifdef UNET_HAS_CUDA
  uint64_t seed = 10;
  for (const auto& s : awkward_shapes()) {
    compare_with_reference(s, true, seed += 4);
    compare_with_reference(s, false, seed += 4);
  }
#endif
}

TEST(ConvTranspose2dCuda, MatchesReferenceOnUNetShapes) {
  UNET_REQUIRE_CUDA();
#ifdef UNET_HAS_CUDA
  uint64_t seed = 1000;
  for (const auto& s : unet_shapes()) compare_with_reference(s, true, seed += 4);
#endif
}

TEST(ConvTranspose2dCuda, BitExactOnSmallIntegers) {
  // Small integers are exact in TF32 too and keep every partial sum exact, so all variants,
  // whatever their order of summation, must equal the reference bit for bit.
  UNET_REQUIRE_CUDA();
#ifdef UNET_HAS_CUDA
  uint64_t seed = 2000;
  std::vector<ConvTranspose2dShape> shapes = awkward_shapes();
  shapes.push_back(conv_transpose2d_shape(2, 32, 32, 256, 128, 2, 2, 2, 2));
  for (const auto& s : shapes) {
    const auto x = random_small_ints(s.x_size(), ++seed), w = random_small_ints(s.w_size(), ++seed),
               bias = random_small_ints(s.K, ++seed), dy = random_small_ints(s.y_size(), ++seed);
    const Outputs want = run_cpu(true, s, x, w, &bias, dy);
    for (ConvTranspose2dVariant v : all_variants()) {
      if (!conv_transpose2d_variant_supports(v, s)) continue;
      SCOPED_TRACE(std::string(kConvTranspose2dVariants.name(v)) + " " + describe(s));
      const Outputs got = run_cuda(v, s, x, w, &bias, dy);
      EXPECT_TRUE(bitwise_equal(got.y, want.y, "y"));
      EXPECT_TRUE(bitwise_equal(got.dx, want.dx, "dx"));
      EXPECT_TRUE(bitwise_equal(got.dw, want.dw, "dw"));
      EXPECT_TRUE(bitwise_equal(got.dbias, want.dbias, "dbias"));
    }
  }
#endif
}

TEST(ConvTranspose2dCuda, DeterministicRunToRun) {
  // 2 x 128 x 128 input pixels: 32 split-K partials in backward-weight, summed in a fixed order.
  UNET_REQUIRE_CUDA();
#ifdef UNET_HAS_CUDA
  const auto s = conv_transpose2d_shape(2, 128, 128, 64, 32, 2, 2, 2, 2);
  const auto x = random_floats(s.x_size(), 1), w = random_floats(s.w_size(), 2),
             bias = random_floats(s.K, 3), dy = random_floats(s.y_size(), 4);
  for (ConvTranspose2dVariant v : all_variants()) {
    SCOPED_TRACE(kConvTranspose2dVariants.name(v));
    const Outputs a = run_cuda(v, s, x, w, &bias, dy), b = run_cuda(v, s, x, w, &bias, dy);
    EXPECT_TRUE(bitwise_equal(a.y, b.y, "y"));
    EXPECT_TRUE(bitwise_equal(a.dx, b.dx, "dx"));
    EXPECT_TRUE(bitwise_equal(a.dw, b.dw, "dw"));
    EXPECT_TRUE(bitwise_equal(a.dbias, b.dbias, "dbias"));
  }
#endif
}

// ---------------------------------------------------------------- host-side contract (no GPU)

TEST(ConvTranspose2dCudaContract, NamesAndCapabilities) {
  EXPECT_STREQ(kConvTranspose2dVariants.name(ConvTranspose2dVariant::kV1Naive), "v1_naive");
  EXPECT_STREQ(kConvTranspose2dVariants.name(ConvTranspose2dVariant::kV2GemmScatter),
               "v2_gemm_scatter");
  EXPECT_STREQ(kConvTranspose2dVariants.name(ConvTranspose2dVariant::kV3GemmTf32), "v3_tf32");
  EXPECT_FALSE(kConvTranspose2dVariants.is_tf32(ConvTranspose2dVariant::kV1Naive));
  EXPECT_FALSE(kConvTranspose2dVariants.is_tf32(ConvTranspose2dVariant::kV2GemmScatter));
  EXPECT_TRUE(kConvTranspose2dVariants.is_tf32(ConvTranspose2dVariant::kV3GemmTf32));
  const auto tiled = conv_transpose2d_shape(1, 4, 4, 2, 2, 2, 2, 2, 2),
             overlap = conv_transpose2d_shape(1, 4, 4, 2, 2, 3, 3, 2, 2);
  for (ConvTranspose2dVariant v : all_variants()) {
    EXPECT_TRUE(conv_transpose2d_variant_supports(v, tiled));
    EXPECT_EQ(conv_transpose2d_variant_supports(v, overlap), v == ConvTranspose2dVariant::kV1Naive);
    // Workspace holds at least one partial dw and the dbias block sums.
    EXPECT_GE(conv_transpose2d_backward_weight_workspace_bytes(v, tiled),
              sizeof(float) * (tiled.w_size() + tiled.K));
  }
}

void expect_message(const std::function<void()>& call, const std::string& op,
                    const std::string& what) {
  try {
    call();
    ADD_FAILURE() << op << ": expected std::invalid_argument containing '" << what << "'";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(op + ": "), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(ConvTranspose2dCudaContract, RejectionsNameOpAndProblem) {
  // All checked on the host before any CUDA call, so no device (and no valid pointer) is needed.
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

}  // namespace
}  // namespace unet::kernels
