// NIfTI reading through niftilib (header first, validated, then data) and writing through
// niftilib's header conversion plus our own (gz)write into an AtomicFile temp file: niftilib's
// writer picks compression from the file name, and the temp name ".tmp.<pid>.<n>" would defeat it.
#include "io/nifti.h"

#include <nifti2_io.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "io/atomic_file.h"
#include "io/orientation.h"

namespace unet::io {
namespace {

// niftilib keeps global state (debug level, options) and is not documented as thread-safe.
std::mutex& nifti_mutex() {
  static std::mutex m;
  return m;
}

struct NimDeleter {
  void operator()(nifti_image* nim) const { nifti_image_free(nim); }
};
using NimPtr = std::unique_ptr<nifti_image, NimDeleter>;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string dims_text(const int64_t* dim) {
  std::ostringstream os;
  os << "[";
  for (int64_t d = 0; d <= dim[0] && d < 8; ++d) os << (d ? ", " : "") << dim[d];
  os << "]";
  return os.str();
}

std::string datatype_name(int datatype) {
  return std::string(nifti_datatype_string(datatype)) + " (code " + std::to_string(datatype) + ")";
}

template <typename T>
void convert_to_float(const void* data, size_t n, double slope, double inter, bool scale,
                      float* out) {
  const T* src = static_cast<const T*>(data);
  if (scale) {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(double(src[i]) * slope + inter);
  } else {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(src[i]);
  }
}

// The scalar real datatypes a CT or a mask comes in. Complex, RGB(A) and float128 have no single
// real value per voxel that a segmentation could use.
bool is_real_datatype(int datatype) {
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

void check_file(const std::string& path) {
  if (path.empty()) throw std::runtime_error("read_nifti: empty path; pass a .nii or .nii.gz file");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    fail(path, std::string("cannot open (") + std::strerror(errno) +
                   "); check the path (a .nii or .nii.gz file)");
  }
  if (S_ISDIR(st.st_mode)) fail(path, "is a folder, not a NIfTI file; pass a .nii or .nii.gz file");
  if (::access(path.c_str(), R_OK) != 0) {
    fail(path, std::string("cannot be read (") + std::strerror(errno) + "); check its permissions");
  }
}

bool is_single_file_name(const std::string& path) {
  return ends_with(path, ".nii") || ends_with(path, ".nii.gz");
}

// Printable form of a 4-byte magic field for messages ("n+1", "\x00\x00\x00\x00").
std::string magic_text(const unsigned char* m) {
  std::string out;
  for (int i = 0; i < 4 && m[i] != 0; ++i) {
    char buf[8];
    if (m[i] >= 32 && m[i] < 127) {
      out += static_cast<char>(m[i]);
    } else {
      std::snprintf(buf, sizeof buf, "\\x%02x", m[i]);
      out += buf;
    }
  }
  return out.empty() ? std::string("(empty)") : out;
}

// The file holding the header: the path itself, or the .hdr beside an .img (niftilib's rule).
std::string header_file(const std::string& path) {
  for (const char* img : {".img", ".img.gz"}) {
    if (ends_with(path, img)) {
      const std::string stem = path.substr(0, path.size() - std::strlen(img));
      return stem + (ends_with(img, ".gz") ? ".hdr.gz" : ".hdr");
    }
  }
  return path;
}

// Reads the header's bytes ourselves before niftilib sees them (gzread reads plain files as they
// are), for what niftilib gets wrong:
//  - a .nii/.nii.gz must carry the single-file magic ("n+1" / "n+2"): niftilib would read a
//    348-byte header with any other magic as ANALYZE 7.5 and silently drop the orientation;
//  - dim[0] must be 1..7: niftilib 3.0.1 copies dim[1 .. dim[0]] of a NIfTI-2 header into
//    fixed arrays of 8 (a stack overflow for dim[0] = 288, found by fuzz/nifti_fuzz.cpp);
//  - vox_offset must be a plausible file offset: INT64_MAX overflows niftilib's arithmetic.
// It also keeps niftilib's own stderr complaints about non-NIfTI files from ever being printed.
void check_header_bytes(const std::string& path) {
  const std::string hdr = header_file(path);
  gzFile f = gzopen(hdr.c_str(), "rb");
  if (!f) fail(hdr, std::string("cannot open (") + std::strerror(errno) + "); check the path");
  unsigned char h[544] = {0};
  const int got = gzread(f, h, sizeof h);
  gzclose(f);
  if (got < 348) {
    fail(hdr, "is " + std::to_string(std::max(got, 0)) +
                  " bytes (after decompression), too short for a NIfTI header; the file is "
                  "truncated or not NIfTI");
  }
  int32_t le = 0;
  std::memcpy(&le, h, 4);
  const bool swap = !(le == 348 || le == 540);
  const int32_t size = swap ? static_cast<int32_t>(__builtin_bswap32(uint32_t(le))) : le;
  if (size != 348 && size != 540) {
    fail(hdr, "is not a NIfTI file (its first 4 bytes, sizeof_hdr, are " + std::to_string(le) +
                  ", not 348 or 540); pass a .nii or .nii.gz volume");
  }
  if (size == 540 && got < 540) fail(hdr, "is too short for its NIfTI-2 header; re-export it");
  const bool single = is_single_file_name(path);
  if (size == 348 && single) {
    if (std::memcmp(h + 344, "ni1\0", 4) == 0) {
      fail(path,
           "holds the header of a .hdr/.img pair (magic 'ni1'), not a single-file NIfTI; "
           "rename it to .hdr and keep its .img beside it");
    }
    if (std::memcmp(h + 344, "n+1\0", 4) != 0) {
      fail(path, "header magic is '" + magic_text(h + 344) +
                     "' where a .nii file needs 'n+1' (NIfTI-1): it is an ANALYZE 7.5 header or "
                     "a corrupt one, and would be read without its orientation; re-export it as "
                     "NIfTI (an ANALYZE 7.5 volume is read only as a .hdr/.img pair)");
    }
  }
  if (size == 540 && single && std::memcmp(h + 4, "n+2\0", 4) != 0) {
    fail(path, "header magic is '" + magic_text(h + 4) +
                   "' where a NIfTI-2 .nii file needs 'n+2'; the file is corrupt, re-export it");
  }
  // dim[0] and vox_offset: int16 at 40 and float at 108 (NIfTI-1 / ANALYZE), int64 at 16 and
  // int64 at 168 (NIfTI-2), in the header's byte order.
  int64_t ndim = 0;
  double vox_offset = 0;
  if (size == 348) {
    uint16_t d0 = 0;
    uint32_t off_bits = 0;
    std::memcpy(&d0, h + 40, 2);
    std::memcpy(&off_bits, h + 108, 4);
    if (swap) d0 = __builtin_bswap16(d0), off_bits = __builtin_bswap32(off_bits);
    float off = 0;
    std::memcpy(&off, &off_bits, 4);
    ndim = static_cast<int16_t>(d0);
    vox_offset = off;
  } else {
    uint64_t d0 = 0, off = 0;
    std::memcpy(&d0, h + 16, 8);
    std::memcpy(&off, h + 168, 8);
    if (swap) d0 = __builtin_bswap64(d0), off = __builtin_bswap64(off);
    ndim = static_cast<int64_t>(d0);
    vox_offset = double(static_cast<int64_t>(off));
  }
  if (ndim < 1 || ndim > 7) {
    fail(hdr, "header dim[0] is " + std::to_string(ndim) +
                  " (the number of dimensions must be 1 to 7); the header is corrupt, re-export "
                  "the file");
  }
  // dim[1..dim[0]] must be positive: niftilib would turn 0 or -4 into 1 before we see them.
  for (int64_t d = 1; d <= ndim; ++d) {
    int64_t v = 0;
    if (size == 348) {
      uint16_t raw = 0;
      std::memcpy(&raw, h + 40 + 2 * d, 2);
      v = static_cast<int16_t>(swap ? __builtin_bswap16(raw) : raw);
    } else {
      uint64_t raw = 0;
      std::memcpy(&raw, h + 16 + 8 * d, 8);
      v = static_cast<int64_t>(swap ? __builtin_bswap64(raw) : raw);
    }
    if (v < 1) {
      fail(hdr, "header dimension " + std::to_string(d) + " is " + std::to_string(v) +
                    " (must be at least 1); the header is corrupt, re-export the file");
    }
  }
  constexpr double kMaxOffset = double(int64_t(1) << 40);  // 1 TiB: beyond any real volume file
  if (!(vox_offset >= 0 && vox_offset <= kMaxOffset)) {
    std::ostringstream os;
    os << "header vox_offset " << vox_offset
       << " is not a valid data offset; the header is corrupt, re-export the file";
    fail(hdr, os.str());
  }
}

constexpr int64_t kStreamCheckBytes = int64_t(256) << 20;

// Bytes a gzip file decompresses to, counted up to `limit` (stops there), in 1 MiB steps.
int64_t gz_length_up_to(const char* file, int64_t limit) {
  gzFile f = gzopen(file, "rb");
  if (!f) return 0;
  std::vector<char> buf(1 << 20);
  int64_t total = 0;
  while (total < limit) {
    const int got = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (got <= 0) break;
    total += got;
  }
  gzclose(f);
  return total;
}

// Everything about the header that can be wrong, checked before any data is read.
void validate_header(const std::string& path, const nifti_image& nim,
                     const NiftiReadOptions& options) {
  const int64_t* dim = nim.dim;
  if (dim[0] < 3 || dim[0] > 7) {
    fail(path, "data is " + std::to_string(dim[0]) + "-D (dim = " + dims_text(dim) +
                   "); a 3-D volume is needed");
  }
  for (int d = 1; d <= dim[0]; ++d) {
    if (dim[d] <= 0) {
      fail(path, "dimension " + std::to_string(d) + " is " + std::to_string(dim[d]) +
                     " (dim = " + dims_text(dim) + "); the header is corrupt, re-export the file");
    }
  }
  if (dim[0] >= 4 && dim[4] > 1) {
    fail(path, "holds " + std::to_string(dim[4]) + " volumes (dim = " + dims_text(dim) +
                   "); split it into 3-D volumes first (e.g. fslsplit)");
  }
  for (int d = 5; d <= dim[0]; ++d) {
    if (dim[d] > 1) {
      fail(path, "data is " + std::to_string(dim[0]) + "-D (dim = " + dims_text(dim) +
                     "); a 3-D volume is needed");
    }
  }
  if (!is_real_datatype(nim.datatype)) {
    fail(path, "unsupported datatype " + datatype_name(nim.datatype) +
                   "; a scalar real volume is needed (int8, uint8, int16, uint16, int32, uint32, "
                   "int64, uint64, float32 or float64): convert complex, RGB or float128 data "
                   "first");
  }
  int64_t count = 1;
  for (int d = 1; d <= 3; ++d) {
    if (__builtin_mul_overflow(count, dim[d], &count)) count = std::numeric_limits<int64_t>::max();
  }
  if (count > options.max_voxels) {
    fail(path, std::to_string(dim[1]) + "x" + std::to_string(dim[2]) + "x" +
                   std::to_string(dim[3]) + " voxels exceed the limit of " +
                   std::to_string(options.max_voxels) +
                   "; the header is corrupt or the volume must be cropped first");
  }
  const double spacing[3] = {nim.dx, nim.dy, nim.dz};
  for (int d = 0; d < 3; ++d) {
    if (!std::isfinite(spacing[d]) || spacing[d] <= 0) {
      std::ostringstream os;
      os << "voxel spacing " << spacing[0] << " x " << spacing[1] << " x " << spacing[2]
         << " mm is not positive; fix pixdim in the header";
      fail(path, os.str());
    }
  }
  // An uncompressed file can be checked for completeness before reading it.
  const int64_t need = nim.iname_offset + count * nim.nbyper;
  if (!nifti_is_gzfile(nim.iname) && nim.nifti_type != NIFTI_FTYPE_ASCII) {
    const int64_t have = nifti_get_filesize(nim.iname);
    if (have >= 0 && have < need) {
      fail(path, "file is truncated: " + std::to_string(have) + " bytes, the header needs " +
                     std::to_string(need) + "; re-export or re-download it");
    }
  } else if (nifti_is_gzfile(nim.iname) && need > kStreamCheckBytes) {
    // A compressed file says how long it is only when decompressed: a 112-byte .nii.gz claiming
    // 1024^3 float64 voxels would make niftilib allocate 8 GiB before finding out (found by
    // fuzz/serve_upload_fuzz.cpp). Above kStreamCheckBytes, count the bytes first, in a small
    // buffer; below it the allocation is cheap and niftilib's own read finds the truncation.
    const int64_t have = gz_length_up_to(nim.iname, need);
    if (have < need) {
      fail(path, "compressed file is truncated: it holds " + std::to_string(have) +
                     " bytes, the header needs " + std::to_string(need) +
                     "; re-export or re-download it");
    }
  }
}

void copy_geometry(const nifti_image& nim, NiftiGeometry* g) {
  g->nx = nim.nx;
  g->ny = nim.ny;
  g->nz = nim.nz;
  g->spacing[0] = nim.dx;
  g->spacing[1] = nim.dy;
  g->spacing[2] = nim.dz;
  g->qform_code = nim.qform_code;
  g->sform_code = nim.sform_code;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) {
      g->qto_xyz[r][c] = nim.qto_xyz.m[r][c];
      g->sto_xyz[r][c] = nim.sform_code > 0 ? nim.sto_xyz.m[r][c] : (r == c ? 1.0 : 0.0);
    }
  }
  g->quatern[0] = nim.quatern_b;
  g->quatern[1] = nim.quatern_c;
  g->quatern[2] = nim.quatern_d;
  g->quatern[3] = nim.qoffset_x;
  g->quatern[4] = nim.qoffset_y;
  g->quatern[5] = nim.qoffset_z;
  g->qfac = nim.qfac < 0 ? -1.0 : 1.0;
  g->xyzt_units = nim.xyz_units | nim.time_units;
}

}  // namespace

