// Fuzzes unet::io::read_nifti, header and data. niftilib reads only from a path and picks
// decompression by the extension, so the bytes go to a scratch file: "<dir>/in.nii.gz" when they
// start with the gzip magic byte, "<dir>/in.nii" otherwise (both names are exercised: a mutated
// first byte moves an input from one to the other).
//
// The harness lowers max_voxels to 2^24 so that a header claiming a huge volume is refused by the
// limit instead of by libFuzzer's 2 GB memory cap; the size limit itself is read_upload's concern
// (serve_upload_fuzz.cpp runs with the defaults).
#include <nifti1.h>

#include <cmath>
#include <cstdint>
#include <exception>

#include "fuzz/fuzz_support.h"
#include "io/nifti.h"

namespace {

bool is_scalar_real(int datatype) {
  switch (datatype) {
    case NIFTI_TYPE_INT8:
    case NIFTI_TYPE_UINT8:
    case NIFTI_TYPE_INT16:
    case NIFTI_TYPE_UINT16:
    case NIFTI_TYPE_INT32:
    case NIFTI_TYPE_UINT32:
    case NIFTI_TYPE_INT64:
    case NIFTI_TYPE_UINT64:
    case NIFTI_TYPE_FLOAT32:
    case NIFTI_TYPE_FLOAT64:
      return true;
    default:
      return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool gz = size > 0 && data[0] == 0x1f;
  const std::string path = unet::fuzz::write_scratch(gz ? "in.nii.gz" : "in.nii", data, size);
  unet::io::NiftiReadOptions options;
  options.max_voxels = int64_t{1} << 24;
  unet::io::NiftiVolume v;
  try {
    v = unet::io::read_nifti(path, options);
  } catch (const std::exception& e) {
    unet::fuzz::note_refused(e);  // the expected outcome for most mutated bytes
    return 0;
  }
  unet::fuzz::note_accepted();
  // What read_nifti promises about anything it accepts (io/nifti.h).
  const unet::io::NiftiGeometry& g = v.geometry;
  FUZZ_CHECK(g.nx > 0 && g.ny > 0 && g.nz > 0);
  FUZZ_CHECK(g.nx * g.ny * g.nz <= options.max_voxels);
  FUZZ_CHECK(v.voxels.size() == static_cast<size_t>(g.nx * g.ny * g.nz));
  for (double s : g.spacing) FUZZ_CHECK(std::isfinite(s) && s > 0);
  FUZZ_CHECK(is_scalar_real(v.source_datatype));
  FUZZ_CHECK(g.qfac == 1.0 || g.qfac == -1.0);
  FUZZ_CHECK(v.path == path);
  return 0;
}
