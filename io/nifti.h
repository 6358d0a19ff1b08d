// NIfTI-1/NIfTI-2 volumes (.nii, .nii.gz) in and out, through niftilib.
//
// Reading validates everything before it allocates or converts (file, header, dimensions, datatype,
// voxel count, data length) and throws one-line std::runtime_error messages of the form
// "<path>: <what is wrong>; <what to do>". Voxels come back as float, i fastest, then j, then k,
// with scl_slope/scl_inter applied. Writing keeps the geometry (qform/sform codes and matrices,
// spacing, units) so masks overlay the input in nibabel, ITK-SNAP or Slicer, and goes through
// AtomicFile, so a failed write never leaves a half-written file behind.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace unet::io {

using Affine = std::array<std::array<double, 4>, 4>;

struct NiftiGeometry {
  int64_t nx = 0, ny = 0, nz = 0;  // voxels along i, j, k
  double spacing[3] = {1, 1, 1};   // mm (pixdim 1..3)
  int qform_code = 0, sform_code = 0;
  // As niftilib computes them on read. On write the qform is stored the NIfTI way, from
  // quatern/qfac/spacing (qto_xyz is not read back); the sform is stored from sto_xyz.
  double qto_xyz[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
  double sto_xyz[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
  double quatern[6] = {0};  // quatern_b, c, d, qoffset_x, y, z
  double qfac = 1;
  int xyzt_units = 0;  // the header's xyzt_units byte (NIFTI_UNITS_MM = 2 for the space part)
};

struct NiftiVolume {
  NiftiGeometry geometry;
  std::vector<float> voxels;  // i fastest, then j, then k
  int source_datatype = 0;    // NIFTI_TYPE_* of the file
  std::string path;
  std::string warning;  // non-empty when the file was read but a user should know something
                        // (an ANALYZE 7.5 pair has no orientation); one line, callers print it
};

struct NiftiReadOptions {
  int64_t max_voxels = 1024LL * 1024 * 1024;  // refuse larger volumes (absurd or hostile headers)
};

// Reads a 3-D volume (4-D with one volume is accepted). Datatypes: every scalar real one (int8,
// uint8, int16, uint16, int32, uint32, int64, uint64, float32, float64); complex, RGB(A) and
// float128 are refused with the datatype's name. Thread-safe (niftilib calls are serialised).
NiftiVolume read_nifti(const std::string& path, const NiftiReadOptions& options = {});

// Writes .nii or .nii.gz (chosen by the extension), NIfTI-1 unless nifti2. datatype is one of
// NIFTI_TYPE_UINT8, NIFTI_TYPE_INT16, NIFTI_TYPE_INT32, NIFTI_TYPE_FLOAT32, NIFTI_TYPE_FLOAT64;
// integer types round to nearest and clamp to the type's range (NaN becomes 0).
// Throws std::invalid_argument for a bad geometry, voxel count, datatype or extension, and
// std::runtime_error for I/O failures.
void write_nifti(const std::string& path, const NiftiGeometry& g, const std::vector<float>& voxels,
                 int datatype, bool nifti2 = false);

// The voxel-to-world (mm) matrix a viewer uses: the sform when sform_code > 0, else the qform
// (niftilib's qto_xyz, which is diag(spacing) for files without any transform).
Affine voxel_to_world(const NiftiGeometry& g);

// True when a and b describe the same voxel grid: equal dimensions, spacing within 1e-3 relative,
// and voxel_to_world placing every grid corner within 1e-3 mm. Otherwise false, with a one-line
// reason in *why (when why is not null).
bool same_grid(const NiftiGeometry& a, const NiftiGeometry& b, std::string* why);

// A geometry whose sform is `voxel_to_world` (with xform_code), and whose qform is derived from it
// when its 3x3 part is a rotation times diag(spacing) up to 1e-4 (qform_code = xform_code);
// otherwise (shear, or column lengths that differ from the spacing) the qform is left unset.
NiftiGeometry geometry_from_affine(int64_t nx, int64_t ny, int64_t nz, const double spacing[3],
                                   const Affine& voxel_to_world, int xform_code, int xyzt_units);

// A geometry as CT scanners export it (dcm2niix style): i runs to the patient's left, j to
// posterior, k to superior, i.e. voxel_to_world = diag(-sx, -sy, sz) in RAS world coordinates,
// with the grid centred on the origin; qform and sform both set with code 1 (scanner), units mm.
// An axial slice shown with i as columns and j as rows then looks like a radiological view:
// anterior at the top, the patient's right on the image's left.
NiftiGeometry make_geometry(int64_t nx, int64_t ny, int64_t nz, double sx, double sy, double sz);

}  // namespace unet::io
