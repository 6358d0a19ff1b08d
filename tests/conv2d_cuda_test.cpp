// conv2d CUDA variants (v1 naive, v2 tiled fp32, v3 TF32 tensor cores) against the CPU naive
// reference conv2d_*_ref<float>, all three passes, on awkward shapes and on the seed U-Net's real
// layer shapes at batch 1; an exact small-integer case (bitwise equal); backward-weight
// determinism; argument rejection (those run without a GPU: the checks come before any CUDA call).
//
// Tolerances, |got - want| <= atol + rtol*|want| with ma, mb the largest |operand| and kg the
// length of the reduction (R*S*C forward, R*S*K backward-data, N*P*Q backward-weight):
//  - fp32 (v1, v2): only the summation order differs from the reference (which itself sums
//    sequentially in fp32), so rtol 1e-4 and atol = ma*mb*(1e-5*sqrt(kg) + 3e-8*kg): the first term
//    a random walk of roundings, the second the reference's own drift on long reductions.
//  - TF32 (v3): each input is rounded to 10 mantissa bits (relative error <= 2^-11), so a product
//    is off by <= ~2^-10*|a*b| and the k-sum of those random-sign errors by ~2^-10*sqrt(kg)*ma*mb
//    at about 7 standard deviations (uniform [-1,1] data); rtol 1e-3 on top. A wrong index or a
//    missing tap is off by O(ma*mb) and fails either tolerance.
#include <cmath>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/conv2d/conv2d.h"
#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace {

using unet::kernels::Conv2dShape;
using unet::kernels::Conv2dVariant;
using unet::testing::all_close;
using unet::testing::bitwise_equal;
using unet::testing::random_floats;
using unet::testing::random_small_ints;

const Conv2dVariant kVariants[] = {Conv2dVariant::kV1Naive, Conv2dVariant::kV2Tiled,
                                   Conv2dVariant::kV3ImplicitGemmTf32};

Conv2dShape make_shape(int n, int h, int w, int c, int k, int r, int s, int pad, int stride) {
  Conv2dShape sh;
  sh.N = n, sh.H = h, sh.W = w, sh.C = c, sh.K = k, sh.R = r, sh.S = s;
  sh.pad_h = sh.pad_w = pad;
  sh.stride_h = sh.stride_w = stride;
  return sh;
}

std::string describe(const Conv2dShape& s) {
  return "N" + std::to_string(s.N) + " " + std::to_string(s.H) + "x" + std::to_string(s.W) + "x" +
         std::to_string(s.C) + "->" + std::to_string(s.K) + " " + std::to_string(s.R) + "x" +
         std::to_string(s.S) + " pad" + std::to_string(s.pad_h) + "," + std::to_string(s.pad_w) +
         " stride" + std::to_string(s.stride_h) + "," + std::to_string(s.stride_w);
}

