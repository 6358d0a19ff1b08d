// conv2d: one suite over every backend (the CPU fast path and each CUDA variant: v1 naive, v2
// tiled fp32, v3 TF32 tensor cores), each compared with the naive CPU reference conv2d_*_ref<float>
// on one table of cases, all three passes; the seed U-Net's real layers on the CUDA variants; the
// reference itself pinned by hand-computed cases and by central finite differences in double; every
// rejection message; the host-side checks of the CUDA entry points (they run without a GPU).
//
// Tolerances, |got - want| <= atol + rtol*|want|, with ma, mb the largest |operand| and kg the
// length of the pass's reduction (R*S*C forward, R*S*K backward-data, N*P*Q backward-weight):
//  - CPU fast path (fp32, GEMM blocking instead of plain loops): the rounding error of a sum of n
//    products of values in [-1, 1] stays below ~n * 6e-8, so rtol 1e-5 and atol 1e-6 * n; an
//    indexing error is O(1).
//  - CUDA fp32 (v1, v2): only the summation order differs from the reference (which itself sums
//    sequentially in fp32), so rtol 1e-4 and atol = ma*mb*(1e-5*sqrt(kg) + 3e-8*kg): the first term
//    a random walk of roundings, the second the reference's own drift on long reductions.
//  - CUDA TF32 (v3): each input is rounded to 10 mantissa bits (relative error <= 2^-11), so a
//    product is off by <= ~2^-10*|a*b| and the k-sum of those random-sign errors by
//    ~2^-10*sqrt(kg)*ma*mb at about 7 standard deviations (uniform [-1,1] data); rtol 1e-3 on top.
//    A wrong index or a missing tap is off by O(ma*mb) and fails either tolerance.
//  - Small integers: every partial sum is an exactly representable integer (and TF32 holds them
//    exactly), so any summation order gives the reference's bits: bitwise equality.

#include "kernels/conv2d/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using namespace ::unet::testing;  // helpers: tests/testing/*.h

