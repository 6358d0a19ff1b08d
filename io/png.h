// 8-bit PNG writing and reading (libpng's simplified API; writes are atomic) and the prediction
// overlays of unet_predict: a windowed CT slice in grey with the predicted liver boundary in yellow
// (like skimage.segmentation.mark_boundaries in the original notebook) and, optionally, the
// ground-truth boundary in cyan.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace unet::io {

// pixels: h*w (gray) or h*w*3 (RGB, interleaved), row-major, top row first.
void write_png_gray(const std::string& path, const uint8_t* pixels, int h, int w);
void write_png_rgb(const std::string& path, const uint8_t* rgb, int h, int w);

struct PngImage {
  int h = 0, w = 0, channels = 0;  // channels 1 (gray) or 3 (RGB)
  std::vector<uint8_t> pixels;
};
// Reads any PNG, converted to 8-bit gray (when the file is gray) or RGB. Throws
// std::runtime_error "<path>: ...".
PngImage read_png(const std::string& path);

// Maps [lo, hi] linearly to 0..255 (clamped). lo >= hi means "use the data's min and max".
std::vector<uint8_t> to_gray_u8(const float* x, size_t n, float lo, float hi);

// Boundary of a 0/1 mask: mask pixels with a 4-neighbour outside the mask; pixels beyond the image
// edge count as outside, so a mask touching the border is outlined there too.
std::vector<uint8_t> mask_boundary(const uint8_t* mask, int h, int w);

struct Rgb {
  uint8_t r, g, b;
};
constexpr Rgb kYellow{255, 255, 0};
constexpr Rgb kCyan{0, 255, 255};

// RGB overlay: gray = to_gray_u8(image, lo, hi); truth boundary (when truth != nullptr) painted
// first in truth_color, then the prediction boundary in pred_color on top.
std::vector<uint8_t> make_overlay(const float* image, int h, int w, float lo, float hi,
                                  const uint8_t* pred, const uint8_t* truth = nullptr,
                                  Rgb pred_color = kYellow, Rgb truth_color = kCyan);
void write_overlay_png(const std::string& path, const float* image, int h, int w, float lo,
                       float hi, const uint8_t* pred, const uint8_t* truth = nullptr);

}  // namespace unet::io
