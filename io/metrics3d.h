// Per-volume segmentation metrics in mm (the LiTS / SLIVER07 set) and 3-D post-processing.
//
// Masks are uint8 (nonzero = inside) of nx*ny*nz voxels, i fastest; spacing in mm per axis.
//   Dice = 2|P n T| / (|P| + |T|)          VOE = 1 - |P n T| / |P u T|
//   RVD  = (|P| - |T|) / |T|   (signed: > 0 over-segmentation)
//   ASD  = mean over the surface voxels of both masks of the distance to the other mask's surface
//   MSD  = the maximum of those distances (symmetric Hausdorff distance between the surfaces)
// Surface voxels are mask voxels with a 6-neighbour outside the mask (beyond the grid = outside).
// Distances use an exact Euclidean distance transform with anisotropic spacing (Felzenszwalb &
// Huttenlocher's separable lower-envelope algorithm): O(voxels) per axis.
// Empty masks: both empty -> Dice 1, VOE 0, RVD 0, ASD 0, MSD 0 (nothing to find, nothing found);
// exactly one empty -> Dice 0, VOE 1, ASD and MSD NaN (no surface to measure to); RVD is NaN
// whenever the truth is empty and the prediction is not.
#pragma once

#include <cstdint>
#include <vector>

namespace unet::io {

struct VolumeMetrics {
  double dice = 0, voe = 0, rvd = 0, asd = 0, msd = 0;
  int64_t pred_voxels = 0, truth_voxels = 0, intersection = 0;
};

VolumeMetrics volume_metrics(const uint8_t* pred, const uint8_t* truth, int64_t nx, int64_t ny,
                             int64_t nz, const double spacing[3]);

// Surface voxels (0/1) of a mask, as defined above.
std::vector<uint8_t> surface_voxels(const uint8_t* mask, int64_t nx, int64_t ny, int64_t nz);

// Squared Euclidean distance in mm^2 from every voxel to the nearest nonzero voxel of `features`;
// +infinity everywhere when there is none.
std::vector<double> squared_distance_transform(const uint8_t* features, int64_t nx, int64_t ny,
                                               int64_t nz, const double spacing[3]);

// Keeps only the largest 6-connected component of the mask (in place; output 0/1). Ties keep the
// component containing the lowest voxel index. Returns the number of components found.
int64_t keep_largest_component(uint8_t* mask, int64_t nx, int64_t ny, int64_t nz);

}  // namespace unet::io