NiftiVolume read_nifti(const std::string& path, const NiftiReadOptions& options) {
  check_file(path);
  check_header_bytes(path);
  std::lock_guard<std::mutex> lock(nifti_mutex());
  nifti_set_debug_level(0);  // niftilib prints its own complaints to stderr otherwise
  NimPtr nim(nifti_image_read(path.c_str(), /*read_data=*/0));
  if (!nim) {
    fail(path,
         "not a readable NIfTI-1/NIfTI-2 header (not NIfTI, corrupt or truncated); check "
         "the file");
  }
  const bool analyze = nim->nifti_type == NIFTI_FTYPE_ANALYZE;
  if (analyze && is_single_file_name(path)) {  // only reachable if the file changed under us
    fail(path, "was read as an ANALYZE 7.5 header; re-export it as NIfTI");
  }
  validate_header(path, *nim, options);
  if (nifti_image_load(nim.get()) != 0 || nim->data == nullptr) {
    fail(path,
         "image data could not be read completely (truncated or corrupt file); re-export "
         "or re-download it");
  }

  NiftiVolume volume;
  volume.path = path;
  volume.source_datatype = nim->datatype;
  if (analyze) {
    volume.warning = path +
                     ": ANALYZE 7.5 header, which stores no orientation: the voxels are taken "
                     "in their stored order; convert to NIfTI if the masks come out mirrored";
  }
  copy_geometry(*nim, &volume.geometry);
  // A singular qform/sform cannot be oriented (orientation.h): refuse it here, once, for all readers.
  try {
    orientation_name(volume.geometry, path);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  const size_t n = static_cast<size_t>(nim->nx * nim->ny * nim->nz);
  volume.voxels.resize(n);
  // NIfTI: scl_slope == 0 means "no scaling"; a non-finite one is treated the same (as nibabel).
  const double slope = nim->scl_slope, inter = nim->scl_inter;
  const bool scale =
      slope != 0 && std::isfinite(slope) && std::isfinite(inter) && !(slope == 1 && inter == 0);
  float* out = volume.voxels.data();
  switch (nim->datatype) {
    case NIFTI_TYPE_INT8:
      convert_to_float<int8_t>(nim->data, n, slope, inter, scale, out);
      break;
    case NIFTI_TYPE_UINT8:
      convert_to_float<uint8_t>(nim->data, n, slope, inter, scale, out);
      break;
    case NIFTI_TYPE_UINT16:
      convert_to_float<uint16_t>(nim->data, n, slope, inter, scale, out);
      break;
    case NIFTI_TYPE_UINT32:
      convert_to_float<uint32_t>(nim->data, n, slope, inter, scale, out);
      break;
    case NIFTI_TYPE_INT64:
      convert_to_float<int64_t>(nim->data, n, slope, inter, scale, out);
      break;
    case NIFTI_TYPE_UINT64:
      convert_to_float<uint64_t>(nim->data, n, slope, inter, scale, out);
      break;
    case NIFTI_TYPE_INT16:
      convert_to_float<int16_t>(nim->data, n, slope, inter, scale, out);
      break;
    case NIFTI_TYPE_INT32:
      convert_to_float<int32_t>(nim->data, n, slope, inter, scale, out);
      break;
    case NIFTI_TYPE_FLOAT32:
      convert_to_float<float>(nim->data, n, slope, inter, scale, out);
      break;
    case NIFTI_TYPE_FLOAT64:
      convert_to_float<double>(nim->data, n, slope, inter, scale, out);
      break;
  }
  return volume;
}

// ----------------------------------------------------------------------------------------------
// Writing

namespace {

template <typename T>
std::vector<unsigned char> pack(const std::vector<float>& voxels) {
  std::vector<unsigned char> bytes(voxels.size() * sizeof(T));
  T* dst = reinterpret_cast<T*>(bytes.data());
  for (size_t i = 0; i < voxels.size(); ++i) {
    if constexpr (std::is_integral_v<T>) {
      const double v = voxels[i];
      const double lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
      dst[i] = std::isnan(v) ? T(0) : static_cast<T>(std::nearbyint(std::min(std::max(v, lo), hi)));
    } else {
      dst[i] = static_cast<T>(voxels[i]);
    }
  }
  return bytes;
}

// Writes header, the 4-byte "no extensions" marker and the data to `file` (plain or gzip).
void write_stream(const std::string& path, const std::string& file, bool gz, const void* header,
                  size_t header_bytes, const std::vector<unsigned char>& data) {
  const char extender[4] = {0, 0, 0, 0};
  if (gz) {
    // Level 1: CT noise barely compresses at any level, masks compress well at all of them.
    gzFile f = gzopen(file.c_str(), "wb1");
    if (!f) fail(path, std::string("cannot create temp file (") + std::strerror(errno) + ")");
    gzbuffer(f, 1 << 20);
    bool ok = gzwrite(f, header, static_cast<unsigned>(header_bytes)) == int(header_bytes) &&
              gzwrite(f, extender, 4) == 4;
    const size_t chunk = 1 << 26;  // gzwrite takes an unsigned length
    for (size_t off = 0; ok && off < data.size(); off += chunk) {
      const unsigned len = static_cast<unsigned>(std::min(chunk, data.size() - off));
      ok = gzwrite(f, data.data() + off, len) == int(len);
    }
    const int closed = gzclose(f);
    if (!ok || closed != Z_OK) fail(path, "writing the compressed data failed; check free space");
  } else {
    std::FILE* f = std::fopen(file.c_str(), "wb");
    if (!f) fail(path, std::string("cannot create temp file (") + std::strerror(errno) + ")");
    bool ok = std::fwrite(header, 1, header_bytes, f) == header_bytes &&
              std::fwrite(extender, 1, 4, f) == 4 &&
              std::fwrite(data.data(), 1, data.size(), f) == data.size();
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) fail(path, "writing the data failed; check free disk space");
  }
}

}  // namespace