Conv2dShape conv2d_shape(int N, int H, int W, int C, int K, int R, int S, int pad_h, int pad_w,
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

// ---------------------------------------------------------------- the case table

// Every backend runs every case (ggml's test-backend-ops). Awkward shapes: batch 1, one channel,
// odd and non-square sizes, stride 2, pad 0 and 1, 1x1, non-square kernels, pads and strides that
// differ per axis, a kernel bigger than the input, a 1x1 output; then shapes aimed at the CUDA
// tiles: nothing a multiple of a tile, C and K odd, K over 128, the U-Net's 1-channel input layer
// and its 1x1 head; rows wide enough for the CPU direct conv's interior tiles.
std::vector<Conv2dShape> conv2d_cases() {
  return {
      conv2d_shape(1, 7, 5, 1, 1, 3, 3, 1, 1, 1, 1),       // C=1, K=1
      conv2d_shape(2, 7, 5, 3, 4, 3, 3, 1, 1, 1, 1),       // odd sizes
      conv2d_shape(1, 7, 5, 3, 2, 3, 3, 0, 0, 2, 2),       // pad 0, stride 2
      conv2d_shape(3, 6, 9, 5, 3, 1, 1, 0, 0, 1, 1),       // 1x1
      conv2d_shape(2, 5, 7, 4, 5, 1, 1, 0, 0, 2, 2),       // 1x1 stride 2
      conv2d_shape(1, 8, 6, 2, 3, 2, 3, 1, 0, 2, 1),       // R != S, pads and strides differ
      conv2d_shape(2, 9, 7, 6, 7, 3, 3, 1, 1, 2, 2),       // pad 1, stride 2
      conv2d_shape(1, 4, 4, 2, 2, 5, 5, 2, 2, 1, 1),       // kernel bigger than the input
      conv2d_shape(1, 3, 3, 1, 1, 3, 3, 0, 0, 1, 1),       // 1x1 output
      conv2d_shape(2, 16, 16, 8, 16, 3, 3, 1, 1, 1, 1),    // square, powers of 2
      conv2d_shape(1, 11, 13, 17, 9, 3, 3, 1, 1, 1, 1),    // C=17, K=9
      conv2d_shape(2, 7, 5, 1, 32, 3, 3, 1, 1, 1, 1),      // the input layer
      conv2d_shape(2, 7, 5, 3, 5, 3, 3, 1, 1, 1, 1),       // C, K odd
      conv2d_shape(1, 33, 17, 8, 12, 3, 3, 1, 1, 2, 2),    // stride 2
      conv2d_shape(3, 9, 11, 20, 36, 3, 3, 0, 0, 1, 1),    // pad 0
      conv2d_shape(2, 13, 13, 33, 7, 1, 1, 0, 0, 1, 1),    // 1x1, C=33
      conv2d_shape(1, 16, 16, 4, 4, 1, 1, 0, 0, 2, 2),     // 1x1 stride 2
      conv2d_shape(2, 10, 14, 64, 130, 3, 3, 1, 1, 1, 1),  // K over 128
      conv2d_shape(2, 9, 7, 32, 1, 1, 1, 0, 0, 1, 1),      // the 1x1 head
      conv2d_shape(1, 5, 5, 16, 16, 3, 3, 1, 1, 2, 2),     // small, stride 2
      conv2d_shape(2, 33, 17, 36, 68, 3, 3, 1, 1, 1, 1),   // ragged tiles
      conv2d_shape(2, 11, 6, 12, 8, 3, 2, 1, 0, 2, 1),     // R != S, pads and strides differ
      conv2d_shape(2, 9, 7, 3, 5, 3, 3, 1, 1, 1, 1),       // C=3, K=5, odd sizes
      conv2d_shape(2, 12, 10, 16, 40, 3, 3, 1, 1, 1, 1),   // K=40: a partial tile
      conv2d_shape(1, 11, 13, 8, 8, 3, 3, 1, 1, 2, 2),     // odd sizes, stride 2
      conv2d_shape(3, 20, 20, 32, 32, 3, 3, 1, 1, 1, 1),   // several tiles, C and K multiples of 4
      conv2d_shape(2, 5, 64, 16, 24, 3, 3, 1, 1, 1, 1),    // wide rows: the CPU direct conv's
      conv2d_shape(1, 9, 61, 5, 18, 3, 3, 1, 1, 2, 2),     // interior tiles, stride 1 and 2
  };
}

// The optional parts of a case: bias and the fused ReLU in the forward; the ReLU mask (relu_y) and
// dbias (computed when there is a bias) in both backward passes. Each pass depends on two of them,
// and these four combinations give every pass all four on/off pairs of its two.
struct Options {
  bool bias, relu, mask;
};
constexpr Options kOptions[] = {
    {false, false, false}, {true, false, true}, {false, true, true}, {true, true, false}};

std::string describe(const Conv2dShape& s, const Options& o) {
  return describe(s) + (o.bias ? " bias" : "") + (o.relu ? " relu" : "") + (o.mask ? " mask" : "");
}

// Inputs of one case; the optional tensors are empty when unused.
struct Data {
  std::vector<float> x, w, bias, dy, relu_y;
};

Data make_data(const Conv2dShape& s, const Options& o, uint64_t seed, bool ints) {
  auto gen = [&](size_t n, uint64_t sd) {
    return ints ? random_small_ints(n, sd) : random_floats(n, sd);
  };
  Data d;
  d.x = gen(s.x_size(), seed);
  d.w = gen(s.w_size(), seed + 1);
  d.dy = gen(s.y_size(), seed + 2);
  if (o.bias) d.bias = gen(s.K, seed + 3);
  if (o.mask) d.relu_y = random_floats(s.y_size(), seed + 4);  // about half the entries > 0
  return d;
}

struct Results {
  std::vector<float> y, dx, dw, dbias;
};

const float* or_null(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
float* or_null(BackendBuffer<float>& b) { return b.size() == 0 ? nullptr : b.get(); }

// The CPU reference for the three passes, run concurrently (the seed layers take seconds).
Results run_ref(const Conv2dShape& s, const Data& d, bool relu) {
  Results r;
  r.y.resize(s.y_size());
  r.dx.resize(s.x_size());
  r.dw.resize(s.w_size());
  r.dbias.resize(d.bias.size());
  auto fwd = std::async(std::launch::async, [&] {
    conv2d_forward_ref<float>(s, d.x.data(), d.w.data(), or_null(d.bias), r.y.data(), relu);
  });
  auto bwd_data = std::async(std::launch::async, [&] {
    conv2d_backward_data_ref<float>(s, d.dy.data(), d.w.data(), or_null(d.relu_y), r.dx.data());
  });
  conv2d_backward_weight_ref<float>(s, d.x.data(), d.dy.data(), or_null(d.relu_y), r.dw.data(),
                                    d.bias.empty() ? nullptr : r.dbias.data());
  fwd.get();
  bwd_data.get();
  return r;
}

// The CPU backends: variant 0 (the default fast path), Winograd (CPU variant 2), which runs
// forward and backward-data where it applies and the im2col path elsewhere, as the engine does
// when it is forced, and the direct conv (CPU variant 3, where it was built), likewise for
// backward-data at stride 2. Then each CUDA variant.
std::vector<KernelBackend> conv2d_backends() {
  std::vector<KernelBackend> all = backends_with_variants(kConv2dVariants);
  KernelBackend w;
  w.variant = static_cast<int>(Conv2dCpuVariant::kWinogradF2);
  w.name = "cpu_winograd_f2x3";
  all.insert(all.begin() + 1, w);
  if (conv2d_direct_available()) {
    KernelBackend d;
    d.variant = static_cast<int>(Conv2dCpuVariant::kDirect);
    d.name = "cpu_direct";
    all.insert(all.begin() + 2, d);
  }
  return all;
}
bool winograd(const KernelBackend& b, const Conv2dShape& s) {
  return !b.cuda && b.variant == static_cast<int>(Conv2dCpuVariant::kWinogradF2) &&
         conv2d_winograd_applies(s);
}
bool direct(const KernelBackend& b, const Conv2dShape& s, Conv2dCpuPass pass) {
  return !b.cuda && b.variant == static_cast<int>(Conv2dCpuVariant::kDirect) &&
         conv2d_direct_applies(s, pass);
}

// ---- One pass on backend b; every pointer is in b's memory (device memory for CUDA). ----
// `ws` is the CUDA workspace (see workspace_floats), ignored by the CPU.
void forward(const KernelBackend& b, const Conv2dShape& s, const float* x, const float* w,
             const float* bias, float* y, bool relu, void* ws) {
  if (b.cuda) {
    conv2d_forward_cuda(b.variant_as<Conv2dVariant>(), s, x, w, bias, y, relu, ws, nullptr);
  } else if (winograd(b, s)) {
    conv2d_forward_cpu_winograd(s, x, w, bias, y, relu);
  } else if (direct(b, s, Conv2dCpuPass::kForward)) {
    conv2d_forward_cpu_direct(s, x, w, bias, y, relu);
  } else {
    conv2d_forward_cpu(s, x, w, bias, y, relu);
  }
}
void backward_data(const KernelBackend& b, const Conv2dShape& s, const float* dy, const float* w,
                   const float* relu_y, float* dx, void* ws) {
  if (b.cuda) {
    conv2d_backward_data_cuda(b.variant_as<Conv2dVariant>(), s, dy, w, relu_y, dx, ws, nullptr);
  } else if (winograd(b, s)) {
    conv2d_backward_data_cpu_winograd(s, dy, w, relu_y, dx);
  } else if (direct(b, s, Conv2dCpuPass::kBackwardData)) {
    conv2d_backward_data_cpu_direct(s, dy, w, relu_y, dx);
  } else {
    conv2d_backward_data_cpu(s, dy, w, relu_y, dx);
  }
}
void backward_weight(const KernelBackend& b, const Conv2dShape& s, const float* x, const float* dy,
                     const float* relu_y, float* dw, float* dbias, void* ws) {
  if (b.cuda) {
    conv2d_backward_weight_cuda(b.variant_as<Conv2dVariant>(), s, x, dy, relu_y, dw, dbias, ws,
                                nullptr);
  } else if (direct(b, s, Conv2dCpuPass::kBackwardWeight)) {
    conv2d_backward_weight_cpu_direct(s, x, dy, relu_y, dw, dbias);
  } else {
    conv2d_backward_weight_cpu(s, x, dy, relu_y, dw, dbias);
  }
}
// Floats of workspace that all three passes of a CUDA variant need (0 on the CPU).
size_t workspace_floats(const KernelBackend& b, const Conv2dShape& s) {
  if (!b.cuda) return 0;
  const Conv2dVariant v = b.variant_as<Conv2dVariant>();
  const size_t bytes =
      std::max({conv2d_forward_workspace_bytes(v, s), conv2d_backward_data_workspace_bytes(v, s),
                conv2d_backward_weight_workspace_bytes(v, s)});
  return (bytes + 3) / 4;
}

// Runs the three passes on backend b. Outputs are poisoned (NaN) first so an element a path
// forgets to write shows up.
Results run_backend(const KernelBackend& b, const Conv2dShape& s, const Data& d, bool relu) {
  BackendBuffer<float> x(b, d.x), w(b, d.w), dy(b, d.dy), bias(b, d.bias), relu_y(b, d.relu_y);
  BackendBuffer<float> y(b, s.y_size()), dx(b, s.x_size()), dw(b, s.w_size()),
      dbias(b, d.bias.size()), ws(b, workspace_floats(b, s));
  y.poison(), dx.poison(), dw.poison(), dbias.poison();
  forward(b, s, x.get(), w.get(), or_null(bias), y.get(), relu, or_null(ws));
  backward_data(b, s, dy.get(), w.get(), or_null(relu_y), dx.get(), or_null(ws));
  backward_weight(b, s, x.get(), dy.get(), or_null(relu_y), dw.get(), or_null(dbias), or_null(ws));
  return Results{y.to_host(), dx.to_host(), dw.to_host(), dbias.to_host()};
}

// ---------------------------------------------------------------- tolerances (see the top)

struct Tol {
  float rtol, atol;
};
struct PassTolerances {
  Tol y, dx, dw, dbias;
};

// mx, mw, mdy: the largest |x|, |w|, |dy| (the CPU's bound assumes values in [-1, 1]).
PassTolerances tolerances(const KernelBackend& b, const Conv2dShape& s, double mx, double mw,
                          double mdy) {
  const double rsc = double(s.R) * s.S * s.C, rsk = double(s.R) * s.S * s.K;
  const double npq = double(s.N) * s.P() * s.Q();
  if (winograd(b, s)) {
    // Winograd sums C products per transformed position (|U| <= 9/4 max|w|, |V| <= 4 max|x|)
    // and then up to 9 of those sums per output: rounding grows with those magnitudes, about
    // 9 * 4 * 9/4 = 81 times a direct product's at worst. The bound keeps the CPU's form with
    // that factor; the measured worst error is far below it (kernels/conv2d/README.md).
    auto wino = [](double n) { return Tol{1e-5f, float(81e-6 * n / 9)}; };
    auto cpu = [](double n) { return Tol{1e-5f, float(1e-6 * n)}; };
    return {wino(rsc), wino(rsk), cpu(npq), cpu(npq)};
  }
  if (!b.cuda) {
    auto cpu = [](double n) { return Tol{1e-5f, float(1e-6 * n)}; };
    return {cpu(rsc), cpu(rsk), cpu(npq), cpu(npq)};
  }
  auto gpu = [](bool tf32, double kg, double ma, double mb) {
    if (tf32)
      return Tol{1e-3f, float(ma * mb * (std::ldexp(1.0, -10) * std::sqrt(kg) + 3e-8 * kg))};
    return Tol{1e-4f, float(ma * mb * (1e-5 * std::sqrt(kg) + 3e-8 * kg))};
  };
  // Forward: the bias adds one term of size max|bias| <= 1 (same rounding in both). dbias is a
  // plain fp32 sum in every variant (no TF32 rounding): fp32 tolerance.
  return {gpu(b.tf32, rsc + 1, mx, mw), gpu(b.tf32, rsk, mdy, mw), gpu(b.tf32, npq, mx, mdy),
          gpu(false, npq, mdy, 1.0)};
}

void expect_close(const Results& got, const Results& want, const PassTolerances& t) {
  EXPECT_TRUE(all_close(got.y, want.y, t.y.rtol, t.y.atol, "y"));
  EXPECT_TRUE(all_close(got.dx, want.dx, t.dx.rtol, t.dx.atol, "dx"));
  EXPECT_TRUE(all_close(got.dw, want.dw, t.dw.rtol, t.dw.atol, "dw"));
  EXPECT_TRUE(all_close(got.dbias, want.dbias, t.dbias.rtol, t.dbias.atol, "dbias"));
}

void expect_bitwise(const Results& got, const Results& want) {
  EXPECT_TRUE(bitwise_equal(got.y, want.y, "y"));
  EXPECT_TRUE(bitwise_equal(got.dx, want.dx, "dx"));
  EXPECT_TRUE(bitwise_equal(got.dw, want.dw, "dw"));
  EXPECT_TRUE(bitwise_equal(got.dbias, want.dbias, "dbias"));
}

// ---------------------------------------------------------------- every backend vs the reference

class Conv2dTest : public ::testing::TestWithParam<KernelBackend> {};

TEST_P(Conv2dTest, MatchesReferenceOnRandomData) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 100;
  for (const Conv2dShape& s : conv2d_cases()) {
    for (const Options& o : kOptions) {
      SCOPED_TRACE(describe(s, o));
      const Data d = make_data(s, o, seed += 8, false);
      const Results got = run_backend(b, s, d, o.relu);
      expect_close(got, run_ref(s, d, o.relu),
                   tolerances(b, s, max_abs(d.x), max_abs(d.w), max_abs(d.dy)));
    }
  }
}

TEST_P(Conv2dTest, BitExactOnSmallIntegers) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 500;
  for (const Conv2dShape& s : conv2d_cases()) {
    for (const Options& o : kOptions) {
      SCOPED_TRACE(describe(s, o));
      const Data d = make_data(s, o, seed += 8, true);
      expect_bitwise(run_backend(b, s, d, o.relu), run_ref(s, d, o.relu));
    }
  }
}

