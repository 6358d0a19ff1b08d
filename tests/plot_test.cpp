// Plots: nice ticks, the bitmap font, rendered pixels (axes, series colours, legend), NaN gaps,
// PNG and SVG output, and rejections.
#include "io/plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "tests/testing/temp_dir.h"
#include "tests/testing/testing.h"

using namespace unet::io;

namespace {

int count_color(const std::vector<uint8_t>& img, Rgb c) {
  int n = 0;
  for (size_t i = 0; i + 2 < img.size(); i += 3)
    n += img[i] == c.r && img[i + 1] == c.g && img[i + 2] == c.b;
  return n;
}

PlotSeries dice_curve(const std::string& name, double offset) {
  PlotSeries s{name, {}, {}};
  for (int e = 1; e <= 20; ++e) {
    s.x.push_back(e);
    s.y.push_back(0.87 - 0.6 * std::exp(-e / 4.0) - offset);
  }
  return s;
}

TEST(Plot, NiceTicks) {
  EXPECT_EQ(nice_ticks(0, 1), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
  const auto t = nice_ticks(1, 20);
  EXPECT_EQ(t.front(), 0);
  EXPECT_EQ(t.back(), 20);
  EXPECT_EQ(t[1] - t[0], 5);
  const auto n = nice_ticks(-0.37, 0.021);
  EXPECT_LE(n.front(), -0.37);
  EXPECT_GE(n.back(), 0.021);
  EXPECT_NEAR(n[1] - n[0], 0.1, 1e-12);
  EXPECT_THROW(nice_ticks(1, 1), std::invalid_argument);
}

TEST(Plot, FontAndText) {
  const uint8_t* one = glyph('1');
  EXPECT_EQ(one[0], 0x04);
  EXPECT_EQ(one[6], 0x0E);
  EXPECT_EQ(glyph('a'), glyph('A'));
  EXPECT_EQ(glyph('~'), glyph('?'));
  // "1" at (2, 1) scale 2 on a 20x20 canvas: the bottom bar 01110 -> columns 1..3 -> x 4..9.
  std::vector<uint8_t> img(20 * 20 * 3, 255);
  draw_text(img, 20, 20, 2, 1, "1", Rgb{0, 0, 0}, 2);
  auto black = [&](int x, int y) { return img[(y * 20 + x) * 3] == 0; };
  for (int x = 0; x < 20; ++x) EXPECT_EQ(black(x, 1 + 12), x >= 4 && x <= 9) << x;
  EXPECT_TRUE(black(6, 1));  // top row 00100: column 2 -> x 6..7
  EXPECT_FALSE(black(4, 1));
  EXPECT_EQ(count_color(img, Rgb{0, 0, 0}), (1 + 2 + 1 + 1 + 1 + 1 + 3) * 4);
}

TEST(Plot, RenderedPixels) {
  PlotOptions o;
  o.title = "Dice vs epoch";
  o.x_label = "epoch";
  o.y_label = "Dice";
  o.y_min = 0;
  o.y_max = 1;
  const auto img = render_plot({dice_curve("train", 0), dice_curve("val", 0.05)}, o);
  ASSERT_EQ(img.size(), 640u * 420 * 3);
  EXPECT_EQ(img[0], 255);  // white corner
  // Both series colours (palette blue, orange) are drawn generously (lines + markers + legend).
  EXPECT_GT(count_color(img, Rgb{31, 119, 180}), 300);
  EXPECT_GT(count_color(img, Rgb{255, 127, 14}), 300);
  EXPECT_EQ(count_color(img, Rgb{44, 160, 44}), 0);  // no third series
  // Axes: the left axis column is black over the plot height (x = 64, y 36..376).
  int axis = 0;
  for (int y = 36; y <= 376; ++y) axis += img[(y * 640 + 64) * 3] == 0;
  EXPECT_GT(axis, 330);
  // A point of the train curve lands where the axis mapping says: epoch 20 at x = 624 - ...
  // y range fixed 0..1: Dice 0.87 - 0.6 e^-5 = 0.866 -> y = 376 - 0.866 * 340 = 81.6.
  const int px = 64 + static_cast<int>(std::lround((20.0 - 0) / 20.0 * (624 - 64)));
  const int py = static_cast<int>(std::lround(376 - (0.87 - 0.6 * std::exp(-5.0)) * 340));
  const uint8_t* p = &img[(py * 640 + px) * 3];
  EXPECT_TRUE(p[0] == 31 && p[1] == 119 && p[2] == 180) << px << "," << py;
}

TEST(Plot, NanGapsAndEmptySeries) {
  PlotSeries s = dice_curve("loss", 0);
  for (int i = 5; i < 20; ++i) s.y[i] = NAN;
  PlotOptions o;
  const auto with_gap = render_plot({s}, o);
  EXPECT_GT(count_color(with_gap, Rgb{31, 119, 180}), 50);
  const auto nothing = render_plot({PlotSeries{"empty", {}, {}}}, o);  // empty axes, no throw
  EXPECT_EQ(nothing.size(), 640u * 420 * 3);
}

TEST(Plot, PngAndSvgFiles) {
  const unet::testing::TempDir dir("plot_test");
  PlotOptions o;
  o.title = "Dice <train & val>";
  const std::vector<PlotSeries> ss = {dice_curve("train", 0), dice_curve("val \"b\"", 0.05)};
  write_plot_png(dir.file("p.png"), ss, o);
  const PngImage back = read_png(dir.file("p.png"));
  EXPECT_EQ(back.pixels, render_plot(ss, o));
  write_plot_svg(dir.file("p.svg"), ss, o);
  std::ifstream in(dir.file("p.svg"));
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string svg = buf.str();
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("Dice &lt;train &amp; val&gt;"), std::string::npos);
  EXPECT_NE(svg.find("val &quot;b&quot;"), std::string::npos);
  // Axis polyline + one polyline per series, each series with 20 points.
  size_t pos = 0;
  int polylines = 0;
  while ((pos = svg.find("<polyline points=\"", pos)) != std::string::npos) {
    ++polylines;
    pos += 5;
  }
  EXPECT_EQ(polylines, 3);
  const size_t a = svg.find("stroke=\"rgb(31,119,180)\"");
  ASSERT_NE(a, std::string::npos);
  const size_t start = svg.rfind("points=\"", a) + 8;
  const std::string pts = svg.substr(start, svg.find('"', start) - start);
  EXPECT_EQ(std::count(pts.begin(), pts.end(), ','), 20);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

TEST(Plot, Rejections) {
  PlotOptions o;
  unet::testing::expect_invalid(
      [&] {
        render_plot({PlotSeries{"bad", {1, 2}, {1}}}, o);
      },
      "series 'bad' has 2 x values but 1 y values");
  o.width = 100;
  unet::testing::expect_invalid([&] { render_plot({}, o); }, "size 100x420 is too small");
}

}  // namespace
