// Slicing orientation, stride and bilinear resampling (against hand values and a double-precision
// reference on odd sizes), mask binarisation, HU windowing and normalisation statistics.
#include "io/slicing.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "tests/testing/testing.h"

using namespace unet::io;
using unet::testing::all_close;
using unet::testing::expect_invalid;

namespace {

std::vector<float> ramp_volume(int64_t nx, int64_t ny, int64_t nz) {
  std::vector<float> v(static_cast<size_t>(nx * ny * nz));
  for (int64_t k = 0; k < nz; ++k)
    for (int64_t j = 0; j < ny; ++j)
      for (int64_t i = 0; i < nx; ++i) v[i + nx * (j + ny * k)] = i + 100.0f * j + 10000.0f * k;
  return v;
}

// Reference bilinear in double with the same half-pixel convention, written independently.
std::vector<float> ref_bilinear(const std::vector<float>& s, int h, int w, int oh, int ow) {
  std::vector<float> o(oh * ow);
  auto at = [&](int r, int c) {
    r = std::clamp(r, 0, h - 1);
    c = std::clamp(c, 0, w - 1);
    return static_cast<double>(s[r * w + c]);
  };
  for (int r = 0; r < oh; ++r)
    for (int c = 0; c < ow; ++c) {
      double y = std::max(0.0, (r + 0.5) * h / oh - 0.5),
             x = std::max(0.0, (c + 0.5) * w / ow - 0.5);
      int y0 = static_cast<int>(std::floor(y)), x0 = static_cast<int>(std::floor(x));
      double fy = y - y0, fx = x - x0;
      o[r * ow + c] =
          static_cast<float>((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
                             fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)));
    }
  return o;
}

TEST(Slicing, AxialSliceIsRowJColI) {
  const int64_t nx = 5, ny = 3, nz = 4;
  const auto v = ramp_volume(nx, ny, nz);
  std::vector<float> s(nx * ny);
  extract_axial_slice(v.data(), nx, ny, nz, 2, s.data());
  for (int64_t r = 0; r < ny; ++r)
    for (int64_t c = 0; c < nx; ++c) EXPECT_EQ(s[r * nx + c], c + 100.0f * r + 20000.0f);
  expect_invalid([&] { extract_axial_slice(v.data(), nx, ny, nz, 4, s.data()); },
                 "slice 4 out of range for nz = 4");
}

TEST(Slicing, StrideKeepsEveryOtherPixelLikeTheSeed) {
  // 512 -> 256 keeps even rows and columns (img[::2, ::2]); here 6x8 -> 3x4 and 9x3 -> 3x1.
  std::vector<float> src(6 * 8);
  for (int i = 0; i < 48; ++i) src[i] = static_cast<float>(i);
  std::vector<float> dst(12);
  resample_image(src.data(), 6, 8, dst.data(), 3, 4, Resample::kStride);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_EQ(dst[r * 4 + c], src[(2 * r) * 8 + 2 * c]);
  std::vector<float> odd(27), o3(3);
  for (int i = 0; i < 27; ++i) odd[i] = static_cast<float>(i);
  resample_image(odd.data(), 9, 3, o3.data(), 3, 1, Resample::kStride);
  EXPECT_EQ(o3, (std::vector<float>{0, 9, 18}));
  // Same size is the identity.
  std::vector<float> same(48);
  resample_image(src.data(), 6, 8, same.data(), 6, 8, Resample::kStride);
  EXPECT_EQ(same, src);
}

TEST(Slicing, StrideUpsamplingReplicatesAndInvertsDownsampling) {
  const std::vector<float> small = {1, 2, 3, 4, 5, 6};  // 2x3
  std::vector<float> big(4 * 6);
  resample_image(small.data(), 2, 3, big.data(), 4, 6, Resample::kStride);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 6; ++c) EXPECT_EQ(big[r * 6 + c], small[(r / 2) * 3 + c / 2]);
  std::vector<float> back(6);
  resample_image(big.data(), 4, 6, back.data(), 2, 3, Resample::kStride);
  EXPECT_EQ(back, small);
}