TEST_P(Conv2dTest, BitExactWhenCpuChunksSplitImagesAndRows) {
  // Big enough (im2col 3*45*43 x 2304 floats = 71 MiB) that the CPU path's 32 MiB chunking splits
  // the pixels into several chunks, one boundary inside an image: results must not depend on
  // where. For CUDA a wide-C exact case.
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const Conv2dShape s = conv2d_shape(3, 45, 43, 256, 3, 3, 3, 1, 1, 1, 1);
  const Options o{true, true, true};
  const Data d = make_data(s, o, 900, true);
  expect_bitwise(run_backend(b, s, d, o.relu), run_ref(s, d, o.relu));
}

TEST_P(Conv2dTest, DbiasIsOptional) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const Conv2dShape s = conv2d_shape(2, 6, 5, 3, 4, 3, 3, 1, 1, 1, 1);
  BackendBuffer<float> x(b, random_floats(s.x_size(), 1)), dy(b, random_floats(s.y_size(), 2));
  BackendBuffer<float> dw_a(b, s.w_size()), dw_b(b, s.w_size()), db(b, s.K),
      ws(b, workspace_floats(b, s));
  dw_a.poison(), dw_b.poison();
  backward_weight(b, s, x.get(), dy.get(), nullptr, dw_a.get(), nullptr, or_null(ws));
  backward_weight(b, s, x.get(), dy.get(), nullptr, dw_b.get(), db.get(), or_null(ws));
  EXPECT_TRUE(bitwise_equal(dw_a.to_host(), dw_b.to_host(), "dw with and without dbias"));
}

