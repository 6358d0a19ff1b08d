// PNG via libpng's simplified API (png_image_*), which needs no setjmp error handling; overlays.
#include "io/png.h"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "io/atomic_file.h"

namespace unet::io {
namespace {

void write_png(const std::string& path, const uint8_t* pixels, int h, int w, bool rgb) {
  if (h <= 0 || w <= 0 || pixels == nullptr) {
    throw std::invalid_argument("write_png: " + path + ": bad image " + std::to_string(h) + "x" +
                                std::to_string(w) + (pixels ? "" : " (null pixels)"));
  }
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = rgb ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  AtomicFile file(path);
  errno = 0;
  if (!png_image_write_to_file(&img, file.temp_path().c_str(), 0, pixels, 0, nullptr)) {
    // libpng's message is its own ("write error"); errno still says why stdio failed.
    const int err = errno;
    const std::string msg = img.message;
    png_image_free(&img);
    throw std::runtime_error(path + ": cannot write PNG (" + msg +
                             (err ? ": " + std::string(std::strerror(err)) : "") + "); " +
                             (err == EACCES || err == EROFS ? "check the folder is writable"
                                                            : write_failure_advice(err)));
  }
  file.commit();
}

}  // namespace

void write_png_gray(const std::string& path, const uint8_t* pixels, int h, int w) {
  write_png(path, pixels, h, w, false);
}
void write_png_rgb(const std::string& path, const uint8_t* rgb, int h, int w) {
  write_png(path, rgb, h, w, true);
}

PngImage read_png(const std::string& path) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path.c_str())) {
    throw std::runtime_error(path + ": cannot read PNG (" + std::string(img.message) + ")");
  }
  const bool color = (img.format & PNG_FORMAT_FLAG_COLOR) != 0;
  img.format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  PngImage out;
  out.h = static_cast<int>(img.height);
  out.w = static_cast<int>(img.width);
  out.channels = color ? 3 : 1;
  out.pixels.resize(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, nullptr, out.pixels.data(), 0, nullptr)) {
    const std::string msg = img.message;
    png_image_free(&img);
    throw std::runtime_error(path + ": cannot decode PNG (" + msg + ")");
  }
  return out;
}

std::vector<uint8_t> to_gray_u8(const float* x, size_t n, float lo, float hi) {
  if (!(lo < hi) && n > 0) {
    lo = *std::min_element(x, x + n);
    hi = *std::max_element(x, x + n);
  }
  const float scale = hi > lo ? 255.0f / (hi - lo) : 0.0f;
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    const float v = (std::min(std::max(x[i], lo), hi) - lo) * scale;
    out[i] = static_cast<uint8_t>(v + 0.5f);
  }
  return out;
}

std::vector<uint8_t> mask_boundary(const uint8_t* mask, int h, int w) {
  std::vector<uint8_t> b(static_cast<size_t>(h) * w, 0);
  auto in = [&](int y, int x) { return y >= 0 && y < h && x >= 0 && x < w && mask[y * w + x]; };
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (in(y, x) && (!in(y - 1, x) || !in(y + 1, x) || !in(y, x - 1) || !in(y, x + 1))) {
        b[y * w + x] = 1;
      }
  return b;
}

std::vector<uint8_t> make_overlay(const float* image, int h, int w, float lo, float hi,
                                  const uint8_t* pred, const uint8_t* truth, Rgb pred_color,
                                  Rgb truth_color) {
  const size_t n = static_cast<size_t>(h) * w;
  const std::vector<uint8_t> gray = to_gray_u8(image, n, lo, hi);
  std::vector<uint8_t> rgb(n * 3);
  for (size_t i = 0; i < n; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = gray[i];
  auto paint = [&](const uint8_t* mask, Rgb c) {
    const std::vector<uint8_t> b = mask_boundary(mask, h, w);
    for (size_t i = 0; i < n; ++i) {
      if (b[i]) {
        rgb[3 * i] = c.r;
        rgb[3 * i + 1] = c.g;
        rgb[3 * i + 2] = c.b;
      }
    }
  };
  if (truth) paint(truth, truth_color);
  if (pred) paint(pred, pred_color);
  return rgb;
}

void write_overlay_png(const std::string& path, const float* image, int h, int w, float lo,
                       float hi, const uint8_t* pred, const uint8_t* truth) {
  const std::vector<uint8_t> rgb = make_overlay(image, h, w, lo, hi, pred, truth);
  write_png_rgb(path, rgb.data(), h, w);
}

}  // namespace unet::io
