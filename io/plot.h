// Line plots for training curves (Dice / loss vs epoch): several series, axes with "nice" ticks,
// grid, legend and title, rendered into an RGB buffer (text with a built-in 5x7 bitmap font, so no
// font library is needed) and saved as PNG; the same plot as SVG (vector, real fonts).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/png.h"

namespace unet::io {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;  // same length; NaN / inf points are skipped (gaps)
};

struct PlotOptions {
  std::string title, x_label, y_label;
  int width = 640, height = 420;
  // Fixed y range when y_min < y_max (e.g. 0..1 for Dice); otherwise from the data.
  double y_min = 0, y_max = 0;
};

// Tick positions covering [lo, hi]: multiples of a 1/2/5 x 10^k step, about `target` of them,
// starting at or below lo and ending at or above hi.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Draws text with the built-in font (5x7 glyphs, 6 px advance, times `scale`). Lower case is drawn
// as upper case; unknown characters as '?'. Exposed for tests.
void draw_text(std::vector<uint8_t>& rgb, int width, int height, int x, int y,
               const std::string& text, Rgb color, int scale = 1);
// The glyph rows of a character (bit 4 = leftmost column).
const uint8_t* glyph(char c);

// The plot as an RGB buffer of options.height x options.width x 3.
std::vector<uint8_t> render_plot(const std::vector<PlotSeries>& series, const PlotOptions& options);
void write_plot_png(const std::string& path, const std::vector<PlotSeries>& series,
                    const PlotOptions& options);
std::string plot_svg(const std::vector<PlotSeries>& series, const PlotOptions& options);
void write_plot_svg(const std::string& path, const std::vector<PlotSeries>& series,
                    const PlotOptions& options);

}  // namespace unet::io