TEST(Slicing, StrideRejectsNonIntegerFactors) {
  std::vector<float> src(10 * 10), dst(9);
  expect_invalid([&] { resample_image(src.data(), 10, 10, dst.data(), 3, 3, Resample::kStride); },
                 "source 10x10 to target 3x3 is not an integer factor per axis; use bilinear");
  expect_invalid([&] { resample_image(src.data(), 10, 10, dst.data(), 0, 3, Resample::kStride); },
                 "sizes must be positive");
}

TEST(Slicing, BilinearHandValues) {
  const std::vector<float> src = {0, 1, 2, 3};  // 2x2
  std::vector<float> dst(16);
  resample_image(src.data(), 2, 2, dst.data(), 4, 4, Resample::kBilinear);
  // PyTorch interpolate(mode='bilinear', align_corners=False) gives these values.
  const std::vector<float> want = {0,   0.25, 0.75, 1,   0.5, 0.75, 1.25, 1.5,
                                   1.5, 1.75, 2.25, 2.5, 2,   2.25, 2.75, 3};
  EXPECT_TRUE(all_close(dst, want, 0, 1e-6f, "bilinear 2x2->4x4"));
  // 4 -> 2 halves: each output is the mean of a 2x2 block.
  std::vector<float> s4(16), d2(4);
  for (int i = 0; i < 16; ++i) s4[i] = static_cast<float>(i);
  resample_image(s4.data(), 4, 4, d2.data(), 2, 2, Resample::kBilinear);
  EXPECT_TRUE(all_close(d2, {2.5f, 4.5f, 10.5f, 12.5f}, 0, 1e-6f, "bilinear 4x4->2x2"));
}

TEST(Slicing, BilinearMatchesReferenceOnAwkwardSizes) {
  // fp32 interpolation vs a double reference: values are O(1), three lerps -> 1e-5 absolute.
  const int cases[][4] = {{7, 5, 3, 4},         {1, 1, 3, 2},   {5, 9, 11, 13},
                          {256, 256, 128, 128}, {13, 7, 13, 7}, {3, 17, 1, 1}};
  uint64_t seed = 10;
  for (auto& cs : cases) {
    const auto src = unet::testing::random_floats(cs[0] * cs[1], seed++);
    std::vector<float> dst(cs[2] * cs[3]);
    resample_image(src.data(), cs[0], cs[1], dst.data(), cs[2], cs[3], Resample::kBilinear);
    EXPECT_TRUE(all_close(dst, ref_bilinear(src, cs[0], cs[1], cs[2], cs[3]), 0, 1e-5f,
                          "bilinear " + std::to_string(cs[0]) + "x" + std::to_string(cs[1])));
  }
}

TEST(Slicing, MasksAreBinarisedAndZero255EqualsZeroOne) {
  const auto noise = unet::testing::random_floats(9 * 11, 3, 0, 1);
  std::vector<float> m01(noise.size()), m255(noise.size());
  for (size_t i = 0; i < noise.size(); ++i) {
    m01[i] = noise[i] > 0.6f ? 1.0f : 0.0f;
    m255[i] = m01[i] * 255.0f;
  }
  for (Resample mode : {Resample::kStride, Resample::kBilinear}) {
    std::vector<uint8_t> a(9 * 11), b(9 * 11);
    resample_mask(m01.data(), 9, 11, a.data(), 9, 11, mode);
    resample_mask(m255.data(), 9, 11, b.data(), 9, 11, mode);
    EXPECT_EQ(a, b);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], m01[i]) << resample_name(mode);
  }
  // Bilinear mask == threshold of the bilinearly resampled 0/1 image (stays aligned with images).
  std::vector<uint8_t> m(5 * 6);
  std::vector<float> img(5 * 6);
  resample_mask(m255.data(), 9, 11, m.data(), 5, 6, Resample::kBilinear);
  resample_image(m01.data(), 9, 11, img.data(), 5, 6, Resample::kBilinear);
  for (size_t i = 0; i < m.size(); ++i) EXPECT_EQ(m[i], img[i] >= 0.5f ? 1 : 0);
}

