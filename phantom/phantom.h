// A synthetic abdominal CT phantom with a liver mask (DESIGN.md section 7): a stand-in for
// 3D-IRCADb, which cannot be downloaded here. Built so that a U-Net has something to learn and a
// global HU threshold does not solve it: the spleen has the liver's HU range, muscle and bowel
// overlap it, vessels and lesions inside the liver (both part of the mask) fall outside it, and
// noise, partial-volume blur and a random global offset smear every range. See docs/DATA.md.
#pragma once

#include <cstdint>
#include <vector>

#include "io/nifti.h"

namespace unet::phantom {

// What each voxel is, before blur and noise (kept only when PhantomOptions::keep_tissue is set).
enum class Tissue : uint8_t {
  kAir = 0,
  kSubcutaneousFat,
  kMuscle,  // abdominal wall, paraspinal muscles, psoas
  kVisceralFat,
  kBowel,
  kBowelGas,
  kStomach,  // fluid, wall and gas
  kLiver,
  kLiverVessel,  // inside the liver: part of the liver mask
  kLiverLesion,  // inside the liver: part of the liver mask
  kGallbladder,
  kSpleen,
  kKidney,
  kAorta,
  kVenaCava,
  kBone,  // vertebrae and ribs
  kSpinalCanal,
  kLung,
  kHeart,
  kCount
};
const char* tissue_name(Tissue t);

struct PhantomOptions {
  int nx = 512, ny = 512;
  int nz = 0;  // 0: drawn from [nz_min, nz_max] with the case's seed
  uint64_t seed = 1;
  int nz_min = 60, nz_max = 200;
  bool keep_tissue = false;  // fill Phantom::tissue (tests, docs)
};

// Parameters drawn for one case, for reports and tests.
struct PhantomInfo {
  double noise_sigma_hu = 0;  // Gaussian noise, 8..18
  double offset_hu = 0;       // added to every voxel, -20..20
  double liver_hu = 0;        // liver parenchyma before offset, 50..70
  bool enhanced_vessels = false;
  int lesions = 0;
  int liver_first_slice = -1, liver_last_slice = -1;  // k range holding liver, -1 when none
  int64_t liver_voxels = 0;
};

struct Phantom {
  io::NiftiGeometry geometry;   // make_geometry(nx, ny, nz, ...): LPS voxel order, qform = sform
  std::vector<int16_t> hu;      // Hounsfield units, i fastest, then j, then k (k = 0 inferior)
  std::vector<uint8_t> liver;   // 1 = liver (parenchyma, vessels, lesions), 0 = not
  std::vector<uint8_t> tissue;  // Tissue per voxel when keep_tissue, else empty
  PhantomInfo info;
};

// Deterministic for a given options.seed (same seed, same bits); cases with different seeds
// differ in shape, size, position, intensities and noise. Throws std::invalid_argument for
// sizes below 16x16x4 or above 4096x4096x2048.
Phantom make_phantom(const PhantomOptions& options);

// The global-threshold baseline: the best HU window [lo, hi] (both ends on a grid of `step_hu`
// between -300 and 600) classifying "liver" over all voxels of all cases, and its pooled Dice
// 2|P∩T| / (|P| + |T|).
struct ThresholdResult {
  double dice = 0;
  int lo = 0, hi = 0;
};
ThresholdResult best_threshold_dice(const std::vector<Phantom>& cases, int step_hu = 5);
// Pooled Dice of the window [lo, hi] (inclusive) over the cases.
double window_dice(const std::vector<Phantom>& cases, int lo, int hi);

}  // namespace unet::phantom
