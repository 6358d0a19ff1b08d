// Plot rendering: one layout computed once (Frame) and drawn twice, into pixels and into SVG.
#include "io/plot.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "io/atomic_file.h"

namespace unet::io {
namespace {

// 5x7 glyphs, rows top to bottom, bit 4 = leftmost column.
struct Glyph {
  char c;
  uint8_t rows[7];
};
constexpr Glyph kFont[] = {
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},
    {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},
    {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F}},
    {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},
};

constexpr Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},
                            {214, 39, 40},  {148, 103, 189}, {140, 86, 75}};
constexpr Rgb kBlack{0, 0, 0}, kGrid{225, 225, 225}, kLegendEdge{160, 160, 160};

// Layout shared by the PNG and SVG renderers.
struct Frame {
  int w, h, left, right, top, bottom;  // plot area in pixels
  double x0, x1, y0, y1;
  std::vector<double> xt, yt;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * (right - left); }
  double py(double y) const { return bottom - (y - y0) / (y1 - y0) * (bottom - top); }
};

std::string tick_label(double v, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::abs(v) < step * 1e-6 ? 0.0 : v);
  return buf;
}

Frame layout(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  if (o.width < 160 || o.height < 120) {
    throw std::invalid_argument("plot: size " + std::to_string(o.width) + "x" +
                                std::to_string(o.height) + " is too small (minimum 160x120)");
  }
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const auto& s : series) {
    if (s.x.size() != s.y.size()) {
      throw std::invalid_argument("plot: series '" + s.name + "' has " +
                                  std::to_string(s.x.size()) + " x values but " +
                                  std::to_string(s.y.size()) + " y values");
    }
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]);
      ymax = std::max(ymax, s.y[i]);
    }
  }
  if (!(xmin <= xmax)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;  // no data: empty axes
  if (o.y_min < o.y_max) ymin = o.y_min, ymax = o.y_max;
  if (xmin == xmax) xmin -= 1, xmax += 1;
  if (ymin == ymax) ymin -= 0.5, ymax += 0.5;
  Frame f;
  f.w = o.width;
  f.h = o.height;
  f.left = 64;
  f.right = o.width - 16;
  f.top = 36;
  f.bottom = o.height - 44;
  f.xt = nice_ticks(xmin, xmax);
  f.yt = nice_ticks(ymin, ymax);
  f.x0 = f.xt.front();
  f.x1 = f.xt.back();
  f.y0 = f.yt.front();
  f.y1 = f.yt.back();
  return f;
}

void put(std::vector<uint8_t>& img, int w, int h, int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= w || y >= h) return;
  uint8_t* p = &img[(static_cast<size_t>(y) * w + x) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

// Bresenham with a 2x2 brush (2-pixel lines read well at 640x420).
void line(std::vector<uint8_t>& img, int w, int h, int x0, int y0, int x1, int y1, Rgb c,
          int thick) {
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (;;) {
    for (int a = 0; a < thick; ++a)
      for (int b = 0; b < thick; ++b) put(img, w, h, x0 + a, y0 + b, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

int text_width(const std::string& s, int scale) { return static_cast<int>(s.size()) * 6 * scale; }

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string rgb_str(Rgb c) {
  return "rgb(" + std::to_string(c.r) + "," + std::to_string(c.g) + "," + std::to_string(c.b) + ")";
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi) || target < 1) {
    throw std::invalid_argument("nice_ticks: need finite lo < hi (got " + std::to_string(lo) +
                                ", " + std::to_string(hi) + ")");
  }
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw * 0.999) break;
  }
  const double first = std::floor(lo / step + 1e-9) * step;
  std::vector<double> t;
  for (int i = 0;; ++i) {
    const double v = first + i * step;
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    if (v >= hi - step * 1e-9) break;
  }
  return t;
}

const uint8_t* glyph(char c) {
  const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const Glyph& g : kFont) {
    if (g.c == u) return g.rows;
  }
  return glyph('?');
}

