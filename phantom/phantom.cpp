// The synthetic CT phantom (DESIGN.md section 7, docs/DATA.md).
//
// Anatomy lives in normalised coordinates: u in (-1, 1) across columns i (u > 0 is the patient's
// left), v in (-1, 1) down rows j (v < 0 anterior), t in (0, 1) along slices k (t > 0.5 superior).
// Organs are "blobs": ellipsoids with their own centre drift along t, in-plane rotation, separate
// upper and lower extents, and a smooth random deformation (a few low-frequency sinusoid
// products) added to the implicit function. Each slice is rendered on its own (so slices can run
// in parallel and every slice's noise has its own random stream), then blurred in-plane; the
// z-blur, global offset and noise follow per output slice.
//
// Cost per voxel: the body pass is a few multiply-adds (the deformation fields are only evaluated
// in the band near the skin), each organ touches only its bounding box, the blur is 3+3+3 taps
// and the noise one table lookup: 512x512x150 takes about two seconds on one core.
#include "phantom/phantom.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "phantom/phantom_model.h"

namespace unet::phantom {
namespace {

using namespace detail;
using T = Tissue;

// Standard normal draws by inverse CDF: a table of 1025 quantiles interpolated linearly, indexed
// by 32 random bits. Four times cheaper than Box-Muller (no log, sqrt, sin, cos per voxel); the
// tails stop at about 3.4 sigma, which CT-like noise after rounding to whole HU does not miss.
class NormalTable {
 public:
  NormalTable() {
    for (int n = 0; n <= kSize; ++n) {
      const double p = (n + 0.5) / (kSize + 1);  // midpoints keep the table symmetric
      double lo = -8, hi = 8;                    // bisection on Phi(x) = p
      for (int it = 0; it < 60; ++it) {
        const double mid = 0.5 * (lo + hi);
        (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
      }
      q_[n] = float(0.5 * (lo + hi));
    }
  }
  float draw(uint32_t bits) const {
    const uint32_t idx = bits >> 22;                         // 10 bits: table cell
    const float frac = float(bits & 0x3fffff) * 0x1.0p-22f;  // 22 bits: position in the cell
    return q_[idx] + frac * (q_[idx + 1] - q_[idx]);
  }

 private:
  static constexpr int kSize = 1024;
  float q_[kSize + 1];
};

}  // namespace

const char* tissue_name(Tissue t) {
  static const char* const names[] = {
      "air",         "subcutaneous fat", "muscle", "visceral fat", "bowel",
      "bowel gas",   "stomach",          "liver",  "liver vessel", "liver lesion",
      "gallbladder", "spleen",           "kidney", "aorta",        "vena cava",
      "bone",        "spinal canal",     "lung",   "heart"};
  const int i = int(t);
  return i >= 0 && i < int(Tissue::kCount) ? names[i] : "unknown";
}

Phantom make_phantom(const PhantomOptions& o) {
  if (o.nx < 16 || o.ny < 16 || o.nx > 4096 || o.ny > 4096) {
    throw std::invalid_argument("make_phantom: slice size " + std::to_string(o.nx) + "x" +
                                std::to_string(o.ny) + " must be between 16 and 4096");
  }
  const int lo = o.nz > 0 ? o.nz : o.nz_min, hi = o.nz > 0 ? o.nz : o.nz_max;
  if (lo < 4 || hi > 2048 || lo > hi) {
    throw std::invalid_argument("make_phantom: slice count range " + std::to_string(lo) + ".." +
                                std::to_string(hi) + " must lie within 4..2048 with min <= max");
  }
  Rng rng(o.seed, 0);
  const Case c = draw_case(o, rng);
  const Grid& g = c.grid;
  Phantom p;
  p.info = c.info;
  p.geometry = io::make_geometry(g.nx, g.ny, g.nz, c.spacing[0], c.spacing[1], c.spacing[2]);
  const size_t plane = size_t(g.nx) * g.ny;
  p.hu.resize(plane * g.nz);
  p.liver.resize(plane * g.nz);
  if (o.keep_tissue) p.tissue.resize(plane * g.nz);

  // Slices are rendered in chunks (plus one neighbour on each side for the z-blur), so memory
  // stays at a few slices of floats whatever the volume size.
  static const NormalTable normal;
  constexpr int kChunk = 16;
  std::vector<float> raw(size_t(kChunk + 2) * plane);
  std::vector<uint8_t> tis(size_t(kChunk + 2) * plane);
  for (int k0 = 0; k0 < g.nz; k0 += kChunk) {
    const int k1 = std::min(g.nz, k0 + kChunk);
    const int r0 = std::max(0, k0 - 1), r1 = std::min(g.nz, k1 + 1);
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = r0; k < r1; ++k) {
      float* hu = raw.data() + size_t(k - r0) * plane;
      render_slice(c, k, hu, tis.data() + size_t(k - r0) * plane);
      std::vector<float> tmp;
      blur_plane(hu, g.nx, g.ny, c.blur_xy, tmp);
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = k0; k < k1; ++k) {
      const float* below = raw.data() + size_t(std::max(k - 1, r0) - r0) * plane;
      const float* mid = raw.data() + size_t(k - r0) * plane;
      const float* above = raw.data() + size_t(std::min(k + 1, r1 - 1) - r0) * plane;
      const float w = float(c.blur_z), wm = float(1 - 2 * c.blur_z);
      const float offset = float(c.info.offset_hu), sigma = float(c.info.noise_sigma_hu);
      Rng noise(o.seed, 1 + uint64_t(k));  // one stream per slice: any thread order, same bits
      int16_t* out = p.hu.data() + size_t(k) * plane;
      for (size_t n = 0; n < plane; n += 2) {
        const uint64_t bits = noise.next();  // two normals from 32 random bits each
        for (size_t m = n; m < std::min(plane, n + 2); ++m) {
          const float z = normal.draw(uint32_t(bits >> (32 * (m - n))));
          const float v = w * (below[m] + above[m]) + wm * mid[m] + offset + sigma * z;
          out[m] = int16_t(std::lrint(std::clamp(v, -1024.0f, 3071.0f)));
        }
      }
      const uint8_t* labels = tis.data() + size_t(k - r0) * plane;
      uint8_t* mask = p.liver.data() + size_t(k) * plane;
      for (size_t m = 0; m < plane; ++m) {
        mask[m] = labels[m] == uint8_t(T::kLiver) || labels[m] == uint8_t(T::kLiverVessel) ||
                  labels[m] == uint8_t(T::kLiverLesion);
      }
      if (o.keep_tissue) std::copy(labels, labels + plane, p.tissue.data() + size_t(k) * plane);
    }
  }
  for (int k = 0; k < g.nz; ++k) {
    int64_t n = 0;
    const uint8_t* mask = p.liver.data() + size_t(k) * plane;
    for (size_t m = 0; m < plane; ++m) n += mask[m];
    if (n > 0) {
      if (p.info.liver_first_slice < 0) p.info.liver_first_slice = k;
      p.info.liver_last_slice = k;
    }
    p.info.liver_voxels += n;
  }
  return p;
}

}  // namespace unet::phantom