// Determinism: CUDA splits the N*P*Q reduction into partials summed in a fixed order (never float
// atomics); the CPU sums dbias in fixed blocks and dw in chunk order, whatever the thread count.
TEST_P(Conv2dTest, BackwardWeightIsBitwiseDeterministic) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const Conv2dShape s = conv2d_shape(4, 64, 64, 32, 32, 3, 3, 1, 1, 1, 1);  // many split-K chunks
  const Data d = make_data(s, Options{true, false, true}, 11, false);
  const Results first = run_backend(b, s, d, false);
  const Results second = run_backend(b, s, d, false);
  EXPECT_TRUE(bitwise_equal(first.dw, second.dw, "dw"));
  EXPECT_TRUE(bitwise_equal(first.dbias, second.dbias, "dbias"));
}

// Views that are not 16-byte aligned (CUDA v2 and v3 then take the scalar gathers).
TEST_P(Conv2dTest, UnalignedPointersMatchReference) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  const Conv2dShape s = conv2d_shape(2, 9, 10, 8, 12, 3, 3, 1, 1, 1, 1);
  const Data d = make_data(s, Options{true, true, true}, 21, false);
  const Results want = run_ref(s, d, true);
  auto shifted = [](const std::vector<float>& v) { return with_leading_zeros(1, v); };
  BackendBuffer<float> x(b, shifted(d.x)), w(b, shifted(d.w)), dy(b, shifted(d.dy)),
      bias(b, d.bias), relu_y(b, shifted(d.relu_y));
  BackendBuffer<float> y(b, s.y_size() + 1), dx(b, s.x_size() + 1), dw(b, s.w_size()),
      dbias(b, s.K), ws(b, workspace_floats(b, s));
  y.poison(), dx.poison(), dw.poison(), dbias.poison();
  forward(b, s, x.get() + 1, w.get() + 1, bias.get(), y.get() + 1, true, or_null(ws));
  backward_data(b, s, dy.get() + 1, w.get() + 1, relu_y.get() + 1, dx.get() + 1, or_null(ws));
  backward_weight(b, s, x.get() + 1, dy.get() + 1, relu_y.get() + 1, dw.get(), dbias.get(),
                  or_null(ws));
  Results got{y.to_host(), dx.to_host(), dw.to_host(), dbias.to_host()};
  got.y.erase(got.y.begin());
  got.dx.erase(got.dx.begin());
  expect_close(got, want, tolerances(b, s, 1, 1, 1));
}

// Every CPU backend gives the same bits with 1 thread and with 3 (the im2col and direct paths'
// backward-weight partitions and the dbias blocks are fixed by the shape, not the thread count).
TEST_P(Conv2dTest, CpuResultsDoNotDependOnThreadCount) {
  const KernelBackend& b = GetParam();
  if (b.cuda) GTEST_SKIP() << "CPU thread count only";
  const Conv2dShape s = conv2d_shape(3, 37, 29, 24, 40, 3, 3, 1, 1, 1, 1);
  const Data d = make_data(s, Options{true, true, true}, 31, false);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const Results one = run_backend(b, s, d, true);
  omp_set_num_threads(3);
  const Results three = run_backend(b, s, d, true);
  omp_set_num_threads(saved);
  expect_bitwise(three, one);
}

INSTANTIATE_TEST_SUITE_P(Backends, Conv2dTest, ::testing::ValuesIn(conv2d_backends()),
                         backend_test_name);

// ---------------------------------------------------------------- the seed U-Net's layers