void draw_text(std::vector<uint8_t>& rgb, int width, int height, int x, int y,
               const std::string& text, Rgb color, int scale) {
  for (size_t n = 0; n < text.size(); ++n) {
    const uint8_t* rows = glyph(text[n]);
    const int gx = x + static_cast<int>(n) * 6 * scale;
    for (int r = 0; r < 7; ++r)
      for (int c = 0; c < 5; ++c)
        if (rows[r] & (0x10 >> c)) {
          for (int a = 0; a < scale; ++a)
            for (int b = 0; b < scale; ++b)
              put(rgb, width, height, gx + c * scale + a, y + r * scale + b, color);
        }
  }
}

std::vector<uint8_t> render_plot(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  const Frame f = layout(series, o);
  const int w = f.w, h = f.h;
  std::vector<uint8_t> img(static_cast<size_t>(w) * h * 3, 255);
  const double xstep = f.xt.size() > 1 ? f.xt[1] - f.xt[0] : 1;
  const double ystep = f.yt.size() > 1 ? f.yt[1] - f.yt[0] : 1;
  for (double t : f.xt) {
    const int x = static_cast<int>(std::lround(f.px(t)));
    line(img, w, h, x, f.top, x, f.bottom, kGrid, 1);
    line(img, w, h, x, f.bottom, x, f.bottom + 4, kBlack, 1);
    const std::string s = tick_label(t, xstep);
    draw_text(img, w, h, x - text_width(s, 1) / 2 + 1, f.bottom + 8, s, kBlack);
  }
  for (double t : f.yt) {
    const int y = static_cast<int>(std::lround(f.py(t)));
    line(img, w, h, f.left, y, f.right, y, kGrid, 1);
    line(img, w, h, f.left - 4, y, f.left, y, kBlack, 1);
    const std::string s = tick_label(t, ystep);
    draw_text(img, w, h, f.left - 7 - text_width(s, 1), y - 3, s, kBlack);
  }
  line(img, w, h, f.left, f.top, f.left, f.bottom, kBlack, 1);
  line(img, w, h, f.left, f.bottom, f.right, f.bottom, kBlack, 1);
  for (size_t si = 0; si < series.size(); ++si) {
    const PlotSeries& s = series[si];
    const Rgb c = kPalette[si % 6];
    bool have = false;
    int lx = 0, ly = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        have = false;
        continue;
      }
      const int x = static_cast<int>(std::lround(f.px(s.x[i])));
      const int y = static_cast<int>(std::lround(f.py(s.y[i])));
      if (have) line(img, w, h, lx, ly, x, y, c, 2);
      for (int a = -2; a <= 2; ++a)
        for (int b = -2; b <= 2; ++b) put(img, w, h, x + a, y + b, c);
      have = true;
      lx = x;
      ly = y;
    }
  }
  // Title (2x), axis labels, legend box in the plot's lower-right corner (training curves rise).
  draw_text(img, w, h, (w - text_width(o.title, 2)) / 2, 8, o.title, kBlack, 2);
  draw_text(img, w, h, (f.left + f.right - text_width(o.x_label, 1)) / 2, h - 16, o.x_label,
            kBlack);
  draw_text(img, w, h, 6, f.top - 14, o.y_label, kBlack);
  if (!series.empty()) {
    int lw = 0;
    for (const auto& s : series) lw = std::max(lw, text_width(s.name, 1));
    const int bw = lw + 36, bh = static_cast<int>(series.size()) * 14 + 8;
    const int bx = f.right - bw - 8, by = f.bottom - bh - 8;
    for (int y = by; y < by + bh; ++y)
      for (int x = bx; x < bx + bw; ++x) put(img, w, h, x, y, Rgb{255, 255, 255});
    line(img, w, h, bx, by, bx + bw, by, kLegendEdge, 1);
    line(img, w, h, bx, by + bh, bx + bw, by + bh, kLegendEdge, 1);
    line(img, w, h, bx, by, bx, by + bh, kLegendEdge, 1);
    line(img, w, h, bx + bw, by, bx + bw, by + bh, kLegendEdge, 1);
    for (size_t si = 0; si < series.size(); ++si) {
      const int y = by + 8 + static_cast<int>(si) * 14;
      line(img, w, h, bx + 6, y + 3, bx + 24, y + 3, kPalette[si % 6], 2);
      draw_text(img, w, h, bx + 30, y, series[si].name, kBlack);
    }
  }
  return img;
}

