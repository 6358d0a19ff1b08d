// Voxel orientation: which world direction each stored voxel axis runs to, and the axis
// permutation + flips that bring any stored voxel order to one canonical order before slicing.
//
// The same CT can be stored in 48 voxel orders (3! axis permutations times 2^3 flips) that all
// describe the same anatomy through their voxel-to-world affine. The network only ever sees axial
// slices in one layout, so every reader of volumes (unet_prepare, unet_predict, unet_serve) first
// reorients to the canonical order and writes masks back in the input's own order.
//
// Canonical order here is "LPS": i runs to the patient's Left, j to Posterior, k to Superior (NIfTI
// world is RAS+, so the affine's diagonal signs are -, -, +). It is what DICOM converters such as
// dcm2niix write for axial CT, what io::make_geometry and the phantom use, and it shows an axial
// slice (row = j, col = i) the radiological way: anterior at the top, the patient's right on the
// image's left. Volumes already in LPS order are left bitwise unchanged.
//
// Like nibabel's io_orientation / as_closest_canonical and MONAI's Orientation, the choice is the
// closest axis-aligned orientation: an oblique affine is not resampled, its voxels are only
// permuted and flipped. A header with neither qform nor sform (qform_code = sform_code = 0, e.g.
// ANALYZE 7.5) carries no orientation: its voxels are taken as stored.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "io/nifti.h"

namespace unet::io {

// A permutation with flips between two voxel orders of one grid: output axis a is input axis
// source[a], reversed when flip[a]. Output voxel (c0, c1, c2) is input voxel s with
// s[source[a]] = flip[a] ? n_in[source[a]] - 1 - c[a] : c[a].
struct AxisMap {
  std::array<int, 3> source{0, 1, 2};
  std::array<bool, 3> flip{false, false, false};
  bool identity() const;
  AxisMap inverse() const;  // maps the output order back to the input order
};

// The canonical order's axis codes ("LPS"), one letter per voxel axis i, j, k.
constexpr const char* kCanonicalAxes = "LPS";

// Per voxel axis the world direction it increases toward (RAS+ world): three letters from R/L,
// A/P, S/I, e.g. "LPS" or "RAS". Greedy closest match: the largest direction cosine is assigned
// first (ties to the lower axis), so each world axis is used once. Throws std::invalid_argument
// naming `where` for a singular or non-finite 3x3 part.
std::string axis_codes(const Affine& voxel_to_world, const std::string& where);

// True when the header has an orientation (qform_code or sform_code > 0).
bool has_orientation(const NiftiGeometry& g);

// "LPS"-style codes of a geometry, or "none" when it has no orientation.
std::string orientation_name(const NiftiGeometry& g, const std::string& where);

// The map from a stored voxel order with these axis codes to the canonical order; "none" gives the
// identity. Throws std::invalid_argument for codes that are not a valid three-letter set.
AxisMap map_to_canonical(const std::string& codes);
// Same, from a geometry.
AxisMap map_to_canonical(const NiftiGeometry& g, const std::string& where);

// The geometry of the output grid of `map`: dimensions and spacing permuted, voxel_to_world
// composed with the map (so every voxel keeps its world position), stored as sform and qform with
// the input's codes. Units are kept.
NiftiGeometry remap_geometry(const NiftiGeometry& g, const AxisMap& map);

// Voxels of an (nx, ny, nz) grid, i fastest, rearranged by `map` (output also i fastest).
template <typename T>
std::vector<T> remap_voxels(const std::vector<T>& in, int64_t nx, int64_t ny, int64_t nz,
                            const AxisMap& map);

// A volume in canonical order, with what is needed to go back.
struct CanonicalVolume {
  NiftiVolume volume;       // voxels and geometry in canonical order; same path and datatype
  std::string stored_axes;  // the input's axis codes ("none" without orientation)
  AxisMap to_canonical;     // input order -> canonical order
};
// Takes the volume by value: an rvalue already in canonical order is moved, not copied.
CanonicalVolume to_canonical(NiftiVolume stored);

}  // namespace unet::io