float max_abs(const std::vector<float>& v) {
  float m = 0.0f;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

struct Tol {
  float rtol, atol;
};
Tol tolerance(Conv2dVariant v, double kg, double ma, double mb) {
  if (unet::kernels::kConv2dVariants.is_tf32(v)) {
    return {1e-3f, float(ma * mb * (std::ldexp(1.0, -10) * std::sqrt(kg) + 3e-8 * kg))};
  }
  return {1e-4f, float(ma * mb * (1e-5 * std::sqrt(kg) + 3e-8 * kg))};
}

#ifdef UNET_HAS_CUDA
using unet::testing::DeviceBuffer;

// Inputs of one test case; the optional tensors are empty when unused.
struct Data {
  std::vector<float> x, w, bias, dy, relu_y;
};

Data make_data(const Conv2dShape& s, bool bias, bool mask, uint64_t seed, bool ints) {
  auto gen = [&](size_t n, uint64_t sd) {
    return ints ? random_small_ints(n, sd) : random_floats(n, sd);
  };
  Data d;
  d.x = gen(s.x_size(), seed);
  d.w = gen(s.w_size(), seed + 1);
  d.dy = gen(s.y_size(), seed + 2);
  if (bias) d.bias = gen(s.K, seed + 3);
  if (mask) d.relu_y = random_floats(s.y_size(), seed + 4);  // about half the entries > 0
  return d;
}

struct Results {
  std::vector<float> y, dx, dw, dbias;
};

// The CPU reference for the three passes, run concurrently (the big seed shapes take seconds).
Results run_ref(const Conv2dShape& s, const Data& d, bool relu) {
  Results r;
  r.y.resize(s.y_size());
  r.dx.resize(s.x_size());
  r.dw.resize(s.w_size());
  if (!d.bias.empty()) r.dbias.resize(s.K);
  const float* mask = d.relu_y.empty() ? nullptr : d.relu_y.data();
  auto fwd = std::async(std::launch::async, [&] {
    unet::kernels::conv2d_forward_ref<float>(
        s, d.x.data(), d.w.data(), d.bias.empty() ? nullptr : d.bias.data(), r.y.data(), relu);
  });
  auto bwd_data = std::async(std::launch::async, [&] {
    unet::kernels::conv2d_backward_data_ref<float>(s, d.dy.data(), d.w.data(), mask, r.dx.data());
  });
  unet::kernels::conv2d_backward_weight_ref<float>(s, d.x.data(), d.dy.data(), mask, r.dw.data(),
                                                   r.dbias.empty() ? nullptr : r.dbias.data());
  fwd.get();
  bwd_data.get();
  return r;
}

// Runs the three passes of variant v on the device. Outputs are poisoned first so an element a
// kernel forgets to write shows up as NaN.
Results run_cuda(Conv2dVariant v, const Conv2dShape& s, const Data& d, bool relu) {
  DeviceBuffer<float> x(d.x), w(d.w), dy(d.dy), bias(d.bias), relu_y(d.relu_y);
  DeviceBuffer<float> y(s.y_size()), dx(s.x_size()), dw(s.w_size()), dbias(d.bias.size());
  y.poison(), dx.poison(), dw.poison(), dbias.poison();
  const size_t ws_bytes = std::max({unet::kernels::conv2d_forward_workspace_bytes(v, s),
                                    unet::kernels::conv2d_backward_data_workspace_bytes(v, s),
                                    unet::kernels::conv2d_backward_weight_workspace_bytes(v, s)});
  DeviceBuffer<float> ws((ws_bytes + 3) / 4);
  unet::kernels::conv2d_forward_cuda(v, s, x.get(), w.get(), bias.get(), y.get(), relu, ws.get(),
                                     nullptr);
  unet::kernels::conv2d_backward_data_cuda(v, s, dy.get(), w.get(), relu_y.get(), dx.get(),
                                           ws.get(), nullptr);
  unet::kernels::conv2d_backward_weight_cuda(v, s, x.get(), dy.get(), relu_y.get(), dw.get(),
                                             dbias.get(), ws.get(), nullptr);
  UNET_CUDA_CHECK(cudaDeviceSynchronize());
  return Results{y.to_host(), dx.to_host(), dw.to_host(), dbias.to_host()};
}

// Compares every variant with the reference `want` computed from `d`.
void check_all_variants(const Conv2dShape& s, const Data& d, const Results& want, bool relu) {
  const bool bias = !d.bias.empty(), mask = !d.relu_y.empty();
  const float mx = max_abs(d.x), mw = max_abs(d.w), mdy = max_abs(d.dy);
  const double kg_fwd = double(s.R) * s.S * s.C, kg_bd = double(s.R) * s.S * s.K;
  const double kg_bw = double(s.N) * s.P() * s.Q();
  for (Conv2dVariant v : kVariants) {
    const std::string tag = std::string(unet::kernels::kConv2dVariants.name(v)) + " " + describe(s) +
                            (bias ? " bias" : "") + (relu ? " relu" : "") + (mask ? " mask" : "");
    SCOPED_TRACE(tag);
    const Results got = run_cuda(v, s, d, relu);
    // Forward: the bias adds one term of size max|bias| <= 1 (same rounding in both).
    Tol t = tolerance(v, kg_fwd + 1, mx, mw);
    EXPECT_TRUE(all_close(got.y, want.y, t.rtol, t.atol, "y " + tag));
    t = tolerance(v, kg_bd, mdy, mw);
    EXPECT_TRUE(all_close(got.dx, want.dx, t.rtol, t.atol, "dx " + tag));
    t = tolerance(v, kg_bw, mx, mdy);
    EXPECT_TRUE(all_close(got.dw, want.dw, t.rtol, t.atol, "dw " + tag));
    if (bias) {
      // dbias is a plain fp32 sum in every variant (no TF32 rounding): fp32 tolerance.
      t = tolerance(Conv2dVariant::kV1Naive, kg_bw, mdy, 1.0);
      EXPECT_TRUE(all_close(got.dbias, want.dbias, t.rtol, t.atol, "dbias " + tag));
    }
  }
}

void check_case(const Conv2dShape& s, bool bias, bool relu, bool mask, uint64_t seed) {
  const Data d = make_data(s, bias, mask, seed, false);
  check_all_variants(s, d, run_ref(s, d, relu), relu);
}
#endif  // UNET_HAS_CUDA

// ---- Awkward shapes: batch 1, one channel, odd sizes, nothing a multiple of a tile. ----
struct AwkwardCase {
  Conv2dShape s;
  bool bias, relu, mask;
};

std::vector<AwkwardCase> awkward_cases() {
  std::vector<AwkwardCase> c;
  c.push_back({make_shape(1, 7, 5, 1, 1, 3, 3, 1, 1), false, false, false});    // C=1, K=1
  c.push_back({make_shape(2, 7, 5, 1, 32, 3, 3, 1, 1), true, true, true});      // input layer
  c.push_back({make_shape(2, 7, 5, 3, 5, 3, 3, 1, 1), true, true, true});       // C, K odd
  c.push_back({make_shape(1, 33, 17, 8, 12, 3, 3, 1, 2), true, false, true});   // stride 2
  c.push_back({make_shape(3, 9, 11, 20, 36, 3, 3, 0, 1), false, true, false});  // pad 0
  c.push_back({make_shape(2, 13, 13, 33, 7, 1, 1, 0, 1), true, true, true});    // 1x1, C=33
  c.push_back({make_shape(1, 16, 16, 4, 4, 1, 1, 0, 2), false, false, true});   // 1x1 stride 2
  c.push_back({make_shape(2, 10, 14, 64, 130, 3, 3, 1, 1), true, true, true});  // K over 128
  c.push_back({make_shape(2, 9, 7, 32, 1, 1, 1, 0, 1), true, false, false});    // the 1x1 head
  c.push_back({make_shape(1, 5, 5, 16, 16, 3, 3, 1, 2), false, true, true});    // small, stride 2
  c.push_back({make_shape(2, 33, 17, 36, 68, 3, 3, 1, 1), true, true, true});   // ragged tiles
  Conv2dShape rect = make_shape(2, 11, 6, 12, 8, 3, 2, 1, 1);  // R != S, pads and strides differ
  rect.pad_w = 0, rect.stride_h = 2;
  c.push_back({rect, true, true, true});
  return c;
}

class Conv2dCudaAwkward : public ::testing::TestWithParam<int> {};

TEST_P(Conv2dCudaAwkward, AllVariantsMatchReference) {
  UNET_REQUIRE_CUDA();
#ifdef UNET_HAS_CUDA
  const AwkwardCase c = awkward_cases()[GetParam()];
  check_case(c.s, c.bias, c.relu, c.mask, 100 + GetParam());
  // The same shape without the optional parts (the other branch of every nullable argument).
  check_case(c.s, !c.bias, !c.relu, !c.mask, 200 + GetParam());
#endif
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dCudaAwkward,
                         ::testing::Range(0, int(awkward_cases().size())));

// ---- The seed U-Net's conv layers (3x3 pad 1, and the 1x1 head) at batch 1. ----
struct SeedLayer {
  int hw, c, k, r;
};
const SeedLayer kSeedLayers[] = {
    {256, 1, 32, 3},   {256, 32, 32, 3},  {128, 32, 64, 3},  {128, 64, 64, 3},  {64, 64, 128, 3},
    {64, 128, 128, 3}, {32, 128, 256, 3}, {32, 256, 256, 3}, {16, 256, 512, 3}, {16, 512, 512, 3},
    {32, 512, 256, 3}, {64, 256, 128, 3}, {128, 128, 64, 3}, {256, 64, 32, 3},  {256, 32, 1, 1},
};

constexpr int kSeedCount = int(sizeof(kSeedLayers) / sizeof(kSeedLayers[0]));

Conv2dShape seed_shape(int i) {
  const SeedLayer l = kSeedLayers[i];
  return make_shape(1, l.hw, l.hw, l.c, l.k, l.r, l.r, l.r / 2, 1);
}

// The naive reference needs ~27 GMAC for these layers (seconds per layer), so all of them are
// computed at once, concurrently, before the first test of the suite (only when a device exists).
class Conv2dCudaSeed : public ::testing::TestWithParam<int> {
 protected:
#ifdef UNET_HAS_CUDA
  struct Case {
    Data d;
    Results want;
  };
  static void SetUpTestSuite() {
    if (!unet::testing::cuda_unavailable_reason().empty()) return;
    cases_ = new std::vector<Case>(kSeedCount);
    std::vector<std::future<void>> jobs;
    for (int i = 0; i < kSeedCount; ++i) {
      jobs.push_back(std::async(std::launch::async, [i] {
        Case& c = (*cases_)[i];
        c.d = make_data(seed_shape(i), true, true, 300 + i, false);
        c.want = run_ref(seed_shape(i), c.d, true);
      }));
    }
    for (auto& j : jobs) j.get();
  }
  static void TearDownTestSuite() {
    delete cases_;
    cases_ = nullptr;
  }
  static std::vector<Case>* cases_;
#endif
};
#ifdef UNET_HAS_CUDA
std::vector<Conv2dCudaSeed::Case>* Conv2dCudaSeed::cases_ = nullptr;
#endif

TEST_P(Conv2dCudaSeed, AllVariantsMatchReference) {
  UNET_REQUIRE_CUDA();
#ifdef UNET_HAS_CUDA
  ASSERT_NE(cases_, nullptr);
  const Case& c = (*cases_)[GetParam()];
  check_all_variants(seed_shape(GetParam()), c.d, c.want, true);
#endif
}

INSTANTIATE_TEST_SUITE_P(Layers, Conv2dCudaSeed, ::testing::Range(0, kSeedCount));

// ---- Exact: small integers make every partial sum exact in fp32 (and TF32 holds them exactly),
// so any summation order gives the reference's bits. ----
TEST(Conv2dCuda, SmallIntegersAreBitwiseExact) {
  UNET_REQUIRE_CUDA();
#ifdef UNET_HAS_CUDA
  const Conv2dShape shapes[] = {
      make_shape(2, 9, 7, 3, 5, 3, 3, 1, 1), make_shape(2, 12, 10, 16, 40, 3, 3, 1, 1),
      make_shape(1, 11, 13, 8, 8, 3, 3, 1, 2), make_shape(3, 20, 20, 32, 32, 3, 3, 1, 1)};
  for (const Conv2dShape& s : shapes) {
    const Data d = make_data(s, true, true, 7, true);
    const Results want = run_ref(s, d, true);
    for (Conv2dVariant v : kVariants) {
      const std::string tag =
          std::string(unet::kernels::kConv2dVariants.name(v)) + " " + describe(s);
      const Results got = run_cuda(v, s, d, true);
      EXPECT_TRUE(bitwise_equal(got.y, want.y, "y " + tag));
      EXPECT_TRUE(bitwise_equal(got.dx, want.dx, "dx " + tag));
      EXPECT_TRUE(bitwise_equal(got.dw, want.dw, "dw " + tag));
      EXPECT_TRUE(bitwise_equal(got.dbias, want.dbias, "dbias " + tag));
    }
  }
#endif
}

// ---- Determinism: split-K partials are summed in a fixed order, never with float atomics. ----
TEST(Conv2dCuda, BackwardWeightIsBitwiseDeterministic) {
  UNET_REQUIRE_CUDA();
#ifdef UNET_HAS_CUDA
  const Conv2dShape s = make_shape(4, 64, 64, 32, 32, 3, 3, 1, 1);  // many split-K chunks
  const Data d = make_data(s, true, true, 11, false);
  for (Conv2dVariant v : kVariants) {
    const std::string tag = unet::kernels::kConv2dVariants.name(v);
    const Results a = run_cuda(v, s, d, false);
    const Results b = run_cuda(v, s, d, false);
    EXPECT_TRUE(bitwise_equal(a.dw, b.dw, "dw " + tag));
    EXPECT_TRUE(bitwise_equal(a.dbias, b.dbias, "dbias " + tag));
  }
#endif
}

// ---- Views that are not 16-byte aligned take the scalar gathers (v2, v3). ----
TEST(Conv2dCuda, UnalignedPointersMatchReference) {
  UNET_REQUIRE_CUDA();
#ifdef UNET_HAS_CUDA
  const Conv2dShape s = make_shape(2, 9, 10, 8, 12, 3, 3, 1, 1);
  const Data d = make_data(s, true, true, 21, false);
  const Results want = run_ref(s, d, true);
  auto shifted = [](const std::vector<float>& v) {  // one float of padding in front
    std::vector<float> out(v.size() + 1, 0.0f);
    std::copy(v.begin(), v.end(), out.begin() + 1);
    return out;
  };
  for (Conv2dVariant v : kVariants) {
    const std::string tag = unet::kernels::kConv2dVariants.name(v);
    DeviceBuffer<float> x(shifted(d.x)), w(shifted(d.w)), dy(shifted(d.dy)), b(d.bias),
        relu_y(shifted(d.relu_y));
    DeviceBuffer<float> y(s.y_size() + 1), dx(s.x_size() + 1), dw(s.w_size()), db(s.K);
    DeviceBuffer<float> ws(unet::kernels::conv2d_backward_weight_workspace_bytes(v, s) / 4 + 1);
    unet::kernels::conv2d_forward_cuda(v, s, x.get() + 1, w.get() + 1, b.get(), y.get() + 1, true,
                                       nullptr, nullptr);
    unet::kernels::conv2d_backward_data_cuda(v, s, dy.get() + 1, w.get() + 1, relu_y.get() + 1,
                                             dx.get() + 1, nullptr, nullptr);
    unet::kernels::conv2d_backward_weight_cuda(v, s, x.get() + 1, dy.get() + 1, relu_y.get() + 1,
                                               dw.get(), db.get(), ws.get(), nullptr);
    std::vector<float> gy = y.to_host(), gdx = dx.to_host();
    gy.erase(gy.begin());
    gdx.erase(gdx.begin());
    Tol t = tolerance(v, double(s.R) * s.S * s.C + 1, 1, 1);
    EXPECT_TRUE(all_close(gy, want.y, t.rtol, t.atol, "y " + tag));
    t = tolerance(v, double(s.R) * s.S * s.K, 1, 1);
    EXPECT_TRUE(all_close(gdx, want.dx, t.rtol, t.atol, "dx " + tag));
    t = tolerance(v, double(s.N) * s.P() * s.Q(), 1, 1);
    EXPECT_TRUE(all_close(dw.to_host(), want.dw, t.rtol, t.atol, "dw " + tag));
    t = tolerance(Conv2dVariant::kV1Naive, double(s.N) * s.P() * s.Q(), 1, 1);
    EXPECT_TRUE(all_close(db.to_host(), want.dbias, t.rtol, t.atol, "dbias " + tag));
  }
#endif
}

// ---- Names, workspace sizes and rejections: host-side, so these run without a device. ----
#ifdef UNET_HAS_CUDA
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(Conv2dCudaHost, VariantNamesAndTf32Flags) {
  EXPECT_STREQ(unet::kernels::kConv2dVariants.name(Conv2dVariant::kV1Naive), "v1_naive");
  EXPECT_STREQ(unet::kernels::kConv2dVariants.name(Conv2dVariant::kV2Tiled), "v2_tiled");
  EXPECT_STREQ(unet::kernels::kConv2dVariants.name(Conv2dVariant::kV3ImplicitGemmTf32), "v3_tf32");
  EXPECT_FALSE(unet::kernels::kConv2dVariants.is_tf32(Conv2dVariant::kV1Naive));
  EXPECT_FALSE(unet::kernels::kConv2dVariants.is_tf32(Conv2dVariant::kV2Tiled));
  EXPECT_TRUE(unet::kernels::kConv2dVariants.is_tf32(Conv2dVariant::kV3ImplicitGemmTf32));
}

TEST(Conv2dCudaHost, InvalidVariantIsRejectedByValue) {
  const Conv2dVariant bad = static_cast<Conv2dVariant>(7);
  const Conv2dShape s = make_shape(1, 4, 4, 1, 1, 3, 3, 1, 1);
  EXPECT_NE(error_of([&] {
              unet::kernels::kConv2dVariants.name(bad);
            }).find("unknown variant 7 of conv2d"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              unet::kernels::kConv2dVariants.is_tf32(static_cast<Conv2dVariant>(0));
            }).find("unknown variant 0 of conv2d"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              unet::kernels::conv2d_backward_weight_workspace_bytes(bad, s);
            }).find("conv2d_backward_weight_workspace_bytes: unknown variant 7"),
            std::string::npos);
  float dummy = 0;
  EXPECT_NE(error_of([&] {
              unet::kernels::conv2d_forward_cuda(bad, s, &dummy, &dummy, nullptr, &dummy, false,
                                                 nullptr, nullptr);
            }).find("conv2d_forward_cuda: unknown variant 7"),
            std::string::npos);
}

