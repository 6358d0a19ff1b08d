// Slicing, resampling, windowing, normalisation. See slicing.h for the orientation convention.
#include "io/slicing.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace unet::io {
namespace {

std::string size_str(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

void check_sizes(const char* op, int64_t src_h, int64_t src_w, int64_t dst_h, int64_t dst_w) {
  if (src_h <= 0 || src_w <= 0 || dst_h <= 0 || dst_w <= 0) {
    throw std::invalid_argument(std::string(op) + ": sizes must be positive (source " +
                                size_str(src_h, src_w) + ", target " + size_str(dst_h, dst_w) +
                                ")");
  }
}

// Integer factor for one axis in stride mode: down (src = f * dst) or up (dst = f * src).
// Returns f > 0 for down, -f for up.
int64_t stride_factor(int64_t src, int64_t dst, int64_t src_h, int64_t src_w, int64_t dst_h,
                      int64_t dst_w) {
  if (src >= dst && src % dst == 0) return src / dst;
  if (dst > src && dst % src == 0) return -(dst / src);
  throw std::invalid_argument("resample stride: source " + size_str(src_h, src_w) + " to target " +
                              size_str(dst_h, dst_w) +
                              " is not an integer factor per axis; use bilinear resampling "
                              "(--resample bilinear) or a --size that divides the slice size");
}

// Bilinear with half-pixel centres and edge clamping (PyTorch align_corners=False).
void bilinear(const float* src, int64_t src_h, int64_t src_w, float* dst, int64_t dst_h,
              int64_t dst_w) {
  const double sy = static_cast<double>(src_h) / dst_h;
  const double sx = static_cast<double>(src_w) / dst_w;
  std::vector<int64_t> x0(dst_w), x1(dst_w);
  std::vector<float> fx(dst_w);
  for (int64_t c = 0; c < dst_w; ++c) {
    double x = std::max(0.0, (c + 0.5) * sx - 0.5);
    int64_t i = std::min<int64_t>(static_cast<int64_t>(x), src_w - 1);
    x0[c] = i;
    x1[c] = std::min<int64_t>(i + 1, src_w - 1);
    fx[c] = static_cast<float>(x - i);
  }
  for (int64_t r = 0; r < dst_h; ++r) {
    double y = std::max(0.0, (r + 0.5) * sy - 0.5);
    int64_t j = std::min<int64_t>(static_cast<int64_t>(y), src_h - 1);
    const int64_t j1 = std::min<int64_t>(j + 1, src_h - 1);
    const float fy = static_cast<float>(y - j);
    const float* a = src + j * src_w;
    const float* b = src + j1 * src_w;
    float* o = dst + r * dst_w;
    for (int64_t c = 0; c < dst_w; ++c) {
      const float top = a[x0[c]] + fx[c] * (a[x1[c]] - a[x0[c]]);
      const float bot = b[x0[c]] + fx[c] * (b[x1[c]] - b[x0[c]]);
      o[c] = top + fy * (bot - top);
    }
  }
}

}  // namespace

const char* resample_name(Resample r) { return r == Resample::kStride ? "stride" : "bilinear"; }

Resample parse_resample(const std::string& s) {
  if (s == "stride") return Resample::kStride;
  if (s == "bilinear") return Resample::kBilinear;
  throw std::invalid_argument("unknown resample mode '" + s + "'; use 'stride' or 'bilinear'");
}

void extract_axial_slice(const float* volume, int64_t nx, int64_t ny, int64_t nz, int64_t k,
                         float* out) {
  if (k < 0 || k >= nz) {
    throw std::invalid_argument("extract_axial_slice: slice " + std::to_string(k) +
                                " out of range for nz = " + std::to_string(nz));
  }
  std::memcpy(out, volume + k * nx * ny, sizeof(float) * static_cast<size_t>(nx * ny));
}

void resample_image(const float* src, int64_t src_h, int64_t src_w, float* dst, int64_t dst_h,
                    int64_t dst_w, Resample mode) {
  check_sizes("resample", src_h, src_w, dst_h, dst_w);
  if (mode == Resample::kBilinear) {
    bilinear(src, src_h, src_w, dst, dst_h, dst_w);
    return;
  }
  const int64_t fy = stride_factor(src_h, dst_h, src_h, src_w, dst_h, dst_w);
  const int64_t fx = stride_factor(src_w, dst_w, src_h, src_w, dst_h, dst_w);
  for (int64_t r = 0; r < dst_h; ++r) {
    const int64_t sr = fy > 0 ? r * fy : r / -fy;
    for (int64_t c = 0; c < dst_w; ++c) {
      const int64_t sc = fx > 0 ? c * fx : c / -fx;
      dst[r * dst_w + c] = src[sr * src_w + sc];
    }
  }
}

void resample_mask(const float* src, int64_t src_h, int64_t src_w, uint8_t* dst, int64_t dst_h,
                   int64_t dst_w, Resample mode) {
  check_sizes("resample_mask", src_h, src_w, dst_h, dst_w);
  std::vector<float> bin(static_cast<size_t>(src_h * src_w));
  for (size_t i = 0; i < bin.size(); ++i) bin[i] = src[i] > 0.5f ? 1.0f : 0.0f;
  std::vector<float> out(static_cast<size_t>(dst_h * dst_w));
  resample_image(bin.data(), src_h, src_w, out.data(), dst_h, dst_w, mode);
  for (size_t i = 0; i < out.size(); ++i) dst[i] = out[i] >= 0.5f ? 1 : 0;
}

void apply_window(float* x, size_t n, const HuWindow& window) {
  if (!window.enabled) return;
  if (!(window.hi > window.lo)) {
    throw std::invalid_argument("HU window [" + std::to_string(window.lo) + ", " +
                                std::to_string(window.hi) +
                                "] is empty; pass lo < hi, e.g. --window -100,400");
  }
  const float lo = window.lo, hi = window.hi, inv = 1.0f / (hi - lo);
  for (size_t i = 0; i < n; ++i) x[i] = (std::min(std::max(x[i], lo), hi) - lo) * inv;
}

void StatsAccumulator::add(const float* x, size_t n) {
  if (n == 0) return;
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += x[i];
  const double m = s / static_cast<double>(n);
  double m2 = 0.0;
  for (size_t i = 0; i < n; ++i) m2 += (x[i] - m) * (x[i] - m);
  const double na = static_cast<double>(n_), nb = static_cast<double>(n), nt = na + nb;
  const double delta = m - mean_;
  mean_ += delta * nb / nt;
  m2_ += m2 + delta * delta * na * nb / nt;
  n_ += n;
}

double StatsAccumulator::mean() const { return mean_; }
double StatsAccumulator::stddev() const {
  return n_ == 0 ? 0.0 : std::sqrt(m2_ / static_cast<double>(n_));
}

void normalize(float* x, size_t n, const NormStats& stats) {
  const double sd = stats.std < 1e-12 ? 1.0 : stats.std;
  const float mean = static_cast<float>(stats.mean), inv = static_cast<float>(1.0 / sd);
  for (size_t i = 0; i < n; ++i) x[i] = (x[i] - mean) * inv;
}

void prepare_image_slice(const float* volume, int64_t nx, int64_t ny, int64_t nz, int64_t k,
                         const SliceOptions& options, float* out) {
  std::vector<float> slice(static_cast<size_t>(nx * ny));
  extract_axial_slice(volume, nx, ny, nz, k, slice.data());
  // Window at full resolution, before resampling: clamping bone/air first keeps their extreme HU
  // from bleeding into neighbouring soft tissue under bilinear interpolation.
  apply_window(slice.data(), slice.size(), options.window);
  resample_image(slice.data(), ny, nx, out, options.height, options.width, options.resample);
}

size_t prepare_mask_slice(const float* mask_volume, int64_t nx, int64_t ny, int64_t nz, int64_t k,
                          const SliceOptions& options, uint8_t* out) {
  std::vector<float> slice(static_cast<size_t>(nx * ny));
  extract_axial_slice(mask_volume, nx, ny, nz, k, slice.data());
  resample_mask(slice.data(), ny, nx, out, options.height, options.width, options.resample);
  size_t ones = 0;
  for (int64_t i = 0; i < int64_t{options.height} * options.width; ++i) ones += out[i];
  return ones;
}

}  // namespace unet::io