// The seed U-Net's conv layers (3x3 pad 1, and the 1x1 head) at batch 1, on the CUDA variants.
// The naive reference needs ~27 GMAC for them (seconds per layer), so they are computed once,
// concurrently, before the first test, and only when a device exists; the CPU fast path is not in
// this suite (it would cost a CPU-only machine a minute of reference loops).
struct SeedLayer {
  int hw, c, k, r;
};
const SeedLayer kSeedLayers[] = {
    {256, 1, 32, 3},   {256, 32, 32, 3},  {128, 32, 64, 3},  {128, 64, 64, 3},  {64, 64, 128, 3},
    {64, 128, 128, 3}, {32, 128, 256, 3}, {32, 256, 256, 3}, {16, 256, 512, 3}, {16, 512, 512, 3},
    {32, 512, 256, 3}, {64, 256, 128, 3}, {128, 128, 64, 3}, {256, 64, 32, 3},  {256, 32, 1, 1},
};
constexpr int kSeedCount = int(sizeof(kSeedLayers) / sizeof(kSeedLayers[0]));
constexpr Options kSeedOptions{true, true, true};

Conv2dShape seed_shape(int i) {
  const SeedLayer l = kSeedLayers[i];
  return conv2d_shape(1, l.hw, l.hw, l.c, l.k, l.r, l.r, l.r / 2, l.r / 2, 1, 1);
}

std::vector<KernelBackend> cuda_variants() {
  std::vector<KernelBackend> out;
  for (const KernelBackend& b : backends_with_variants(kConv2dVariants)) {
    if (b.cuda) out.push_back(b);
  }
  return out;
}

class Conv2dSeedLayersTest : public ::testing::TestWithParam<KernelBackend> {
 protected:
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
        c.d = make_data(seed_shape(i), kSeedOptions, 300 + i, false);
        c.want = run_ref(seed_shape(i), c.d, kSeedOptions.relu);
      }));
    }
    for (auto& j : jobs) j.get();
  }
  static void TearDownTestSuite() {
    delete cases_;
    cases_ = nullptr;
  }
  static std::vector<Case>* cases_;
};
std::vector<Conv2dSeedLayersTest::Case>* Conv2dSeedLayersTest::cases_ = nullptr;

TEST_P(Conv2dSeedLayersTest, MatchReference) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  ASSERT_NE(cases_, nullptr);
  for (int i = 0; i < kSeedCount; ++i) {
    const Conv2dShape s = seed_shape(i);
    SCOPED_TRACE(describe(s, kSeedOptions));
    const Case& c = (*cases_)[i];
    expect_close(run_backend(b, s, c.d, kSeedOptions.relu), c.want,
                 tolerances(b, s, max_abs(c.d.x), max_abs(c.d.w), max_abs(c.d.dy)));
  }
}

INSTANTIATE_TEST_SUITE_P(CudaVariants, Conv2dSeedLayersTest, ::testing::ValuesIn(cuda_variants()),
                         backend_test_name);

// The CPU variants' numerical error on the seed U-Net's 3x3 layers (their channel counts, at
// 12x12: the error depends on the reduction length, not on the image size), measured against the
// reference in double: Winograd next to the im2col path's, the direct conv next to the fp32
// reference loops'. Printed for kernels/conv2d/README.md; the test fails if Winograd's worst error
// is more than 8 times the im2col path's, or the direct conv's more than 3 times the fp32
// reference's, on any layer.
TEST(Conv2dCpuVariants, ErrorAgainstDoubleReferenceOnSeedLayers) {
  for (int i = 0; i < kSeedCount; ++i) {
    const SeedLayer l = kSeedLayers[i];
    if (l.r != 3) continue;
    const Conv2dShape s = conv2d_shape(1, 12, 12, l.c, l.k, 3, 3, 1, 1, 1, 1);
    SCOPED_TRACE(describe(s));
    const Data d = make_data(s, Options{true, false, false}, 700 + i, false);
    auto to_double = [](const std::vector<float>& v) {
      return std::vector<double>(v.begin(), v.end());
    };
    std::vector<double> y64(s.y_size()), dx64(s.x_size());
    const std::vector<double> x64 = to_double(d.x), w64 = to_double(d.w), b64 = to_double(d.bias),
                              dy64 = to_double(d.dy);
    conv2d_forward_ref<double>(s, x64.data(), w64.data(), b64.data(), y64.data(), false);
    conv2d_backward_data_ref<double>(s, dy64.data(), w64.data(), nullptr, dx64.data());
    std::vector<float> y_im2col(s.y_size()), y_wino(s.y_size()), dx_im2col(s.x_size()),
        dx_wino(s.x_size()), y_direct(s.y_size()), dx_direct(s.x_size());
    conv2d_forward_cpu(s, d.x.data(), d.w.data(), d.bias.data(), y_im2col.data(), false);
    conv2d_forward_cpu_winograd(s, d.x.data(), d.w.data(), d.bias.data(), y_wino.data(), false);
    conv2d_backward_data_cpu(s, d.dy.data(), d.w.data(), nullptr, dx_im2col.data());
    conv2d_backward_data_cpu_winograd(s, d.dy.data(), d.w.data(), nullptr, dx_wino.data());
    if (conv2d_direct_available()) {
      conv2d_forward_cpu_direct(s, d.x.data(), d.w.data(), d.bias.data(), y_direct.data(), false);
      conv2d_backward_data_cpu_direct(s, d.dy.data(), d.w.data(), nullptr, dx_direct.data());
    }
    auto worst = [](const std::vector<float>& got, const std::vector<double>& want) {
      double e = 0;
      for (size_t j = 0; j < got.size(); ++j) e = std::max(e, std::fabs(double(got[j]) - want[j]));
      return e;
    };
    double scale_y = 0, scale_dx = 0;
    for (double v : y64) scale_y = std::max(scale_y, std::fabs(v));
    for (double v : dx64) scale_dx = std::max(scale_dx, std::fabs(v));
    const double ey_i = worst(y_im2col, y64), ey_w = worst(y_wino, y64);
    const double ex_i = worst(dx_im2col, dx64), ex_w = worst(dx_wino, dx64);
    std::printf(
        "C=%3d K=%3d  forward max|err| im2col %.2e winograd %.2e (max|y| %.1f)   "
        "backward-data im2col %.2e winograd %.2e (max|dx| %.1f)\n",
        l.c, l.k, ey_i, ey_w, scale_y, ex_i, ex_w, scale_dx);
    EXPECT_LE(ey_w, 8 * ey_i + 1e-6);
    EXPECT_LE(ex_w, 8 * ex_i + 1e-6);
    if (conv2d_direct_available()) {
      // The direct conv sums each output in one fp32 chain over (r, s, c), as the fp32 reference
      // loops do (im2col's GEMM blocks its sums, so it errs less): its error is of the fp32
      // reference's order, which the bound checks.
      std::vector<float> y_ref(s.y_size()), dx_ref(s.x_size());
      conv2d_forward_ref<float>(s, d.x.data(), d.w.data(), d.bias.data(), y_ref.data(), false);
      conv2d_backward_data_ref<float>(s, d.dy.data(), d.w.data(), nullptr, dx_ref.data());
      const double ey_d = worst(y_direct, y64), ex_d = worst(dx_direct, dx64);
      const double ey_r = worst(y_ref, y64), ex_r = worst(dx_ref, dx64);
      std::printf(
          "               forward direct %.2e fp32-reference %.2e   "
          "backward-data direct %.2e fp32-reference %.2e\n",
          ey_d, ey_r, ex_d, ex_r);
      EXPECT_LE(ey_d, 3 * ey_r + 1e-6);
      EXPECT_LE(ex_d, 3 * ex_r + 1e-6);
    }
  }
}

