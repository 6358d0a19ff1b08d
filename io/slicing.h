// Axial slicing, resampling, HU windowing and normalisation: the per-slice half of the original
// data.py, on raw float buffers (no Tensor, no NIfTI types).
//
// Orientation (used everywhere, including unet_predict's write-back): a volume stores voxel (i, j,
// k) at i + nx * (j + ny * k) (NIfTI order, i fastest). Axial slice k is the 2-D image with row = j
// and col = i, so H = ny, W = nx and the slice is the contiguous block starting at k*nx*ny. Cost:
// every function here is one pass over its input (bilinear reads 4 source pixels per output).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace unet::io {

enum class Resample {
  kStride,    // the seed's way: keep every f-th pixel (512 -> 256 keeps even rows/cols); needs
              // the source size to be an integer multiple of the target size
  kBilinear,  // any size; half-pixel centres (PyTorch interpolate, align_corners=False)
};
const char* resample_name(Resample r);          // "stride" / "bilinear"
Resample parse_resample(const std::string& s);  // throws std::invalid_argument

struct HuWindow {
  bool enabled = true;
  float lo = -100.0f;  // the usual liver window
  float hi = 400.0f;
};

struct SliceOptions {
  int height = 256;  // output slice size
  int width = 256;
  Resample resample = Resample::kStride;
  HuWindow window;
};

// Copies axial slice k of a volume (nx, ny, nz) into out[ny * nx] (row = j, col = i).
void extract_axial_slice(const float* volume, int64_t nx, int64_t ny, int64_t nz, int64_t k,
                         float* out);

// Resamples an image [src_h, src_w] to [dst_h, dst_w].
// kStride: downsampling by integer factors src/dst per axis (pixel (r, c) <- (r*fy, c*fx)); the
// inverse direction (dst a multiple of src) replicates pixels (nearest), which is how stride-made
// predictions go back onto the original grid. Other ratios throw std::invalid_argument naming the
// sizes and suggesting bilinear.
void resample_image(const float* src, int64_t src_h, int64_t src_w, float* dst, int64_t dst_h,
                    int64_t dst_w, Resample mode);

// Same for a 0/1 mask: the input is binarised first (value > 0.5, so 0/1 and 0/255 masks agree),
// then resampled like the image and thresholded at 0.5, so bilinear masks stay aligned with
// bilinear images. Output is 0/1.
void resample_mask(const float* src, int64_t src_h, int64_t src_w, uint8_t* dst, int64_t dst_h,
                   int64_t dst_w, Resample mode);

// Clamps to [lo, hi] and maps linearly to [0, 1]. No-op when !window.enabled.
// Throws std::invalid_argument when enabled and hi <= lo.
void apply_window(float* x, size_t n, const HuWindow& window);

// Mean and (population) standard deviation, accumulated in double across many slices so the
// training-set stats do not depend on slice order beyond rounding of the final division.
class StatsAccumulator {
 public:
  void add(const float* x, size_t n);
  size_t count() const { return n_; }
  double mean() const;
  double stddev() const;  // population std; 0 when count() < 1

 private:
  // Chan et al.'s pairwise merge of (count, mean, M2): exact enough in double for 1e9 voxels.
  size_t n_ = 0;
  double mean_ = 0.0;
  double m2_ = 0.0;
};

struct NormStats {
  double mean = 0.0;
  double std = 1.0;
};
// x <- (x - mean) / std. A std below 1e-12 (constant data) divides by 1 instead of exploding.
void normalize(float* x, size_t n, const NormStats& stats);

// One full pipeline step: extract slice k, window, resample to options' size. out has
// options.height * options.width floats. Normalisation is applied later (it needs the stats of
// every kept training slice).
void prepare_image_slice(const float* volume, int64_t nx, int64_t ny, int64_t nz, int64_t k,
                         const SliceOptions& options, float* out);
// Mask slice k, binarised and resampled to options' size (0/1). Returns the number of ones.
size_t prepare_mask_slice(const float* mask_volume, int64_t nx, int64_t ny, int64_t nz, int64_t k,
                          const SliceOptions& options, uint8_t* out);

}  // namespace unet::io