TEST(Conv2dCudaHost, WorkspaceSizes) {
  const Conv2dShape s = make_shape(2, 64, 64, 32, 32, 3, 3, 1, 1);
  for (Conv2dVariant v : kVariants) {
    EXPECT_EQ(unet::kernels::conv2d_forward_workspace_bytes(v, s), 0u);
    EXPECT_EQ(unet::kernels::conv2d_backward_data_workspace_bytes(v, s), 0u);
    // At least one partial dw plus one partial dbias.
    EXPECT_GE(unet::kernels::conv2d_backward_weight_workspace_bytes(v, s),
              (s.w_size() + s.K) * sizeof(float));
  }
}

TEST(Conv2dCudaHost, BadArgumentsAreRejectedWithMessages) {
  const Conv2dVariant v = Conv2dVariant::kV2Tiled;
  float d = 0;
  Conv2dShape s = make_shape(1, 4, 4, 0, 1, 3, 3, 1, 1);
  EXPECT_NE(error_of([&] {
              unet::kernels::conv2d_forward_cuda(v, s, &d, &d, nullptr, &d, false, nullptr,
                                                 nullptr);
            }).find("conv2d_forward_cuda: invalid shape (N=1 H=4 W=4 C=0"),
            std::string::npos);
  s = make_shape(1, 2, 2, 1, 1, 5, 5, 0, 1);
  EXPECT_NE(error_of([&] {
              unet::kernels::conv2d_backward_data_cuda(v, s, &d, &d, nullptr, &d, nullptr, nullptr);
            }).find("conv2d_backward_data_cuda: filter larger than the padded input"),
            std::string::npos);
  s = make_shape(1, 4, 4, 1, 1, 3, 3, 1, 0);
  EXPECT_NE(error_of([&] {
              unet::kernels::conv2d_backward_weight_workspace_bytes(v, s);
            }).find("sizes and strides must be positive"),
            std::string::npos);
  s = make_shape(1, 4, 4, 1, 1, 3, 3, 1, 1);
  EXPECT_NE(error_of([&] {
              unet::kernels::conv2d_forward_cuda(v, s, nullptr, &d, nullptr, &d, false, nullptr,
                                                 nullptr);
            }).find("conv2d_forward_cuda: x is null"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              unet::kernels::conv2d_backward_data_cuda(v, s, &d, &d, nullptr, nullptr, nullptr,
                                                       nullptr);
            }).find("conv2d_backward_data_cuda: dx is null"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              unet::kernels::conv2d_backward_weight_cuda(v, s, &d, &d, nullptr, &d, nullptr,
                                                         nullptr, nullptr);
            }).find("conv2d_backward_weight_cuda: workspace is null but"),
            std::string::npos);
  s = make_shape(1 << 16, 256, 256, 1, 1, 3, 3, 1, 1);  // 2^32 input elements
  EXPECT_NE(error_of([&] {
              unet::kernels::conv2d_forward_workspace_bytes(v, s);
            }).find("too large for 32-bit indexing"),
            std::string::npos);
}
#endif  // UNET_HAS_CUDA

}  // namespace