// The default CPU variant per shape and pass (conv2d_cpu_choice.cpp): the committed measurement
// decides per layer, pass and nearest measured batch; im2col for every shape it does not list.
TEST(Conv2dCpuChoice, MeasuredTableDecidesPerShapePassAndBatch) {
  const auto fwd = Conv2dCpuPass::kForward, bwd = Conv2dCpuPass::kBackwardData,
             wgt = Conv2dCpuPass::kBackwardWeight;
  const auto wino = Conv2dCpuVariant::kWinogradF2, im2col = Conv2dCpuVariant::kIm2col;
  // Where the direct conv was not built, rows naming it give im2col.
  const auto direct = conv2d_direct_available() ? Conv2dCpuVariant::kDirect : im2col;
  auto at = [](int n, int h, int c, int k) {
    return conv2d_shape(n, h, h, c, k, 3, 3, 1, 1, 1, 1);
  };
  // The wide, shallow layers run the direct conv in every pass.
  EXPECT_EQ(conv2d_cpu_default_variant(at(10, 128, 16, 16), fwd), direct);
  EXPECT_EQ(conv2d_cpu_default_variant(at(10, 128, 16, 16), bwd), direct);
  EXPECT_EQ(conv2d_cpu_default_variant(at(10, 128, 16, 16), wgt), direct);
  // Per pass: dec1.conv1 at batch 10 runs Winograd forward and backward-data, im2col for weights.
  EXPECT_EQ(conv2d_cpu_default_variant(at(10, 128, 128, 64), fwd), wino);
  EXPECT_EQ(conv2d_cpu_default_variant(at(10, 128, 128, 64), bwd), wino);
  EXPECT_EQ(conv2d_cpu_default_variant(at(10, 128, 128, 64), wgt), im2col);
  // Per batch: enc4.conv1 (16x16, 256 -> 512) runs Winograd at batch 10, im2col at batch 1.
  EXPECT_EQ(conv2d_cpu_default_variant(at(10, 16, 256, 512), fwd), wino);
  EXPECT_EQ(conv2d_cpu_default_variant(at(1, 16, 256, 512), fwd), im2col);
  EXPECT_EQ(conv2d_cpu_default_variant(at(3, 16, 256, 512), fwd), im2col);  // nearer to 1
  EXPECT_EQ(conv2d_cpu_default_variant(at(4, 16, 256, 512), fwd), wino);    // nearer to 10
  EXPECT_EQ(conv2d_cpu_default_variant(at(64, 16, 256, 512), fwd), wino);
  // A layer measured at batch 10 only answers for every batch.
  EXPECT_EQ(conv2d_cpu_default_variant(at(1, 128, 32, 16), wgt), direct);
  // Unlisted and non-3x3 / strided shapes stay on im2col.
  EXPECT_EQ(conv2d_cpu_default_variant(at(10, 48, 256, 256), fwd), im2col);
  EXPECT_EQ(conv2d_cpu_default_variant(conv2d_shape(10, 64, 64, 256, 128, 1, 1, 0, 0, 1, 1), fwd),
            im2col);
  EXPECT_EQ(conv2d_cpu_default_variant(conv2d_shape(10, 64, 64, 256, 128, 3, 3, 1, 1, 2, 2), fwd),
            im2col);
}

// The direct conv's backward-data runs at stride 1 only (and pad <= kernel size - 1); elsewhere
// its entry point refuses with a message naming the shape and the function to use instead.
TEST(Conv2dCpuDirect, BackwardDataRejectsShapesItDoesNotCompute) {
  if (!conv2d_direct_available()) GTEST_SKIP() << "the direct conv was not built (no AVX2/FMA)";
  std::vector<float> buf(4096, 0.0f);
  const Conv2dShape strided = conv2d_shape(1, 8, 8, 2, 2, 3, 3, 1, 1, 2, 2);
  EXPECT_FALSE(conv2d_direct_applies(strided, Conv2dCpuPass::kBackwardData));
  EXPECT_TRUE(conv2d_direct_applies(strided, Conv2dCpuPass::kForward));
  expect_invalid(
      [&] {
        conv2d_backward_data_cpu_direct(strided, buf.data(), buf.data(), nullptr, buf.data());
      },
      {"conv2d_backward_data_cpu_direct", "stride 1", "stride=2,2", "conv2d_backward_data_cpu"});
  const Conv2dShape wide_pad = conv2d_shape(1, 8, 8, 2, 2, 3, 3, 3, 3, 1, 1);
  EXPECT_FALSE(conv2d_direct_applies(wide_pad, Conv2dCpuPass::kBackwardData));
  expect_invalid(
      [&] {
        conv2d_backward_data_cpu_direct(wide_pad, buf.data(), buf.data(), nullptr, buf.data());
      },
      {"pad <= kernel size - 1", "pad=3,3"});
}

