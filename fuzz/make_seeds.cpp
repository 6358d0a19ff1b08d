// Writes the seed corpora under fuzz/corpus/<harness>/: a few small valid files made by our own
// writers (write_nifti, write_npy, encode_safetensors, manifest_to_json) and a few broken ones
// derived from them by one targeted edit each. Run once by hand when a format changes:
//   build-fuzz/fuzz/unet_make_seeds fuzz/corpus
// The committed seeds are its output; CI never runs it.
#include <nifti1.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "io/nifti.h"
#include "io/npy.h"
#include "io/slice_cache.h"

namespace fs = std::filesystem;
using unet::io::NiftiGeometry;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void put(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}

template <typename T>
void poke(std::string& bytes, size_t offset, T value) {
  std::memcpy(&bytes[offset], &value, sizeof(T));
}

std::string gzip(const std::string& raw, const fs::path& scratch) {
  const std::string p = (scratch / "gz.tmp").string();
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, raw.data(), static_cast<unsigned>(raw.size()));
  gzclose(f);
  return slurp(p);
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 17) * scale - 3.0f;
  return v;
}

// Our writer's bytes for a small volume.
std::string nifti_bytes(const fs::path& scratch, const std::string& name, int64_t nx, int64_t ny,
                        int64_t nz, int datatype, bool nifti2) {
  const NiftiGeometry g = unet::io::make_geometry(nx, ny, nz, 0.8, 0.8, 2.5);
  const fs::path p = scratch / name;
  unet::io::write_nifti(p.string(), g, ramp(static_cast<size_t>(nx * ny * nz), 7.0f), datatype,
                        nifti2);
  return slurp(p);
}

// NIfTI-1 header field offsets (nifti1.h).
constexpr size_t kDim = 40, kDatatype = 70, kBitpix = 72, kSclSlope = 112, kSclInter = 116,
                 kMagic = 344;

void nifti_seeds(const fs::path& out, const fs::path& scratch) {
  const fs::path dir = out / "nifti";
  const std::string u8 = nifti_bytes(scratch, "a.nii", 5, 4, 3, NIFTI_TYPE_UINT8, false);
  put(dir, "valid_u8_5x4x3.nii", u8);
  put(dir, "valid_i16_4x4x2.nii.gz",
      nifti_bytes(scratch, "b.nii.gz", 4, 4, 2, NIFTI_TYPE_INT16, false));
  put(dir, "valid_f32_3x3x2_nifti2.nii",
      nifti_bytes(scratch, "c.nii", 3, 3, 2, NIFTI_TYPE_FLOAT32, true));
  put(dir, "valid_f64_2x2x2.nii",
      nifti_bytes(scratch, "d.nii", 2, 2, 2, NIFTI_TYPE_FLOAT64, false));
  std::string scaled = nifti_bytes(scratch, "e.nii", 3, 2, 2, NIFTI_TYPE_INT16, false);
  poke<float>(scaled, kSclSlope, 2.0f);
  poke<float>(scaled, kSclInter, -1024.0f);
  put(dir, "valid_i16_scaled.nii", scaled);

  put(dir, "broken_truncated.nii", u8.substr(0, u8.size() - 20));
  std::string magic = u8;
  magic.replace(kMagic, 4, std::string("ni1\0", 4));  // a .hdr/.img magic inside a .nii
  put(dir, "broken_magic.nii", magic);
  std::string dims = u8;
  poke<int16_t>(dims, kDim, 2);
  put(dir, "broken_2d.nii", dims);
  std::string negative = u8;
  poke<int16_t>(negative, kDim + 2 * 2, -4);
  put(dir, "broken_negative_dim.nii", negative);
  std::string complex = u8;
  poke<int16_t>(complex, kDatatype, NIFTI_TYPE_COMPLEX64);
  poke<int16_t>(complex, kBitpix, 64);
  put(dir, "broken_complex.nii", complex);
  const std::string gz = gzip(u8, scratch);
  put(dir, "broken_truncated.nii.gz", gz.substr(0, gz.size() / 2));
}

void serve_upload_seeds(const fs::path& out, const fs::path& scratch) {
  // Sizes that do and do not divide the default 256x256 stride grid (inference takes any size).
  const fs::path dir = out / "serve_upload";
  put(dir, "valid_i16_8x8x2.nii.gz",
      nifti_bytes(scratch, "s1.nii.gz", 8, 8, 2, NIFTI_TYPE_INT16, false));
  put(dir, "valid_f32_16x16x1.nii",
      nifti_bytes(scratch, "s2.nii", 16, 16, 1, NIFTI_TYPE_FLOAT32, false));
  put(dir, "valid_u8_4x8x2_nifti2.nii",
      nifti_bytes(scratch, "s3.nii", 4, 8, 2, NIFTI_TYPE_UINT8, true));
  put(dir, "valid_u8_6x6x1_any_size.nii",
      nifti_bytes(scratch, "s4.nii", 6, 6, 1, NIFTI_TYPE_UINT8, false));
  put(dir, "broken_text.txt", "<html>not a volume</html>\n");
  put(dir, "broken_gzip_text.gz", gzip("just some text, not a NIfTI header\n", scratch));
}

std::string npy_file(unet::io::NpyDtype dtype, const std::vector<int64_t>& shape,
                     size_t data_bytes) {
  std::string b = unet::io::make_npy_header(dtype, shape);
  for (size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<char>(i * 37 + 1));
  return b;
}

