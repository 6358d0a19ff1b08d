// io/nifti and io/atomic_file: round trips for every supported datatype in NIfTI-1 and NIfTI-2,
// .nii and .nii.gz, files written by niftilib itself (an independent writer), scaling, geometry,
// and every rejection path with its message.
#include "io/nifti.h"

#include <gtest/gtest.h>
#include <nifti2_io.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/testing.h"

namespace unet::io {
namespace {

namespace fs = std::filesystem;

// Substring check with both strings in the failure message (gmock is not linked).
::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

using unet::testing::TempDir;

// The names of what a folder holds (temp files left behind show up here).
std::vector<std::string> file_names(const TempDir& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir.path()))
    out.push_back(e.path().filename().string());
  return out;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void truncate_to(const std::string& path, size_t bytes) {
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(bytes)), 0);
}

// The message read_nifti throws for `path`, and that it printed nothing to stderr doing so.
std::string read_error(const std::string& path, const NiftiReadOptions& options = {}) {
  ::testing::internal::CaptureStderr();
  std::string message = "(no exception)";
  try {
    read_nifti(path, options);
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "") << "niftilib printed to stderr";
  EXPECT_EQ(message.find('\n'), std::string::npos) << "messages are one line: " << message;
  return message;
}

// Writes a file with an independent writer (not write_nifti): niftilib's own writer for NIfTI-1;
// for NIfTI-2 a header filled in field by field here, because niftilib 3.0.1's single-file NIfTI-2
// writer reopens the file for the data and clobbers the header it just wrote. dims is
// {ndim, nx, ny, ...}; fill() sets each voxel's bytes from its index.
template <typename Fill>
void write_with_niftilib(const std::string& path, std::vector<int64_t> dims, int datatype,
                         bool nifti2, double slope, double inter, Fill fill) {
  dims.resize(8, 1);
  nifti_image* nim = nifti_make_new_nim(dims.data(), datatype, 1);
  ASSERT_NE(nim, nullptr);
  unsigned char* bytes = static_cast<unsigned char*>(nim->data);
  for (int64_t i = 0; i < nim->nvox; ++i) fill(bytes + i * nim->nbyper, i);
  const double spacing[3] = {0.75, 0.8, 2.5};
  if (!nifti2) {
    ASSERT_EQ(nifti_set_filenames(nim, path.c_str(), 0, 1), 0);
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nim->scl_slope = slope;
    nim->scl_inter = inter;
    nim->dx = nim->pixdim[1] = spacing[0];
    nim->dy = nim->pixdim[2] = spacing[1];
    nim->dz = nim->pixdim[3] = spacing[2];
    nifti_image_write(nim);
  } else {
    nifti_2_header h;
    std::memset(&h, 0, sizeof(h));
    h.sizeof_hdr = 540;
    std::memcpy(h.magic, "n+2\0\r\n\032\n", 8);
    h.datatype = static_cast<int16_t>(datatype);
    h.bitpix = static_cast<int16_t>(8 * nim->nbyper);
    for (int d = 0; d < 8; ++d) h.dim[d] = dims[d];
    h.pixdim[0] = 1;
    for (int d = 1; d < 8; ++d) h.pixdim[d] = d <= 3 ? spacing[d - 1] : 1.0;
    h.vox_offset = 544;
    h.scl_slope = slope;
    h.scl_inter = inter;
    const bool gz = path.size() > 3 && path.substr(path.size() - 3) == ".gz";
    gzFile f = gzopen(path.c_str(), gz ? "wb" : "wbT");  // "T": plain, no gzip wrapper
    ASSERT_NE(f, nullptr);
    gzwrite(f, &h, sizeof(h));
    gzwrite(f, "\0\0\0\0", 4);
    gzwrite(f, nim->data, static_cast<unsigned>(nim->nvox * nim->nbyper));
    ASSERT_EQ(gzclose(f), Z_OK);
  }
  nifti_image_free(nim);
  ASSERT_TRUE(fs::exists(path)) << path;
}

template <typename T>
auto fill_with(double scale, double offset) {
  return [=](unsigned char* p, int64_t i) {
    const T v = static_cast<T>(std::fmod(double(i) * scale, 200.0) + offset);
    std::memcpy(p, &v, sizeof(T));
  };
}

// ---------------------------------------------------------------------------------------------
// AtomicFile

TEST(AtomicFile, WritesContentAndLeavesNoTempFile) {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  write_file_atomic(path, "old", 3);
  write_file_atomic(path, "new content", 11);
  EXPECT_EQ(read_bytes(path), "new content");
  EXPECT_EQ(file_names(dir), std::vector<std::string>{"a.bin"});
}

TEST(AtomicFile, UncommittedTempIsRemovedAndTargetUntouched) {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  write_file_atomic(path, "old", 3);
  {
    AtomicFile file(path);
    EXPECT_EQ(file.temp_path().rfind(path + ".tmp." + std::to_string(::getpid()) + ".", 0), 0u);
    std::ofstream(file.temp_path()) << "half-writ";
    EXPECT_TRUE(fs::exists(file.temp_path()));
    // no commit: a writer that throws ends up here
  }
  EXPECT_EQ(read_bytes(path), "old");
  EXPECT_EQ(file_names(dir), std::vector<std::string>{"a.bin"});
}