void write_nifti(const std::string& path, const NiftiGeometry& g, const std::vector<float>& voxels,
                 int datatype, bool nifti2) {
  const bool gz = ends_with(path, ".nii.gz");
  if (!gz && !ends_with(path, ".nii")) {
    throw std::invalid_argument("write_nifti: '" + path +
                                "' has no .nii or .nii.gz extension; add one");
  }
  if (g.nx <= 0 || g.ny <= 0 || g.nz <= 0) {
    throw std::invalid_argument("write_nifti: " + path + ": dimensions " + std::to_string(g.nx) +
                                "x" + std::to_string(g.ny) + "x" + std::to_string(g.nz) +
                                " must all be positive");
  }
  const uint64_t count = uint64_t(g.nx) * uint64_t(g.ny) * uint64_t(g.nz);
  if (count != voxels.size()) {
    throw std::invalid_argument("write_nifti: " + path + ": geometry " + std::to_string(g.nx) +
                                "x" + std::to_string(g.ny) + "x" + std::to_string(g.nz) +
                                " needs " + std::to_string(count) + " voxels, got " +
                                std::to_string(voxels.size()));
  }
  for (double s : g.spacing) {
    if (!std::isfinite(s) || s <= 0) {
      throw std::invalid_argument("write_nifti: " + path +
                                  ": spacing must be positive and finite, got " +
                                  std::to_string(s));
    }
  }
  std::vector<unsigned char> data;
  switch (datatype) {
    case NIFTI_TYPE_UINT8:
      data = pack<uint8_t>(voxels);
      break;
    case NIFTI_TYPE_INT16:
      data = pack<int16_t>(voxels);
      break;
    case NIFTI_TYPE_INT32:
      data = pack<int32_t>(voxels);
      break;
    case NIFTI_TYPE_FLOAT32:
      data = pack<float>(voxels);
      break;
    case NIFTI_TYPE_FLOAT64:
      data = pack<double>(voxels);
      break;
    default:
      throw std::invalid_argument("write_nifti: " + path + ": datatype " +
                                  std::to_string(datatype) +
                                  " is not supported; use NIFTI_TYPE_UINT8, INT16, INT32, FLOAT32 "
                                  "or FLOAT64");
  }

  nifti_1_header h1;
  nifti_2_header h2;
  {
    std::lock_guard<std::mutex> lock(nifti_mutex());
    nifti_set_debug_level(0);
    const int64_t dims[8] = {3, g.nx, g.ny, g.nz, 1, 1, 1, 1};
    NimPtr nim(nifti_make_new_nim(dims, datatype, /*data_fill=*/0));
    if (!nim) fail(path, "niftilib could not create a header");
    nim->dx = nim->pixdim[1] = g.spacing[0];
    nim->dy = nim->pixdim[2] = g.spacing[1];
    nim->dz = nim->pixdim[3] = g.spacing[2];
    nim->qform_code = g.qform_code;
    nim->sform_code = g.sform_code;
    nim->quatern_b = g.quatern[0];
    nim->quatern_c = g.quatern[1];
    nim->quatern_d = g.quatern[2];
    nim->qoffset_x = g.quatern[3];
    nim->qoffset_y = g.quatern[4];
    nim->qoffset_z = g.quatern[5];
    nim->qfac = g.qfac < 0 ? -1.0 : 1.0;
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 4; ++c) nim->sto_xyz.m[r][c] = g.sto_xyz[r][c];
    }
    nim->xyz_units = g.xyzt_units & 0x07;
    nim->time_units = g.xyzt_units & 0x38;
    nim->scl_slope = 0;  // stored values are the values
    nim->scl_inter = 0;
    std::snprintf(nim->descrip, sizeof(nim->descrip), "unet_engine");
    if (nifti2) {
      nim->nifti_type = NIFTI_FTYPE_NIFTI2_1;
      nim->iname_offset = sizeof(nifti_2_header) + 4;
      if (nifti_convert_nim2n2hdr(nim.get(), &h2) != 0) {
        fail(path, "niftilib could not build a NIfTI-2 header");
      }
    } else {
      nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
      nim->iname_offset = sizeof(nifti_1_header) + 4;
      if (g.nx > 32767 || g.ny > 32767 || g.nz > 32767 ||
          nifti_convert_nim2n1hdr(nim.get(), &h1) != 0) {
        fail(path, "dimensions do not fit a NIfTI-1 header (max 32767); write NIfTI-2 instead");
      }
    }
  }

  AtomicFile file(path);
  if (nifti2) {
    write_stream(path, file.temp_path(), gz, &h2, sizeof(h2), data);
  } else {
    write_stream(path, file.temp_path(), gz, &h1, sizeof(h1), data);
  }
  file.commit();
}