void npy_seeds(const fs::path& out) {
  using unet::io::NpyDtype;
  const fs::path dir = out / "npy";
  const std::string f32 = npy_file(NpyDtype::kFloat32, {2, 3}, 24);
  put(dir, "valid_f32_2x3.npy", f32);
  put(dir, "valid_u8_4.npy", npy_file(NpyDtype::kUint8, {4}, 4));
  put(dir, "valid_i16_2x2x1.npy", npy_file(NpyDtype::kInt16, {2, 2, 1}, 8));
  put(dir, "valid_f32_scalar.npy", npy_file(NpyDtype::kFloat32, {}, 4));
  // Version 2.0: a 4-byte header length.
  std::string v2 = f32;
  v2[6] = 2;
  v2.insert(10, 2, '\0');
  put(dir, "valid_v2_f32_2x3.npy", v2);

  put(dir, "broken_truncated.npy", f32.substr(0, f32.size() - 5));
  put(dir, "broken_magic.npy", "\x93NUMPZ" + f32.substr(6));
  std::string fortran = f32;
  fortran.replace(fortran.find("False"), 5, "True ");
  put(dir, "broken_fortran.npy", fortran);
  std::string big_endian = f32;
  big_endian[big_endian.find("<f4")] = '>';
  put(dir, "broken_big_endian.npy", big_endian);
}

void safetensors_seeds(const fs::path& out) {
  using unet::DType;
  using unet::Tensor;
  const fs::path dir = out / "safetensors";
  auto filled = [](const unet::Shape& shape, DType dtype) {
    Tensor t = Tensor::empty(shape, dtype);
    auto* p = static_cast<unsigned char*>(t.raw_data());
    for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<unsigned char>(i * 13 + 5);
    return t;
  };
  const std::string valid =
      unet::encode_safetensors({{"conv.weight", filled({2, 1, 3, 3}, DType::kFloat32)},
                                {"bn.num_batches", filled({1}, DType::kInt64)},
                                {"mask", filled({2, 3}, DType::kUInt8)}},
                               {{"format", "unet-engine"}, {"config", "{\"depth\":2}"}});
  put(dir, "valid_three_tensors.safetensors", valid);
  put(dir, "valid_i16_i32.safetensors",
      unet::encode_safetensors(
          {{"a", filled({3}, DType::kInt16)}, {"b", filled({2, 2}, DType::kInt32)}}));
  put(dir, "valid_empty.safetensors", unet::encode_safetensors({}));
  put(dir, "valid_zero_size.safetensors",
      unet::encode_safetensors({{"empty", filled({0, 4}, DType::kFloat32)}}));

  put(dir, "broken_truncated.safetensors", valid.substr(0, valid.size() - 3));
  std::string long_header = valid;
  long_header[3] = 0x7f;  // header length far past the end
  put(dir, "broken_header_length.safetensors", long_header);
  std::string bad_json = valid;
  bad_json[9] = '[';
  put(dir, "broken_json.safetensors", bad_json);
  std::string text =
      "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}";
  std::string overlap(8, '\0');
  overlap[0] = static_cast<char>(text.size());
  put(dir, "broken_overlap.safetensors", overlap + text + std::string(6, '\1'));
}

void manifest_seeds(const fs::path& out) {
  const fs::path dir = out / "manifest";
  unet::io::SliceCacheManifest m;
  m.split = "train";
  m.options.height = m.options.width = 128;
  m.norm.mean = 0.25;
  m.norm.std = 1.5;
  unet::io::CacheVolume a;
  a.name = "case00";
  a.image_path = "raw/train/case00.nii.gz";
  a.mask_path = "raw/train/case00_mask.nii.gz";
  a.nx = a.ny = 256;
  a.nz = 6;
  a.slices = {1, 2, 4};
  a.liver_slices = 3;
  unet::io::CacheVolume b = a;
  b.name = "case01";
  b.nz = 3;
  b.slices = {0, 2};
  b.liver_slices = 2;
  m.volumes = {a, b};
  unet::io::index_volumes(m);
  const std::string valid = unet::io::manifest_to_json(m);
  put(dir, "valid_two_volumes.json", valid);
  m.split = "test";
  m.keep_empty = true;
  m.options.resample = unet::io::Resample::kBilinear;
  m.volumes = {b};
  unet::io::index_volumes(m);
  put(dir, "valid_one_volume_bilinear.json", unet::io::manifest_to_json(m));

  auto edited = [&](const std::string& from, const std::string& to) {
    std::string s = valid;
    const size_t at = s.find(from);
    if (at == std::string::npos) throw std::runtime_error("seed edit: no '" + from + "'");
    return s.replace(at, from.size(), to);
  };
  put(dir, "broken_version.json",
      edited("\"version\": " + std::to_string(unet::io::kSliceCacheVersion), "\"version\": 99"));
  put(dir, "broken_num_slices.json", edited("\"num_slices\": 5", "\"num_slices\": 4"));
  put(dir, "broken_truncated.json", valid.substr(0, valid.size() / 2));
  put(dir, "broken_wrong_type.json", edited("\"height\": 128", "\"height\": \"128\""));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR (usually fuzz/corpus)\n", argv[0]);
    return 2;
  }
  try {
    const fs::path out = argv[1];
    const fs::path scratch = fs::temp_directory_path() / "unet_make_seeds";
    fs::create_directories(scratch);
    nifti_seeds(out, scratch);
    serve_upload_seeds(out, scratch);
    npy_seeds(out);
    safetensors_seeds(out);
    manifest_seeds(out);
    fs::remove_all(scratch);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unet_make_seeds: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