TEST(AtomicFile, TwoFilesForOnePathGetDistinctTemps) {
  TempDir dir;
  AtomicFile a(dir.file("x")), b(dir.file("x"));
  EXPECT_NE(a.temp_path(), b.temp_path());
}

TEST(AtomicFile, MissingFolderIsRejected) {
  TempDir dir;
  const auto write = [&] { write_file_atomic(dir.file("no/such/a.bin"), "x", 1); };
  unet::testing::expect_runtime_error(write, "does not exist; create it");
  EXPECT_TRUE(contains(unet::testing::error_message(write), "no/such"));
}

TEST(AtomicFile, CommitWithoutWritingIsRejected) {
  TempDir dir;
  AtomicFile file(dir.file("a.bin"));
  unet::testing::expect_runtime_error([&] { file.commit(); }, "was anything written?");
  EXPECT_FALSE(file.committed());
}

TEST(AtomicFile, RenameOverAFolderFailsAndCleansUp) {
  TempDir dir;
  fs::create_directory(dir.file("target"));
  fs::create_directory(dir.file("target/inside"));  // a non-empty folder cannot be replaced
  unet::testing::expect_runtime_error([&] { write_file_atomic(dir.file("target"), "x", 1); },
                                      "cannot rename temp file over it");
  EXPECT_EQ(file_names(dir), std::vector<std::string>{"target"});
}

TEST(AtomicFile, DoubleCommitIsALogicError) {
  TempDir dir;
  AtomicFile file(dir.file("a.bin"));
  std::ofstream(file.temp_path()) << "x";
  file.commit();
  EXPECT_TRUE(file.committed());
  EXPECT_THROW(file.commit(), std::logic_error);
  EXPECT_EQ(read_bytes(dir.file("a.bin")), "x");
}

// ---------------------------------------------------------------------------------------------
// Round trips through write_nifti / read_nifti

struct RoundTripCase {
  int datatype;
  bool nifti2;
  const char* extension;
};

class NiftiRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(NiftiRoundTrip, ValuesAndGeometrySurvive) {
  const RoundTripCase c = GetParam();
  TempDir dir;
  const std::string path = dir.file(std::string("vol") + c.extension);
  // Odd sizes so a transposed index or a dropped row shows.
  NiftiGeometry g = make_geometry(7, 5, 3, 0.7, 0.8, 2.5);
  g.quatern[3] += 12.5;     // qform and sform deliberately different: both must survive
  g.qto_xyz[0][3] += 12.5;  // the matrix niftilib derives from the quaternion form on read
  g.sto_xyz[0][3] = 42.25;
  g.sto_xyz[0][1] = 0.125;  // a shear only the sform can store
  std::vector<float> voxels(7 * 5 * 3);
  for (size_t i = 0; i < voxels.size(); ++i) {
    switch (c.datatype) {
      case NIFTI_TYPE_UINT8:
        voxels[i] = float((i * 37) % 256);
        break;
      case NIFTI_TYPE_INT16:
        voxels[i] = float(int(i * 97 % 4096) - 1024);
        break;
      case NIFTI_TYPE_INT32:
        voxels[i] = float(int(i * 1237) - 70000);
        break;
      default:
        voxels[i] = 0.1f * float(i) - 3.3f;
        break;
    }
  }
  write_nifti(path, g, voxels, c.datatype, c.nifti2);
  EXPECT_EQ(file_names(dir).size(), 1u) << "temp file left behind";

  const std::string bytes = read_bytes(path);
  const bool gz = std::string(c.extension) == ".nii.gz";
  EXPECT_EQ(gz, bytes.size() > 2 && uint8_t(bytes[0]) == 0x1f && uint8_t(bytes[1]) == 0x8b);
  if (!gz) {  // the magic says which NIfTI version was written
    EXPECT_EQ(bytes.substr(c.nifti2 ? 4 : 344, 3), c.nifti2 ? "n+2" : "n+1");
  }

  const NiftiVolume v = read_nifti(path);
  EXPECT_EQ(v.path, path);
  EXPECT_EQ(v.source_datatype, c.datatype);
  // Exact: every value is representable in the datatype (float64 goes through float both ways).
  EXPECT_TRUE(testing::bitwise_equal(v.voxels, voxels, "voxels"));
  std::string why;
  EXPECT_TRUE(same_grid(v.geometry, g, &why)) << why;
  EXPECT_EQ(v.geometry.nx, 7);
  EXPECT_EQ(v.geometry.ny, 5);
  EXPECT_EQ(v.geometry.nz, 3);
  EXPECT_EQ(v.geometry.qform_code, 1);
  EXPECT_EQ(v.geometry.sform_code, 1);
  EXPECT_EQ(v.geometry.xyzt_units, NIFTI_UNITS_MM);
  EXPECT_DOUBLE_EQ(v.geometry.qfac, 1);
  // NIfTI-1 stores floats, so compare at float precision.
  for (int d = 0; d < 3; ++d) EXPECT_NEAR(v.geometry.spacing[d], g.spacing[d], 1e-6);
  for (int d = 0; d < 6; ++d) EXPECT_NEAR(v.geometry.quatern[d], g.quatern[d], 1e-5) << d;
  for (int r = 0; r < 4; ++r) {
    for (int col = 0; col < 4; ++col) {
      EXPECT_NEAR(v.geometry.sto_xyz[r][col], g.sto_xyz[r][col], 1e-5) << r << "," << col;
      EXPECT_NEAR(v.geometry.qto_xyz[r][col], g.qto_xyz[r][col], 1e-5) << r << "," << col;
    }
  }
}

