// PNG round trips read back through libpng (pixel values checked), boundary extraction on hand
// cases, and overlay colours.
#include "io/png.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/testing/temp_dir.h"
#include "tests/testing/testing.h"

namespace fs = std::filesystem;
using namespace unet::io;

namespace {

class PngTest : public ::testing::Test {
 protected:
  std::string path(const char* n) const { return dir_.file(n); }
  unet::testing::TempDir dir_{"png_test"};
};

TEST_F(PngTest, GrayAndRgbRoundTrip) {
  const int h = 5, w = 7;  // odd sizes: rows are not padded in the buffer
  std::vector<uint8_t> g(h * w), c(h * w * 3);
  for (int i = 0; i < h * w; ++i) g[i] = static_cast<uint8_t>(i * 7);
  for (int i = 0; i < h * w * 3; ++i) c[i] = static_cast<uint8_t>(255 - i * 3);
  write_png_gray(path("g.png"), g.data(), h, w);
  write_png_rgb(path("c.png"), c.data(), h, w);
  const PngImage rg = read_png(path("g.png"));
  EXPECT_EQ(rg.h, h);
  EXPECT_EQ(rg.w, w);
  EXPECT_EQ(rg.channels, 1);
  EXPECT_EQ(rg.pixels, g);
  const PngImage rc = read_png(path("c.png"));
  EXPECT_EQ(rc.channels, 3);
  EXPECT_EQ(rc.pixels, c);
  // The PNG signature is there (a real PNG, not our own format).
  std::ifstream in(path("g.png"), std::ios::binary);
  char sig[8];
  in.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
}

TEST_F(PngTest, Errors) {
  const uint8_t px = 0;
  unet::testing::expect_runtime_error([&] { write_png_gray(path("missing/x.png"), &px, 1, 1); },
                                      "missing");
  unet::testing::expect_invalid([&] { write_png_gray(path("z.png"), &px, 0, 1); }, "bad image 0x1");
  std::ofstream(path("bad.png")) << "not a png";
  unet::testing::expect_runtime_error([&] { read_png(path("bad.png")); },
                                      "bad.png: cannot read PNG");
  EXPECT_FALSE(fs::exists(path("z.png")));
}

TEST(Overlay, GrayScaling) {
  const float x[] = {-1, 0, 0.5f, 1, 2};
  EXPECT_EQ(to_gray_u8(x, 5, 0, 1), (std::vector<uint8_t>{0, 0, 128, 255, 255}));
  EXPECT_EQ(to_gray_u8(x, 5, 0, 0), (std::vector<uint8_t>{0, 85, 128, 170, 255}));  // auto range
}

TEST(Overlay, BoundaryIsMaskPixelsWithAnOutsideFourNeighbour) {
  // 5x6 mask with a 3x4 block; the interior 1x2 is not boundary. Diagonal-only contact does not
  // count (4-neighbourhood).
  const int h = 5, w = 6;
  std::vector<uint8_t> m(h * w, 0);
  for (int y = 1; y <= 3; ++y)
    for (int x = 1; x <= 4; ++x) m[y * w + x] = 1;
  const auto b = mask_boundary(m.data(), h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const bool want = m[y * w + x] && !(y == 2 && (x == 2 || x == 3));
      EXPECT_EQ(b[y * w + x], want ? 1 : 0) << y << "," << x;
    }
  // A full mask is outlined along the image edge only.
  std::vector<uint8_t> full(3 * 3, 1);
  EXPECT_EQ(mask_boundary(full.data(), 3, 3), (std::vector<uint8_t>{1, 1, 1, 1, 0, 1, 1, 1, 1}));
}

TEST_F(PngTest, OverlayBoundaryPixelsAreYellowAndTruthCyan) {
  const int h = 8, w = 9;
  std::vector<float> img(h * w);
  for (int i = 0; i < h * w; ++i) img[i] = static_cast<float>(i) / (h * w);
  std::vector<uint8_t> pred(h * w, 0), truth(h * w, 0);
  for (int y = 2; y <= 5; ++y)
    for (int x = 2; x <= 6; ++x) pred[y * w + x] = 1;
  for (int y = 3; y <= 6; ++y)
    for (int x = 1; x <= 3; ++x) truth[y * w + x] = 1;
  write_overlay_png(path("o.png"), img.data(), h, w, 0, 1, pred.data(), truth.data());
  const PngImage o = read_png(path("o.png"));
  ASSERT_EQ(o.channels, 3);
  const auto pb = mask_boundary(pred.data(), h, w), tb = mask_boundary(truth.data(), h, w);
  const auto gray = to_gray_u8(img.data(), h * w, 0, 1);
  for (int i = 0; i < h * w; ++i) {
    const uint8_t* p = &o.pixels[3 * i];
    if (pb[i]) {
      EXPECT_TRUE(p[0] == 255 && p[1] == 255 && p[2] == 0) << "pixel " << i;
    } else if (tb[i]) {
      EXPECT_TRUE(p[0] == 0 && p[1] == 255 && p[2] == 255) << "pixel " << i;
    } else {
      EXPECT_TRUE(p[0] == gray[i] && p[1] == gray[i] && p[2] == gray[i]) << "pixel " << i;
    }
  }
  // Interior of the prediction stays gray.
  EXPECT_EQ(o.pixels[3 * (3 * w + 4)], gray[3 * w + 4]);
}

}  // namespace