// ---------------------------------------------------------------- the reference, by hand

TEST(Conv2dRef, HandComputed3x3Input2x2Kernel) {
  // x = [1 2 3; 4 5 6; 7 8 9], w = [1 2; 3 4], stride 1, no padding.
  const Conv2dShape s = conv2d_shape(1, 3, 3, 1, 1, 2, 2, 0, 0, 1, 1);
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
  const Conv2dShape s = conv2d_shape(1, 3, 3, 1, 1, 3, 3, 1, 1, 2, 2);
  ASSERT_EQ(s.P(), 2);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w(9, 1.0f);
  std::vector<float> y(4);
  conv2d_forward_ref<float>(s, x.data(), w.data(), nullptr, y.data(), false);
  EXPECT_TRUE(bitwise_equal(y, {12, 16, 24, 28}, "y"));
}

TEST(Conv2dRef, HandComputedChannelOrderKRSC) {
  // One pixel, C=2, K=2: w[k][c] = {{1, 10}, {100, 1000}} must give y[k] = sum_c w[k][c] x[c].
  const Conv2dShape s = conv2d_shape(1, 1, 1, 2, 2, 1, 1, 0, 0, 1, 1);
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
  check_gradients(conv2d_shape(2, 5, 4, 2, 3, 3, 3, 1, 1, 1, 1), false, 11);
  check_gradients(conv2d_shape(2, 5, 4, 2, 3, 3, 3, 1, 1, 1, 1), true, 12);
  check_gradients(conv2d_shape(1, 7, 6, 3, 2, 3, 2, 1, 0, 2, 2), true, 13);
  check_gradients(conv2d_shape(2, 3, 5, 4, 3, 1, 1, 0, 0, 1, 1), true, 14);
}

// ---------------------------------------------------------------- rejections (CPU paths)

// Every message names the entry point, the problem and the shape.
void expect_rejected(const std::function<void()>& call, const std::string& op,
                     const std::string& what) {
  expect_invalid(call, {op, what, "shape N="});
}

TEST(Conv2dErrors, EachRejectionNamesOpAndProblem) {
  std::vector<float> buf(4096, 1.0f);
  float* p = buf.data();
  const Conv2dShape good = conv2d_shape(1, 4, 4, 2, 2, 3, 3, 1, 1, 1, 1);
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
    SCOPED_TRACE(c.what);
    expect_rejected([&] { conv2d_forward_ref<float>(c.s, p, p, p, p, false); },
                    "conv2d_forward_ref", c.what);
    expect_rejected([&] { conv2d_forward_cpu(c.s, p, p, p, p, false); }, "conv2d_forward_cpu",
                    c.what);
  }
  // Every entry point checks its shape and its required pointers.
  s = good, s.stride_w = 0;
  expect_rejected([&] { conv2d_backward_data_ref<float>(s, p, p, p, p); },
                  "conv2d_backward_data_ref", "stride must be >= 1");
  expect_rejected([&] { conv2d_backward_weight_ref<float>(s, p, p, p, p, p); },
                  "conv2d_backward_weight_ref", "stride must be >= 1");
  expect_rejected([&] { conv2d_backward_data_cpu(s, p, p, p, p); }, "conv2d_backward_data_cpu",
                  "stride must be >= 1");
  expect_rejected([&] { conv2d_backward_weight_cpu(s, p, p, p, p, p); },
                  "conv2d_backward_weight_cpu", "stride must be >= 1");
  expect_rejected([&] { conv2d_forward_cpu(good, nullptr, p, p, p, false); }, "conv2d_forward_cpu",
                  "x is null");
  expect_rejected([&] { conv2d_forward_ref<float>(good, p, nullptr, p, p, false); },
                  "conv2d_forward_ref", "w is null");
  expect_rejected([&] { conv2d_backward_data_cpu(good, nullptr, p, p, p); },
                  "conv2d_backward_data_cpu", "dy is null");
  expect_rejected(
      [&] { conv2d_backward_data_ref<double>(good, nullptr, nullptr, nullptr, nullptr); },
      "conv2d_backward_data_ref", "dy is null");
  expect_rejected([&] { conv2d_backward_weight_cpu(good, p, p, p, nullptr, p); },
                  "conv2d_backward_weight_cpu", "dw is null");
  expect_rejected([&] { conv2d_backward_weight_ref<float>(good, p, p, p, nullptr, p); },
                  "conv2d_backward_weight_ref", "dw is null");
}

// ---------------------------------------------------------------- variants and CUDA entry points

TEST(Conv2dVariants, NamesAndTf32Flags) {
  EXPECT_STREQ(kConv2dVariants.name(Conv2dVariant::kV1Naive), "v1_naive");
  EXPECT_STREQ(kConv2dVariants.name(Conv2dVariant::kV2Tiled), "v2_tiled");
  EXPECT_STREQ(kConv2dVariants.name(Conv2dVariant::kV3ImplicitGemmTf32), "v3_tf32");
  EXPECT_FALSE(kConv2dVariants.is_tf32(Conv2dVariant::kV1Naive));
  EXPECT_FALSE(kConv2dVariants.is_tf32(Conv2dVariant::kV2Tiled));
  EXPECT_TRUE(kConv2dVariants.is_tf32(Conv2dVariant::kV3ImplicitGemmTf32));
}