// ----------------------------------------------------------------------------------------------
// Geometry

Affine voxel_to_world(const NiftiGeometry& g) {
  Affine a{};
  const auto& m = g.sform_code > 0 ? g.sto_xyz : g.qto_xyz;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) a[r][c] = m[r][c];
  }
  return a;
}

bool same_grid(const NiftiGeometry& a, const NiftiGeometry& b, std::string* why) {
  auto reason = [&](const std::string& text) {
    if (why) *why = text;
    return false;
  };
  if (a.nx != b.nx || a.ny != b.ny || a.nz != b.nz) {
    return reason("dimensions differ: " + std::to_string(a.nx) + "x" + std::to_string(a.ny) + "x" +
                  std::to_string(a.nz) + " vs " + std::to_string(b.nx) + "x" +
                  std::to_string(b.ny) + "x" + std::to_string(b.nz));
  }
  for (int d = 0; d < 3; ++d) {
    const double sa = a.spacing[d], sb = b.spacing[d];
    if (std::fabs(sa - sb) > 1e-3 * std::max(std::fabs(sa), std::fabs(sb))) {
      std::ostringstream os;
      os << "spacing differs: " << a.spacing[0] << " x " << a.spacing[1] << " x " << a.spacing[2]
         << " mm vs " << b.spacing[0] << " x " << b.spacing[1] << " x " << b.spacing[2] << " mm";
      return reason(os.str());
    }
  }
  // Compare where both matrices put the eight corner voxels: a tolerance in mm, whatever the
  // grid size, and insensitive to how the matrix is stored (sform vs qform).
  const Affine ma = voxel_to_world(a), mb = voxel_to_world(b);
  double worst = 0;
  int64_t worst_corner[3] = {0, 0, 0};
  for (int c = 0; c < 8; ++c) {
    const double ijk[3] = {(c & 1) ? double(a.nx - 1) : 0.0, (c & 2) ? double(a.ny - 1) : 0.0,
                           (c & 4) ? double(a.nz - 1) : 0.0};
    for (int r = 0; r < 3; ++r) {
      const double wa = ma[r][0] * ijk[0] + ma[r][1] * ijk[1] + ma[r][2] * ijk[2] + ma[r][3];
      const double wb = mb[r][0] * ijk[0] + mb[r][1] * ijk[1] + mb[r][2] * ijk[2] + mb[r][3];
      const double d = std::fabs(wa - wb);
      if (!(d <= worst)) {  // also catches NaN
        worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
        for (int k = 0; k < 3; ++k) worst_corner[k] = int64_t(ijk[k]);
      }
    }
  }
  if (worst > 1e-3) {
    std::ostringstream os;
    os << "voxel-to-world matrices differ: voxel (" << worst_corner[0] << ", " << worst_corner[1]
       << ", " << worst_corner[2] << ") lands " << worst << " mm apart";
    return reason(os.str());
  }
  if (why) why->clear();
  return true;
}