TEST(Slicing, WindowMapsLiverWindowToUnitRange) {
  std::vector<float> x = {-1000, -100, 0, 150, 400, 3000};
  apply_window(x.data(), x.size(), HuWindow{});
  EXPECT_TRUE(all_close(x, {0, 0, 0.2f, 0.5f, 1, 1}, 0, 1e-7f, "window"));
  std::vector<float> y = {-1000, 5};
  apply_window(y.data(), y.size(), HuWindow{false, 0, 0});
  EXPECT_EQ(y, (std::vector<float>{-1000, 5}));
  expect_invalid(
      [&] {
        apply_window(y.data(), y.size(), HuWindow{true, 400, -100});
      },
      "HU window [400.000000, -100.000000] is empty");
}

TEST(Slicing, StatsMatchTwoPassDoubleAcrossChunks) {
  const auto x = unet::testing::random_floats(10007, 5, -1000, 3000);
  StatsAccumulator acc;
  acc.add(x.data(), 1);
  acc.add(x.data() + 1, 4000);
  acc.add(x.data() + 4001, 0);
  acc.add(x.data() + 4001, x.size() - 4001);
  double mean = 0;
  for (float v : x) mean += v;
  mean /= x.size();
  double var = 0;
  for (float v : x) var += (v - mean) * (v - mean);
  const double sd = std::sqrt(var / x.size());
  EXPECT_EQ(acc.count(), x.size());
  EXPECT_NEAR(acc.mean(), mean, 1e-9 * std::abs(mean) + 1e-9);
  EXPECT_NEAR(acc.stddev(), sd, 1e-9 * sd);

  auto y = x;
  normalize(y.data(), y.size(), NormStats{acc.mean(), acc.stddev()});
  StatsAccumulator after;
  after.add(y.data(), y.size());
  // fp32 normalisation of values up to 3000: mean 0 and std 1 to ~1e-5.
  EXPECT_NEAR(after.mean(), 0.0, 1e-5);
  EXPECT_NEAR(after.stddev(), 1.0, 1e-5);

  std::vector<float> c(4, 7.0f);
  normalize(c.data(), c.size(), NormStats{7.0, 0.0});  // constant: divide by 1, no inf
  EXPECT_EQ(c, std::vector<float>(4, 0.0f));
}

TEST(Slicing, PrepareSliceWindowsThenResamples) {
  const int64_t nx = 8, ny = 6, nz = 3;
  std::vector<float> vol(nx * ny * nz), mask(nx * ny * nz, 0.0f);
  for (size_t i = 0; i < vol.size(); ++i) vol[i] = -200.0f + 10.0f * static_cast<float>(i);
  mask[1 * nx * ny + 2 * nx + 4] = 255.0f;  // k = 1, row 2, col 4: kept by stride 2
  mask[1 * nx * ny + 3 * nx + 4] = 255.0f;  // odd row: dropped by stride 2
  SliceOptions opt;
  opt.height = 3;
  opt.width = 4;
  std::vector<float> img(12);
  prepare_image_slice(vol.data(), nx, ny, nz, 1, opt, img.data());
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) {
      const float hu = vol[1 * nx * ny + (2 * r) * nx + 2 * c];
      EXPECT_NEAR(img[r * 4 + c], std::clamp((hu + 100.0f) / 500.0f, 0.0f, 1.0f), 1e-6f);
    }
  std::vector<uint8_t> m(12);
  EXPECT_EQ(prepare_mask_slice(mask.data(), nx, ny, nz, 1, opt, m.data()), 1u);
  EXPECT_EQ(m[1 * 4 + 2], 1);
  EXPECT_EQ(prepare_mask_slice(mask.data(), nx, ny, nz, 0, opt, m.data()), 0u);
  EXPECT_EQ(parse_resample("bilinear"), Resample::kBilinear);
  expect_invalid([] { parse_resample("cubic"); }, "unknown resample mode 'cubic'");
}

}  // namespace