std::vector<RoundTripCase> round_trip_cases() {
  std::vector<RoundTripCase> cases;
  for (int dt : {NIFTI_TYPE_UINT8, NIFTI_TYPE_INT16, NIFTI_TYPE_INT32, NIFTI_TYPE_FLOAT32,
                 NIFTI_TYPE_FLOAT64}) {
    for (bool n2 : {false, true}) {
      for (const char* ext : {".nii", ".nii.gz"}) cases.push_back({dt, n2, ext});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllFormats, NiftiRoundTrip, ::testing::ValuesIn(round_trip_cases()),
                         [](const ::testing::TestParamInfo<RoundTripCase>& info) {
                           return std::string(nifti_datatype_string(info.param.datatype)) +
                                  (info.param.nifti2 ? "_nifti2" : "_nifti1") +
                                  (std::string(info.param.extension) == ".nii" ? "_nii" : "_gz");
                         });

TEST(NiftiWrite, IntegersAreRoundedAndClamped) {
  TempDir dir;
  const NiftiGeometry g = make_geometry(6, 1, 1, 1, 1, 1);
  const std::vector<float> in = {-5.0f, 2.4f, 2.6f, 300.0f, NAN, 254.5f};
  write_nifti(dir.file("u8.nii"), g, in, NIFTI_TYPE_UINT8);
  // Round to nearest, ties to even (the default rounding mode): 254.5 -> 254.
  EXPECT_EQ(read_nifti(dir.file("u8.nii")).voxels, (std::vector<float>{0, 2, 3, 255, 0, 254}));
  const std::vector<float> big = {-40000.0f, 40000.0f, -1.5f, 1.5f, 0.49f, -0.51f};
  write_nifti(dir.file("i16.nii.gz"), g, big, NIFTI_TYPE_INT16);
  EXPECT_EQ(read_nifti(dir.file("i16.nii.gz")).voxels,
            (std::vector<float>{-32768, 32767, -2, 2, 0, -1}));
}

TEST(NiftiWrite, RejectsBadArguments) {
  TempDir dir;
  const NiftiGeometry g = make_geometry(2, 2, 2, 1, 1, 1);
  const std::vector<float> v(8, 1.0f);
  using unet::testing::expect_invalid;
  expect_invalid([&] { write_nifti(dir.file("a.img"), g, v, NIFTI_TYPE_INT16); },
                 "has no .nii or .nii.gz extension");
  expect_invalid(
      [&] { write_nifti(dir.file("a.nii"), g, std::vector<float>(7), NIFTI_TYPE_INT16); },
      "geometry 2x2x2 needs 8 voxels, got 7");
  expect_invalid([&] { write_nifti(dir.file("a.nii"), g, v, NIFTI_TYPE_COMPLEX64); },
                 "datatype 32 is not supported");
  NiftiGeometry bad = g;
  bad.nz = 0;
  expect_invalid([&] { write_nifti(dir.file("a.nii"), bad, {}, NIFTI_TYPE_INT16); },
                 "dimensions 2x2x0 must all be positive");
  bad = g;
  bad.spacing[1] = -1;
  expect_invalid([&] { write_nifti(dir.file("a.nii"), bad, v, NIFTI_TYPE_INT16); },
                 "spacing must be positive");
  EXPECT_TRUE(file_names(dir).empty()) << "a rejected write left a file";
}

TEST(NiftiWrite, NiftiOneRejectsDimensionsOver32767) {
  TempDir dir;
  const NiftiGeometry g = make_geometry(40000, 1, 1, 1, 1, 1);
  const std::vector<float> v(40000, 0.0f);
  unet::testing::expect_runtime_error(
      [&] { write_nifti(dir.file("a.nii"), g, v, NIFTI_TYPE_UINT8); }, "write NIfTI-2 instead");
  write_nifti(dir.file("a.nii"), g, v, NIFTI_TYPE_UINT8, /*nifti2=*/true);
  EXPECT_EQ(read_nifti(dir.file("a.nii")).geometry.nx, 40000);
}

// ---------------------------------------------------------------------------------------------
// Files written by niftilib itself

class NiftilibWritten : public ::testing::TestWithParam<std::tuple<int, bool, const char*>> {};

TEST_P(NiftilibWritten, ReadsEveryDatatype) {
  const auto [datatype, nifti2, ext] = GetParam();
  TempDir dir;
  const std::string path = dir.file(std::string("x") + ext);
  switch (datatype) {
    case NIFTI_TYPE_INT8:
      write_with_niftilib(path, {3, 5, 4, 3}, datatype, nifti2, 0, 0, fill_with<int8_t>(0.5, -100));
      break;
    case NIFTI_TYPE_UINT8:
      write_with_niftilib(path, {3, 5, 4, 3}, datatype, nifti2, 0, 0, fill_with<uint8_t>(7, 3));
      break;
    case NIFTI_TYPE_UINT16:
      write_with_niftilib(path, {3, 5, 4, 3}, datatype, nifti2, 0, 0, fill_with<uint16_t>(7, 3));
      break;
    case NIFTI_TYPE_UINT32:
      write_with_niftilib(path, {3, 5, 4, 3}, datatype, nifti2, 0, 0, fill_with<uint32_t>(7, 3));
      break;
    case NIFTI_TYPE_INT64:
      write_with_niftilib(path, {3, 5, 4, 3}, datatype, nifti2, 0, 0, fill_with<int64_t>(7, -100));
      break;
    case NIFTI_TYPE_UINT64:
      write_with_niftilib(path, {3, 5, 4, 3}, datatype, nifti2, 0, 0, fill_with<uint64_t>(7, 3));
      break;
    case NIFTI_TYPE_INT16:
      write_with_niftilib(path, {3, 5, 4, 3}, datatype, nifti2, 0, 0, fill_with<int16_t>(7, -100));
      break;
    case NIFTI_TYPE_INT32:
      write_with_niftilib(path, {3, 5, 4, 3}, datatype, nifti2, 0, 0, fill_with<int32_t>(7, -100));
      break;
    case NIFTI_TYPE_FLOAT32:
      write_with_niftilib(path, {3, 5, 4, 3}, datatype, nifti2, 0, 0, fill_with<float>(0.7, -1));
      break;
    case NIFTI_TYPE_FLOAT64:
      write_with_niftilib(path, {3, 5, 4, 3}, datatype, nifti2, 0, 0, fill_with<double>(0.7, -1));
      break;
  }
  const NiftiVolume v = read_nifti(path);
  EXPECT_EQ(v.source_datatype, datatype);
  ASSERT_EQ(v.voxels.size(), 60u);
  EXPECT_EQ(v.geometry.nx, 5);
  EXPECT_EQ(v.geometry.ny, 4);
  EXPECT_EQ(v.geometry.nz, 3);
  EXPECT_NEAR(v.geometry.spacing[0], 0.75, 1e-6);
  EXPECT_NEAR(v.geometry.spacing[2], 2.5, 1e-6);
  const bool integer = datatype != NIFTI_TYPE_FLOAT32 && datatype != NIFTI_TYPE_FLOAT64;
  const bool is_unsigned = datatype == NIFTI_TYPE_UINT8 || datatype == NIFTI_TYPE_UINT16 ||
                           datatype == NIFTI_TYPE_UINT32 || datatype == NIFTI_TYPE_UINT64;
  // int8 holds -128..127: a smaller step keeps fmod(i * 0.5, 200) - 100 in range.
  const double scale = datatype == NIFTI_TYPE_INT8 ? 0.5 : integer ? 7 : 0.7;
  const double offset = is_unsigned ? 3 : integer ? -100 : -1;
  for (size_t i = 0; i < v.voxels.size(); ++i) {
    double want = std::fmod(double(i) * scale, 200.0) + offset;
    if (integer) want = std::trunc(want);
    // float64 and float32 sources: one float rounding.
    ASSERT_NEAR(v.voxels[i], want, 1e-5 * std::fabs(want)) << "voxel " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllFormats, NiftilibWritten,
    ::testing::Combine(::testing::Values(NIFTI_TYPE_INT8, NIFTI_TYPE_UINT8, NIFTI_TYPE_INT16,
                                         NIFTI_TYPE_UINT16, NIFTI_TYPE_INT32, NIFTI_TYPE_UINT32,
                                         NIFTI_TYPE_INT64, NIFTI_TYPE_UINT64, NIFTI_TYPE_FLOAT32,
                                         NIFTI_TYPE_FLOAT64),
                       ::testing::Bool(), ::testing::Values(".nii", ".nii.gz")));

TEST(NiftiRead, AppliesSclSlopeAndInter) {
  TempDir dir;
  write_with_niftilib(dir.file("s.nii.gz"), {3, 4, 3, 2}, NIFTI_TYPE_INT16, false, 2.0, -1024.0,
                      fill_with<int16_t>(3, 0));
  const NiftiVolume v = read_nifti(dir.file("s.nii.gz"));
  for (size_t i = 0; i < v.voxels.size(); ++i) {
    ASSERT_EQ(v.voxels[i], float(std::fmod(i * 3.0, 200.0) * 2 - 1024)) << i;
  }
  // Slope 0 means "no scaling", even with an intercept.
  write_with_niftilib(dir.file("z.nii"), {3, 4, 3, 2}, NIFTI_TYPE_UINT8, false, 0.0, 5.0,
                      fill_with<uint8_t>(3, 0));
  const NiftiVolume z = read_nifti(dir.file("z.nii"));
  for (size_t i = 0; i < z.voxels.size(); ++i) ASSERT_EQ(z.voxels[i], float(i * 3 % 200)) << i;
}

// CT exported as uint16 with an intercept of -1024 (a common scanner and converter encoding) reads
// as the same Hounsfield units as the int16 file of the same scan.
TEST(NiftiRead, Uint16WithInterceptGivesTheSameHuAsInt16) {
  TempDir dir;
  auto hu = [](int64_t i) { return int(i * 53 % 2048) - 1024; };  // -1024 (air) .. 1023
  write_with_niftilib(dir.file("i16.nii.gz"), {3, 6, 5, 4}, NIFTI_TYPE_INT16, false, 0, 0,
                      [&](unsigned char* p, int64_t i) {
                        const int16_t v = static_cast<int16_t>(hu(i));
                        std::memcpy(p, &v, sizeof(v));
                      });
  write_with_niftilib(dir.file("u16.nii.gz"), {3, 6, 5, 4}, NIFTI_TYPE_UINT16, false, 1.0, -1024.0,
                      [&](unsigned char* p, int64_t i) {
                        const uint16_t v = static_cast<uint16_t>(hu(i) + 1024);
                        std::memcpy(p, &v, sizeof(v));
                      });
  const NiftiVolume a = read_nifti(dir.file("i16.nii.gz"));
  const NiftiVolume b = read_nifti(dir.file("u16.nii.gz"));
  EXPECT_EQ(b.source_datatype, NIFTI_TYPE_UINT16);
  EXPECT_TRUE(testing::bitwise_equal(b.voxels, a.voxels, "uint16 + intercept vs int16"));
  EXPECT_EQ(*std::min_element(b.voxels.begin(), b.voxels.end()), -1024.0f);
}

// Datatypes with no single real value per voxel are refused by name and code, before any data is
// read, with what to do.
class NiftiNonRealDatatype : public ::testing::TestWithParam<int> {};

TEST_P(NiftiNonRealDatatype, IsRefusedWithItsName) {
  const int datatype = GetParam();
  TempDir dir;
  const std::string path = dir.file("x.nii");
  write_with_niftilib(path, {3, 4, 3, 2}, datatype, false, 0, 0, [](unsigned char*, int64_t) {});
  const std::string message = read_error(path);
  const std::string name_and_code =
      std::string(nifti_datatype_string(datatype)) + " (code " + std::to_string(datatype) + ")";
  EXPECT_NE(message.find(path + ": unsupported datatype " + name_and_code), std::string::npos)
      << message;
  EXPECT_NE(message.find("a scalar real volume is needed"), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(ComplexRgbFloat128, NiftiNonRealDatatype,
                         ::testing::Values(NIFTI_TYPE_COMPLEX64, NIFTI_TYPE_COMPLEX128,
                                           NIFTI_TYPE_RGB24, NIFTI_TYPE_RGBA32,
                                           NIFTI_TYPE_FLOAT128),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(nifti_datatype_string(info.param));
                         });

TEST(NiftiRead, AcceptsFourDWithOneVolume) {
  TempDir dir;
  write_with_niftilib(dir.file("v.nii"), {4, 3, 3, 2, 1}, NIFTI_TYPE_UINT8, false, 0, 0,
                      fill_with<uint8_t>(1, 0));
  const NiftiVolume v = read_nifti(dir.file("v.nii"));
  EXPECT_EQ(v.voxels.size(), 18u);
  EXPECT_EQ(v.voxels[17], 17.0f);
}

// ---------------------------------------------------------------------------------------------
// Rejections: each path with its message, and nothing printed by niftilib

TEST(NiftiReject, MissingFile) {
  TempDir dir;
  const std::string msg = read_error(dir.file("none.nii.gz"));
  EXPECT_TRUE(contains(msg, dir.file("none.nii.gz") + ": cannot open (No such file"));
  EXPECT_TRUE(contains(msg, "check the path"));
}

TEST(NiftiReject, Folder) {
  TempDir dir;
  fs::create_directory(dir.file("d.nii"));
  EXPECT_TRUE(contains(read_error(dir.file("d.nii")), "is a folder, not a NIfTI file"));
}

TEST(NiftiReject, NotNifti) {
  TempDir dir;
  std::ofstream(dir.file("t.nii")) << std::string(600, 'x');
  EXPECT_TRUE(contains(read_error(dir.file("t.nii")),
                       "is not a NIfTI file (its first 4 bytes, sizeof_hdr, are 2021161080, not "
                       "348 or 540)"));
  std::ofstream(dir.file("short.nii.gz")) << std::string(100, 'x');
  EXPECT_TRUE(contains(read_error(dir.file("short.nii.gz")),
                       "is 100 bytes (after decompression), too short for a NIfTI header"));
}

// Rewrites bytes [offset, offset + 4) of a .nii or .nii.gz file (decompressing and recompressing
// the latter), as a broken or foreign writer would have left them.
void patch_header(const std::string& path, size_t offset, const char bytes[4]) {
  const bool gz = path.size() > 3 && path.substr(path.size() - 3) == ".gz";
  std::string content;
  gzFile in = gzopen(path.c_str(), "rb");
  ASSERT_NE(in, nullptr);
  char buf[4096];
  for (int n; (n = gzread(in, buf, sizeof buf)) > 0;) content.append(buf, static_cast<size_t>(n));
  gzclose(in);
  ASSERT_GT(content.size(), offset + 4);
  std::memcpy(&content[offset], bytes, 4);
  gzFile out = gzopen(path.c_str(), gz ? "wb" : "wbT");
  ASSERT_NE(out, nullptr);
  gzwrite(out, content.data(), static_cast<unsigned>(content.size()));
  ASSERT_EQ(gzclose(out), Z_OK);
}

// niftilib reads a 348-byte header whose magic is not "n+1" as ANALYZE 7.5 and drops the
// orientation without a word; a .nii/.nii.gz must be real NIfTI.
TEST(NiftiReject, WrongMagicInASingleFile) {
  TempDir dir;
  for (const std::string name : {"m.nii", "m.nii.gz"}) {
    const std::string path = dir.file(name);
    write_nifti(path, make_geometry(4, 4, 4, 1, 1, 1), std::vector<float>(64, 1), NIFTI_TYPE_INT16);
    ASSERT_NO_THROW(read_nifti(path));
    patch_header(path, 344, "\0\0\0\0");
    const std::string message = read_error(path);
    EXPECT_TRUE(contains(message, path + ": header magic is '(empty)' where a .nii file needs "
                                         "'n+1' (NIfTI-1)"));
    EXPECT_TRUE(contains(message, "ANALYZE 7.5 volume is read only as a .hdr/.img pair"));
    patch_header(path, 344, "ni1\0");
    EXPECT_TRUE(contains(read_error(path), "holds the header of a .hdr/.img pair (magic 'ni1')"));
    patch_header(path, 344, "n+\x01\0");
    EXPECT_TRUE(contains(read_error(path), "header magic is 'n+\\x01'"));
  }
  const std::string path2 = dir.file("m2.nii");
  write_nifti(path2, make_geometry(4, 4, 4, 1, 1, 1), std::vector<float>(64, 1), NIFTI_TYPE_INT16,
              /*nifti2=*/true);
  ASSERT_NO_THROW(read_nifti(path2));
  patch_header(path2, 4, "n+1\0");
  EXPECT_TRUE(contains(read_error(path2),
                       "header magic is 'n+1' where a NIfTI-2 .nii file needs "
                       "'n+2'"));
}

// Headers that crashed or tripped UBSan inside niftilib under fuzz/nifti_fuzz.cpp: a NIfTI-2
// dim[0] of 288 (niftilib copies dim[1..dim[0]] into arrays of 8: a stack overflow) and a
// vox_offset of INT64_MAX (overflowing its offset arithmetic). Both are refused from the header
// bytes before niftilib reads them, as is a NIfTI-1 dim[0] out of 1..7.
TEST(NiftiReject, HeaderFieldsThatBreakNiftilib) {
  TempDir dir;
  const std::string two = dir.file("two.nii");
  write_nifti(two, make_geometry(3, 3, 2, 1, 1, 1), std::vector<float>(18, 1), NIFTI_TYPE_INT16,
              /*nifti2=*/true);
  patch_header(two, 16, "\x20\x01\0\0");  // dim[0] = 288 (int64, little endian)
  EXPECT_TRUE(contains(read_error(two),
                       "header dim[0] is 288 (the number of dimensions must be 1 "
                       "to 7)"));
  write_nifti(two, make_geometry(3, 3, 2, 1, 1, 1), std::vector<float>(18, 1), NIFTI_TYPE_INT16,
              /*nifti2=*/true);
  patch_header(two, 168, "\xff\xff\xff\xff");
  patch_header(two, 172, "\xff\xff\xff\x7f");  // vox_offset = INT64_MAX
  EXPECT_TRUE(
      contains(read_error(two), "header vox_offset 9.22337e+18 is not a valid data offset"));
  const std::string one = dir.file("one.nii.gz");
  write_nifti(one, make_geometry(3, 3, 2, 1, 1, 1), std::vector<float>(18, 1), NIFTI_TYPE_INT16);
  patch_header(one, 40, "\x09\0\x03\0");  // dim[0] = 9, dim[1] = 3 (int16s)
  EXPECT_TRUE(contains(read_error(one), "header dim[0] is 9"));
  write_nifti(one, make_geometry(3, 3, 2, 1, 1, 1), std::vector<float>(18, 1), NIFTI_TYPE_INT16);
  patch_header(one, 44, "\xfc\xff\x02\0");  // dim[2] = -4 (niftilib would read it as 1)
  EXPECT_TRUE(contains(read_error(one), "header dimension 2 is -4 (must be at least 1)"));
  // A tiny .nii.gz whose header claims 1024^3 float64 voxels: refused from the compressed length,
  // before niftilib allocates 8 GiB for it.
  const std::string big = dir.file("big.nii.gz");
  write_nifti(big, make_geometry(4, 4, 4, 1, 1, 1), std::vector<float>(64, 1), NIFTI_TYPE_FLOAT64);
  patch_header(big, 42, "\0\x04\0\x04");  // dim[1] = dim[2] = 1024
  patch_header(big, 46, "\0\x04\x01\0");  // dim[3] = 1024, dim[4] = 1
  EXPECT_TRUE(contains(read_error(big),
                       "compressed file is truncated: it holds 864 bytes, the "
                       "header needs 8589934944"));
  // The fuzzer's own inputs, as committed for CI's replay: each is refused, none crashes.
  for (const auto& e :
       fs::directory_iterator(fs::path(UNET_SOURCE_DIR) / "fuzz/regressions/nifti")) {
    SCOPED_TRACE(e.path().string());
    EXPECT_NE(read_error(e.path().string()), "(no exception)");
  }
}

// ANALYZE 7.5 is still read as a .hdr/.img pair, with a warning: it stores no orientation.
TEST(NiftiRead, AnalyzePairIsReadWithAWarning) {
  TempDir dir;
  const std::vector<float> values = testing::random_floats(5 * 4 * 3, 3, -500, 500);
  std::vector<float> rounded(values.size());
  for (size_t i = 0; i < values.size(); ++i) rounded[i] = std::nearbyint(values[i]);
  write_nifti(dir.file("a.nii"), make_geometry(5, 4, 3, 0.5, 0.6, 2), rounded, NIFTI_TYPE_INT16);
  const std::string bytes = read_bytes(dir.file("a.nii"));
  // The pair: the 348-byte header with an ANALYZE (empty) magic, and the data from vox_offset on.
  std::string header = bytes.substr(0, 348);
  std::memset(&header[344], 0, 4);
  const float vox_offset = 0;  // an ANALYZE .img holds only the data
  std::memcpy(&header[108], &vox_offset, 4);
  std::ofstream(dir.file("a.hdr"), std::ios::binary) << header;
  std::ofstream(dir.file("a.img"), std::ios::binary) << bytes.substr(352);
  ::testing::internal::CaptureStderr();
  const NiftiVolume v = read_nifti(dir.file("a.hdr"));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(v.voxels, rounded);
  EXPECT_EQ(v.geometry.qform_code, 0);
  EXPECT_EQ(v.geometry.sform_code, 0);
  EXPECT_TRUE(contains(v.warning, dir.file("a.hdr") + ": ANALYZE 7.5 header, which stores no "
                                                      "orientation"));
  EXPECT_EQ(read_nifti(dir.file("a.nii")).warning, "") << "NIfTI files carry no warning";
}

TEST(NiftiReject, SingularSform) {
  TempDir dir;
  NiftiGeometry g = make_geometry(4, 4, 4, 1, 1, 1);
  for (int r = 0; r < 3; ++r) g.sto_xyz[r][1] = g.sto_xyz[r][0];  // axes 0 and 1 point the same way
  write_nifti(dir.file("s.nii"), g, std::vector<float>(64, 0), NIFTI_TYPE_UINT8);
  EXPECT_TRUE(contains(read_error(dir.file("s.nii")), "the voxel-to-world matrix is singular"));
}

TEST(NiftiReject, TruncatedGzip) {
  TempDir dir;
  const std::string path = dir.file("cut.nii.gz");
  // Noise does not compress, so half the file cuts deep into the data.
  std::vector<float> noise = testing::random_floats(32 * 32 * 16, 7, -1000, 1000);
  write_nifti(path, make_geometry(32, 32, 16, 1, 1, 1), noise, NIFTI_TYPE_INT16);
  truncate_to(path, fs::file_size(path) / 2);
  EXPECT_TRUE(contains(read_error(path), "image data could not be read completely"));
}

TEST(NiftiReject, TruncatedGzipHeader) {
  TempDir dir;
  const std::string path = dir.file("cut.nii.gz");
  write_nifti(path, make_geometry(8, 8, 8, 1, 1, 1), std::vector<float>(512, 1), NIFTI_TYPE_UINT8);
  truncate_to(path, 40);
  EXPECT_TRUE(contains(read_error(path), "too short for a NIfTI header"));
}

TEST(NiftiReject, TruncatedUncompressed) {
  TempDir dir;
  const std::string path = dir.file("cut.nii");
  write_nifti(path, make_geometry(8, 8, 8, 1, 1, 1), std::vector<float>(512, 1), NIFTI_TYPE_INT16);
  truncate_to(path, 352 + 1000);
  EXPECT_TRUE(contains(read_error(path), "file is truncated: 1352 bytes, the header needs 1376"));
}

TEST(NiftiReject, TwoD) {
  TempDir dir;
  write_with_niftilib(dir.file("a.nii"), {2, 4, 4}, NIFTI_TYPE_INT16, false, 0, 0,
                      fill_with<int16_t>(1, 0));
  EXPECT_TRUE(contains(read_error(dir.file("a.nii")),
                       "data is 2-D (dim = [2, 4, 4]); a 3-D volume is needed"));
}

TEST(NiftiReject, FiveD) {
  TempDir dir;
  write_with_niftilib(dir.file("a.nii.gz"), {5, 4, 4, 2, 1, 2}, NIFTI_TYPE_INT16, false, 0, 0,
                      fill_with<int16_t>(1, 0));
  EXPECT_TRUE(contains(read_error(dir.file("a.nii.gz")),
                       "data is 5-D (dim = [5, 4, 4, 2, 1, 2]); a 3-D volume is needed"));
}

TEST(NiftiReject, FourDWithThreeVolumes) {
  TempDir dir;
  write_with_niftilib(dir.file("a.nii"), {4, 4, 4, 2, 3}, NIFTI_TYPE_FLOAT32, true, 0, 0,
                      fill_with<float>(1, 0));
  EXPECT_TRUE(contains(read_error(dir.file("a.nii")),
                       "holds 3 volumes (dim = [4, 4, 4, 2, 3]); split it into 3-D volumes"));
}

TEST(NiftiReject, MoreVoxelsThanTheLimit) {
  TempDir dir;
  write_with_niftilib(dir.file("a.nii"), {3, 10, 10, 10}, NIFTI_TYPE_UINT8, false, 0, 0,
                      fill_with<uint8_t>(1, 0));
  NiftiReadOptions options;
  options.max_voxels = 999;
  EXPECT_TRUE(
      contains(read_error(dir.file("a.nii"), options), "10x10x10 voxels exceed the limit of 999"));
  options.max_voxels = 1000;
  EXPECT_EQ(read_nifti(dir.file("a.nii"), options).voxels.size(), 1000u);
}

TEST(NiftiReject, AbsurdHeaderDimensionsBeforeAnyAllocation) {
  // A NIfTI-2 header claiming 2^21 x 2^21 x 2^21 float64 voxels (the product overflows 64 bits
  // in bytes) followed by no data at all: rejected from the header alone.
  TempDir dir;
  const int64_t dims[8] = {3, 1 << 21, 1 << 21, 1 << 21, 1, 1, 1, 1};
  nifti_2_header* h = nifti_make_new_n2_header(dims, NIFTI_TYPE_FLOAT64);
  ASSERT_NE(h, nullptr);
  std::memcpy(h->magic, "n+2\0\r\n\032\n", 8);
  h->vox_offset = 544;
  {
    std::ofstream out(dir.file("huge.nii"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(h), sizeof(*h));
    out.write("\0\0\0\0", 4);
  }
  free(h);
  EXPECT_TRUE(contains(read_error(dir.file("huge.nii")),
                       "2097152x2097152x2097152 voxels exceed the limit of 1073741824"));
}

// ---------------------------------------------------------------------------------------------
// Geometry

TEST(NiftiGeometry, MakeGeometryIsCentredLpsVoxelOrder) {
  const NiftiGeometry g = make_geometry(11, 9, 5, 0.5, 0.75, 2.0);
  const Affine m = voxel_to_world(g);
  // Centre voxel at the origin; i to patient left (-x in RAS), j to posterior (-y), k superior.
  for (int r = 0; r < 3; ++r) {
    EXPECT_NEAR(m[r][0] * 5 + m[r][1] * 4 + m[r][2] * 2 + m[r][3], 0.0, 1e-12);
  }
  EXPECT_EQ(m[0][0], -0.5);
  EXPECT_EQ(m[1][1], -0.75);
  EXPECT_EQ(m[2][2], 2.0);
  // The quaternion form niftilib derives must agree with the matrix we store.
  const nifti_dmat44 q =
      nifti_quatern_to_dmat44(g.quatern[0], g.quatern[1], g.quatern[2], g.quatern[3], g.quatern[4],
                              g.quatern[5], 0.5, 0.75, 2.0, g.qfac);
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(q.m[r][c], g.qto_xyz[r][c], 1e-12) << r << "," << c;
  }
  EXPECT_THROW(make_geometry(0, 1, 1, 1, 1, 1), std::invalid_argument);
  EXPECT_THROW(make_geometry(1, 1, 1, 1, NAN, 1), std::invalid_argument);
}

TEST(NiftiGeometry, SameGridExplainsEveryDifference) {
  const NiftiGeometry a = make_geometry(64, 48, 20, 0.7, 0.7, 2.0);
  std::string why = "stale";
  EXPECT_TRUE(same_grid(a, a, &why));
  EXPECT_EQ(why, "");
  EXPECT_TRUE(same_grid(a, a, nullptr));

  NiftiGeometry b = a;
  b.nz = 21;
  EXPECT_FALSE(same_grid(a, b, &why));
  EXPECT_EQ(why, "dimensions differ: 64x48x20 vs 64x48x21");

  b = a;
  b.spacing[2] = 2.01;  // 0.5 % off
  EXPECT_FALSE(same_grid(a, b, &why));
  EXPECT_TRUE(contains(why, "spacing differs: 0.7 x 0.7 x 2 mm vs 0.7 x 0.7 x 2.01 mm"));
  b.spacing[2] = 2.0 + 1e-4;  // within 1e-3 relative
  EXPECT_TRUE(same_grid(a, b, &why)) << why;

  b = a;
  b.sto_xyz[1][3] += 0.01;  // shifted by 0.01 mm
  EXPECT_FALSE(same_grid(a, b, &why));
  EXPECT_TRUE(contains(why, "voxel-to-world matrices differ"));
  EXPECT_TRUE(contains(why, "0.01"));
  b.sto_xyz[1][3] = a.sto_xyz[1][3] + 1e-5;
  EXPECT_TRUE(same_grid(a, b, &why)) << why;

  b = a;
  b.sto_xyz[0][2] = 1e-4;  // a tiny shear grows across 20 slices: 19 * 1e-4 = 1.9e-3 mm
  EXPECT_FALSE(same_grid(a, b, &why));
  EXPECT_TRUE(contains(why, "voxel (0, 0, 19)"));

  // The same placement stored as qform only is the same grid.
  b = a;
  b.sform_code = 0;
  EXPECT_TRUE(same_grid(a, b, &why)) << why;
}

}  // namespace
}  // namespace unet::io