void write_plot_png(const std::string& path, const std::vector<PlotSeries>& series,
                    const PlotOptions& options) {
  const auto img = render_plot(series, options);
  write_png_rgb(path, img.data(), options.height, options.width);
}

std::string plot_svg(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  const Frame f = layout(series, o);
  char buf[256];
  std::string s;
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                f.w, f.h, f.w, f.h);
  s += buf;
  const double xstep = f.xt.size() > 1 ? f.xt[1] - f.xt[0] : 1;
  const double ystep = f.yt.size() > 1 ? f.yt[1] - f.yt[0] : 1;
  for (double t : f.xt) {
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" stroke=\"#e1e1e1\"/>"
                  "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                  f.px(t), f.top, f.px(t), f.bottom, f.px(t), f.bottom + 16,
                  tick_label(t, xstep).c_str());
    s += buf;
  }
  for (double t : f.yt) {
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#e1e1e1\"/>"
                  "<text x=\"%d\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n",
                  f.left, f.py(t), f.right, f.py(t), f.left - 6, f.py(t) + 4,
                  tick_label(t, ystep).c_str());
    s += buf;
  }
  std::snprintf(buf, sizeof buf,
                "<polyline points=\"%d,%d %d,%d %d,%d\" fill=\"none\" stroke=\"black\"/>\n", f.left,
                f.top, f.left, f.bottom, f.right, f.bottom);
  s += buf;
  for (size_t si = 0; si < series.size(); ++si) {
    std::string pts;
    for (size_t i = 0; i < series[si].x.size(); ++i) {
      if (!std::isfinite(series[si].x[i]) || !std::isfinite(series[si].y[i])) continue;
      std::snprintf(buf, sizeof buf, "%s%.2f,%.2f", pts.empty() ? "" : " ", f.px(series[si].x[i]),
                    f.py(series[si].y[i]));
      pts += buf;
    }
    s += "<polyline points=\"" + pts + "\" fill=\"none\" stroke=\"" + rgb_str(kPalette[si % 6]) +
         "\" stroke-width=\"2\"><title>" + xml_escape(series[si].name) + "</title></polyline>\n";
  }
  std::snprintf(buf, sizeof buf, "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">",
                f.w / 2);
  s += buf + xml_escape(o.title) + "</text>\n";
  std::snprintf(buf, sizeof buf, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
                (f.left + f.right) / 2, f.h - 8);
  s += buf + xml_escape(o.x_label) + "</text>\n";
  std::snprintf(buf, sizeof buf, "<text x=\"6\" y=\"%d\">", f.top - 8);
  s += buf + xml_escape(o.y_label) + "</text>\n";
  for (size_t si = 0; si < series.size(); ++si) {
    const int y = f.bottom - 12 - static_cast<int>(series.size() - 1 - si) * 16;
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>"
                  "<text x=\"%d\" y=\"%d\">",
                  f.right - 150, y - 4, f.right - 130, y - 4, rgb_str(kPalette[si % 6]).c_str(),
                  f.right - 124, y);
    s += buf + xml_escape(series[si].name) + "</text>\n";
  }
  return s + "</svg>\n";
}

void write_plot_svg(const std::string& path, const std::vector<PlotSeries>& series,
                    const PlotOptions& options) {
  const std::string s = plot_svg(series, options);
  write_file_atomic(path, s.data(), s.size());
}

}  // namespace unet::io