NiftiGeometry make_geometry(int64_t nx, int64_t ny, int64_t nz, double sx, double sy, double sz) {
  if (nx <= 0 || ny <= 0 || nz <= 0) {
    throw std::invalid_argument("make_geometry: dimensions " + std::to_string(nx) + "x" +
                                std::to_string(ny) + "x" + std::to_string(nz) +
                                " must all be positive");
  }
  for (double s : {sx, sy, sz}) {
    if (!std::isfinite(s) || s <= 0) {
      throw std::invalid_argument("make_geometry: spacing must be positive and finite, got " +
                                  std::to_string(s));
    }
  }
  NiftiGeometry g;
  g.nx = nx;
  g.ny = ny;
  g.nz = nz;
  g.spacing[0] = sx;
  g.spacing[1] = sy;
  g.spacing[2] = sz;
  // Rotation by 180 degrees about z: quaternion (a, b, c, d) = (0, 0, 0, 1), qfac = +1.
  const double dir[3] = {-1, -1, 1};
  const double s[3] = {sx, sy, sz};
  const double n[3] = {double(nx), double(ny), double(nz)};
  double offset[3];
  for (int r = 0; r < 3; ++r) offset[r] = -dir[r] * s[r] * (n[r] - 1) / 2;
  g.quatern[0] = 0;
  g.quatern[1] = 0;
  g.quatern[2] = 1;
  g.quatern[3] = offset[0];
  g.quatern[4] = offset[1];
  g.quatern[5] = offset[2];
  g.qfac = 1;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) {
      double v = 0;
      if (r < 3 && c < 3 && r == c) v = dir[r] * s[r];
      if (r < 3 && c == 3) v = offset[r];
      if (r == 3 && c == 3) v = 1;
      g.qto_xyz[r][c] = v;
      g.sto_xyz[r][c] = v;
    }
  }
  g.qform_code = NIFTI_XFORM_SCANNER_ANAT;
  g.sform_code = NIFTI_XFORM_SCANNER_ANAT;
  g.xyzt_units = NIFTI_UNITS_MM;
  return g;
}