TEST(Conv2dVariants, UnknownVariantIsRejectedByValue) {
  expect_invalid([] { kConv2dVariants.name(static_cast<Conv2dVariant>(7)); },
                 "unknown variant 7 of conv2d");
  expect_invalid([] { kConv2dVariants.is_tf32(static_cast<Conv2dVariant>(0)); },
                 "unknown variant 0 of conv2d");
}

// Host-side checks of the CUDA entry points come before any CUDA call: no device needed.
TEST(Conv2dCudaHost, UnknownVariantIsRejectedByEntryPoints) {
  UNET_REQUIRE_CUDA_BUILD();
  const Conv2dVariant bad = static_cast<Conv2dVariant>(7);
  const Conv2dShape s = conv2d_shape(1, 4, 4, 1, 1, 3, 3, 1, 1, 1, 1);
  expect_invalid([&] { conv2d_backward_weight_workspace_bytes(bad, s); },
                 "conv2d_backward_weight_workspace_bytes: unknown variant 7");
  float dummy = 0;
  expect_invalid(
      [&] {
        conv2d_forward_cuda(bad, s, &dummy, &dummy, nullptr, &dummy, false, nullptr, nullptr);
      },
      "conv2d_forward_cuda: unknown variant 7");
}

TEST(Conv2dCudaHost, WorkspaceSizes) {
  UNET_REQUIRE_CUDA_BUILD();
  const Conv2dShape s = conv2d_shape(2, 64, 64, 32, 32, 3, 3, 1, 1, 1, 1);
  for (const VariantInfo& row : kConv2dVariants) {
    SCOPED_TRACE(row.name);
    const Conv2dVariant v = static_cast<Conv2dVariant>(row.id);
    EXPECT_EQ(conv2d_forward_workspace_bytes(v, s), 0u);
    EXPECT_EQ(conv2d_backward_data_workspace_bytes(v, s), 0u);
    // At least one partial dw plus one partial dbias.
    EXPECT_GE(conv2d_backward_weight_workspace_bytes(v, s), (s.w_size() + s.K) * sizeof(float));
  }
}

TEST(Conv2dCudaHost, BadArgumentsAreRejectedWithMessages) {
  UNET_REQUIRE_CUDA_BUILD();
  const Conv2dVariant v = Conv2dVariant::kV2Tiled;
  float d = 0;
  Conv2dShape s = conv2d_shape(1, 4, 4, 0, 1, 3, 3, 1, 1, 1, 1);
  expect_invalid([&] { conv2d_forward_cuda(v, s, &d, &d, nullptr, &d, false, nullptr, nullptr); },
                 "conv2d_forward_cuda: invalid shape (N=1 H=4 W=4 C=0");
  s = conv2d_shape(1, 2, 2, 1, 1, 5, 5, 0, 0, 1, 1);
  expect_invalid([&] { conv2d_backward_data_cuda(v, s, &d, &d, nullptr, &d, nullptr, nullptr); },
                 "conv2d_backward_data_cuda: filter larger than the padded input");
  s = conv2d_shape(1, 4, 4, 1, 1, 3, 3, 1, 1, 0, 0);
  expect_invalid([&] { conv2d_backward_weight_workspace_bytes(v, s); },
                 "sizes and strides must be positive");
  s = conv2d_shape(1, 4, 4, 1, 1, 3, 3, 1, 1, 1, 1);
  expect_invalid(
      [&] { conv2d_forward_cuda(v, s, nullptr, &d, nullptr, &d, false, nullptr, nullptr); },
      "conv2d_forward_cuda: x is null");
  expect_invalid(
      [&] { conv2d_backward_data_cuda(v, s, &d, &d, nullptr, nullptr, nullptr, nullptr); },
      "conv2d_backward_data_cuda: dx is null");
  expect_invalid(
      [&] { conv2d_backward_weight_cuda(v, s, &d, &d, nullptr, &d, nullptr, nullptr, nullptr); },
      "conv2d_backward_weight_cuda: workspace is null but");
  s = conv2d_shape(1 << 16, 256, 256, 1, 1, 3, 3, 1, 1, 1, 1);  // 2^32 input elements
  expect_invalid([&] { conv2d_forward_workspace_bytes(v, s); }, "too large for 32-bit indexing");
}

// Without the CUDA backend every CUDA entry point is a stub (conv2d_cuda_stub.cpp) that says so.
TEST(Conv2dCudaHost, StubsSayTheBuildHasNoCudaBackend) {
  if (unet::testing::cuda_backend_built()) GTEST_SKIP() << "built with the CUDA backend";
  const Conv2dVariant v = Conv2dVariant::kV2Tiled;
  const Conv2dShape s = conv2d_shape(1, 4, 4, 1, 1, 3, 3, 1, 1, 1, 1);
  float d = 0;
  const std::string no_cuda = "this build has no CUDA backend";
  expect_runtime_error([&] { conv2d_forward_workspace_bytes(v, s); },
                       "conv2d_forward_workspace_bytes: " + no_cuda);
  expect_runtime_error([&] { conv2d_backward_data_workspace_bytes(v, s); },
                       "conv2d_backward_data_workspace_bytes: " + no_cuda);
  expect_runtime_error([&] { conv2d_backward_weight_workspace_bytes(v, s); },
                       "conv2d_backward_weight_workspace_bytes: " + no_cuda);
  expect_runtime_error(
      [&] { conv2d_forward_cuda(v, s, &d, &d, nullptr, &d, false, nullptr, nullptr); },
      "conv2d_forward_cuda: " + no_cuda);
  expect_runtime_error(
      [&] { conv2d_backward_data_cuda(v, s, &d, &d, nullptr, &d, nullptr, nullptr); },
      "conv2d_backward_data_cuda: " + no_cuda);
  expect_runtime_error(
      [&] { conv2d_backward_weight_cuda(v, s, &d, &d, nullptr, &d, nullptr, nullptr, nullptr); },
      "conv2d_backward_weight_cuda: " + no_cuda);
}

}  // namespace
}  // namespace unet::kernels