NiftiGeometry geometry_from_affine(int64_t nx, int64_t ny, int64_t nz, const double spacing[3],
                                   const Affine& voxel_to_world, int xform_code, int xyzt_units) {
  NiftiGeometry g;
  g.nx = nx;
  g.ny = ny;
  g.nz = nz;
  for (int i = 0; i < 3; ++i) g.spacing[i] = spacing[i];
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) g.sto_xyz[r][c] = g.qto_xyz[r][c] = voxel_to_world[r][c];
  }
  g.sform_code = xform_code;
  g.xyzt_units = xyzt_units;
  // The qform is a rotation R times diag(dx, dy, qfac * dz). Derive it from the affine's columns
  // when they are orthogonal with lengths equal to the spacing; otherwise (shear) keep sform only.
  double rot[3][3];
  for (int c = 0; c < 3; ++c) {
    for (int r = 0; r < 3; ++r) rot[r][c] = voxel_to_world[r][c] / spacing[c];
  }
  double worst = 0;
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      double dot = 0;
      for (int r = 0; r < 3; ++r) dot += rot[r][a] * rot[r][b];
      worst = std::max(worst, std::fabs(dot - (a == b ? 1.0 : 0.0)));
    }
  }
  if (worst > 1e-4) return g;
  const double det = rot[0][0] * (rot[1][1] * rot[2][2] - rot[1][2] * rot[2][1]) -
                     rot[0][1] * (rot[1][0] * rot[2][2] - rot[1][2] * rot[2][0]) +
                     rot[0][2] * (rot[1][0] * rot[2][1] - rot[1][1] * rot[2][0]);
  g.qfac = det < 0 ? -1.0 : 1.0;
  if (det < 0) {
    for (int r = 0; r < 3; ++r) rot[r][2] = -rot[r][2];
  }
  // Rotation matrix -> unit quaternion (a, b, c, d) with a >= 0 (the NIfTI-1 convention), via the
  // largest of the four diagonal combinations to stay accurate near 180-degree rotations.
  double qa, qb, qc, qd;
  const double trace = rot[0][0] + rot[1][1] + rot[2][2] + 1.0;
  if (trace > 0.5) {
    qa = 0.5 * std::sqrt(trace);
    qb = 0.25 * (rot[2][1] - rot[1][2]) / qa;
    qc = 0.25 * (rot[0][2] - rot[2][0]) / qa;
    qd = 0.25 * (rot[1][0] - rot[0][1]) / qa;
  } else {
    const double xd = 1.0 + rot[0][0] - (rot[1][1] + rot[2][2]);
    const double yd = 1.0 + rot[1][1] - (rot[0][0] + rot[2][2]);
    const double zd = 1.0 + rot[2][2] - (rot[0][0] + rot[1][1]);
    if (xd > 1.0) {
      qb = 0.5 * std::sqrt(xd);
      qc = 0.25 * (rot[0][1] + rot[1][0]) / qb;
      qd = 0.25 * (rot[0][2] + rot[2][0]) / qb;
      qa = 0.25 * (rot[2][1] - rot[1][2]) / qb;
    } else if (yd > 1.0) {
      qc = 0.5 * std::sqrt(yd);
      qb = 0.25 * (rot[0][1] + rot[1][0]) / qc;
      qd = 0.25 * (rot[1][2] + rot[2][1]) / qc;
      qa = 0.25 * (rot[0][2] - rot[2][0]) / qc;
    } else {
      qd = 0.5 * std::sqrt(zd);
      qb = 0.25 * (rot[0][2] + rot[2][0]) / qd;
      qc = 0.25 * (rot[1][2] + rot[2][1]) / qd;
      qa = 0.25 * (rot[1][0] - rot[0][1]) / qd;
    }
    if (qa < 0) {
      qb = -qb;
      qc = -qc;
      qd = -qd;
    }
  }
  g.quatern[0] = qb;
  g.quatern[1] = qc;
  g.quatern[2] = qd;
  for (int r = 0; r < 3; ++r) g.quatern[3 + r] = voxel_to_world[r][3];
  g.qform_code = xform_code;
  return g;
}

}  // namespace unet::io
