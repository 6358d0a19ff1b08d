// Slice cache: write/read round trip (manifest fields and pixels), 0/255 masks, every validation
// error of the reader with its message, and the checksums that catch a cache edited after
// preparation.
#include "io/slice_cache.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/npy.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/testing.h"

namespace fs = std::filesystem;
using namespace unet::io;

namespace {

std::string crc_hex(const void* data, size_t bytes) {
  char buf[16];
  std::snprintf(
      buf, sizeof buf, "%08lx",
      crc32(crc32(0L, Z_NULL, 0), static_cast<const Bytef*>(data), static_cast<uInt>(bytes)));
  return buf;
}

// What a tool that knows the format would do after an edit: recompute the manifest's own
// checksum (CRC-32 of its key-sorted dump(1) without "integrity"). Lets the tests below reach the
// reader's field checks behind the checksum; the format is written out here independently of
// slice_cache.cpp, so the test also pins it.
void restamp(nlohmann::json& j) {
  nlohmann::json c = j;
  c.erase("integrity");
  const std::string text = c.dump(1);
  j["integrity"]["manifest_crc32"] = crc_hex(text.data(), text.size());
}

class SliceCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_.split = "train";
    m_.options.height = 5;
    m_.options.width = 3;
    m_.options.resample = Resample::kBilinear;
    m_.options.window = {true, -50, 250};
    m_.norm = {0.25, 0.5};
    CacheVolume a;
    a.name = "case01";
    a.image_path = "raw/train/case01.nii.gz";
    a.mask_path = "raw/train/case01_mask.nii.gz";
    a.nx = 10;
    a.ny = 12;
    a.nz = 7;
    a.spacing[0] = 0.7;
    a.spacing[2] = 2.5;
    a.voxel_to_world[0][3] = -12.5;
    a.slices = {1, 2, 5};
    a.liver_slices = 3;
    CacheVolume b = a;
    b.name = "case02";
    b.nz = 3;
    b.slices = {0};
    b.stored_axes = "SRP";  // recorded as given, read back the same
    m_.volumes = {a, b};
    index_volumes(m_);
    images_ = unet::testing::random_floats(4 * 15, 7);
    masks_.resize(4 * 15);
    for (size_t i = 0; i < masks_.size(); ++i) masks_[i] = (i * 7) % 3 == 0;
  }
  std::string file(const char* n) const { return tmp_.file(n); }
  std::string read_text(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void write_text(const std::string& p, const std::string& t) { std::ofstream(p) << t; }
  void expect_reject(const std::string& part) {
    unet::testing::expect_runtime_error([&] { read_slice_cache(dir_); }, part);
  }
  // Edits the manifest JSON in place and restamps its checksum.
  template <class F>
  void edit_manifest(F f) {
    auto j = nlohmann::json::parse(read_text(file("manifest.json")));
    f(j);
    restamp(j);
    write_text(file("manifest.json"), j.dump());
  }
  // Writes an array file and records its checksum in the manifest, as unet_prepare would have.
  template <class T>
  void write_array(const char* name, const std::vector<T>& data,
                   const std::vector<int64_t>& shape) {
    write_npy(file(name), data.data(), shape);
    edit_manifest(
        [&](auto& j) { j["checksums"][name] = crc_hex(data.data(), data.size() * sizeof(T)); });
  }
  const unet::testing::TempDir tmp_{"slice_cache_test"};
  const std::string dir_ = tmp_.path().string();
  SliceCacheManifest m_;
  std::vector<float> images_;
  std::vector<uint8_t> masks_;
};

TEST_F(SliceCacheTest, RoundTrip) {
  EXPECT_EQ(m_.volume_of_slice, (std::vector<int32_t>{0, 0, 0, 1}));
  EXPECT_EQ(m_.volumes[1].first, 3);
  write_slice_cache(dir_, m_, images_, masks_);
  const SliceCache c = read_slice_cache(dir_);
  EXPECT_TRUE(unet::testing::bitwise_equal(c.images, images_));
  EXPECT_EQ(c.masks, masks_);
  EXPECT_EQ(c.num_slices(), 4);
  EXPECT_EQ(c.height(), 5);
  EXPECT_EQ(c.width(), 3);
  const auto& r = c.manifest;
  EXPECT_EQ(r.split, "train");
  EXPECT_EQ(r.options.resample, Resample::kBilinear);
  EXPECT_EQ(r.options.window.lo, -50.0f);
  EXPECT_EQ(r.options.window.hi, 250.0f);
  EXPECT_EQ(r.norm.mean, 0.25);
  EXPECT_EQ(r.norm.std, 0.5);
  EXPECT_EQ(r.volume_of_slice, m_.volume_of_slice);
  ASSERT_EQ(r.volumes.size(), 2u);
  EXPECT_EQ(r.volumes[0].slices, (std::vector<int64_t>{1, 2, 5}));
  EXPECT_EQ(r.volumes[0].image_path, "raw/train/case01.nii.gz");
  EXPECT_EQ(r.volumes[0].spacing[2], 2.5);
  EXPECT_EQ(r.volumes[0].voxel_to_world[0][3], -12.5);
  EXPECT_EQ(r.volumes[1].nz, 3);
  EXPECT_EQ(r.volumes[0].stored_axes, "LPS");
  EXPECT_EQ(r.volumes[1].stored_axes, "SRP");
  EXPECT_EQ(read_npy_header(file("images.npy")).shape, (std::vector<int64_t>{4, 5, 3, 1}));
  EXPECT_EQ(read_slice_cache_manifest(dir_).volumes[1].name, "case02");
}

TEST_F(SliceCacheTest, Masks0255ReadAs01) {
  write_slice_cache(dir_, m_, images_, masks_);
  std::vector<uint8_t> m255 = masks_;
  for (auto& v : m255) v *= 255;
  write_array("masks.npy", m255, {4, 5, 3, 1});
  EXPECT_EQ(read_slice_cache(dir_).masks, masks_);
}

TEST_F(SliceCacheTest, RejectsMissingFolderAndFiles) {
  unet::testing::expect_runtime_error([&] { read_slice_cache(dir_ + "/nope"); },
                                      "nope: slice cache folder does not exist; run unet_prepare");
  expect_reject("manifest.json: cannot read the manifest; rerun unet_prepare");
  write_slice_cache(dir_, m_, images_, masks_);
  fs::remove(file("masks.npy"));
  expect_reject("masks.npy: cannot open .npy file");
}

TEST_F(SliceCacheTest, RejectsBadManifests) {
  write_slice_cache(dir_, m_, images_, masks_);
  const std::string good = read_text(file("manifest.json"));
  write_text(file("manifest.json"), "{ not json");
  expect_reject("manifest is not valid JSON");
  write_text(file("manifest.json"), "{\"hello\": 1}");
  expect_reject("not a slice cache manifest");
  const std::pair<std::function<void(nlohmann::json&)>, std::string> cases[] = {
      {[](auto& j) { j["version"] = 99; }, "manifest version 99 is not supported"},
      {[](auto& j) { j.erase("height"); }, "manifest has no 'height'"},
      {[](auto& j) { j["width"] = "wide"; }, "manifest field 'width' must be an integer"},
      // Found by fuzz/manifest_fuzz.cpp (fuzz/regressions/manifest): numbers that nlohmann would
      // convert with undefined behaviour (1e30 to int, 1e300 to float) or that do not fit.
      {[](auto& j) { j["height"] = 1e30; }, "manifest field 'height' must be an integer (1e+30)"},
      {[](auto& j) { j["version"] = 2.5; }, "manifest field 'version' must be an integer"},
      {[](auto& j) { j["height"] = 4294967296LL; }, "manifest field 'height' is out of range"},
      {[](auto& j) { j["volumes"][0]["nx"] = 1e300; }, "manifest field 'nx' must be an integer"},
      {[](auto& j) { j["window"]["lo"] = 1e300; },
       "manifest field 'lo' is not a finite number in range"},
      {[](auto& j) { j["normalization"]["mean"] = "zero"; },
       "manifest field 'mean' must be a number"},
      {[](auto& j) { j["keep_empty"] = 1; }, "manifest field 'keep_empty' must be true or false"},
      {[](auto& j) {
         j["volumes"][0]["slices"] = {1, 2.5, 5};
       },
       "manifest field 'slices' must be an integer"},
      {[](auto& j) { j["volume_of_slice"] = 3; },
       "manifest field 'volume_of_slice' must be an array"},
      {[](auto& j) {
         j["volumes"][0]["voxel_to_world"][1] = {0, 1, "x", 0};
       },
       "manifest field 'voxel_to_world' must be a number"},
      {[](auto& j) { j["resample"] = "cubic"; }, "unknown resample mode 'cubic'"},
      {[](auto& j) { j["normalization"]["std"] = 0.0; }, "std > 0"},
      {[](auto& j) {
         j["volumes"][0]["slices"] = {1, 9, 5};
       },
       "slice index 9 is outside [0, nz = 7)"},
      {[](auto& j) {
         j["volumes"][0]["slices"] = {2, 1, 5};
       },
       "not ascending"},
      {[](auto& j) {
         j["volume_of_slice"] = {0, 1, 1, 1};
       },
       "volume_of_slice does not match"},
      {[](auto& j) { j["volumes"][1]["first"] = 2; }, "volume 'case02' has first = 2, expected 3"},
      {[](auto& j) { j["num_slices"] = 5; }, "num_slices does not match"},
      {[](auto& j) { j["volumes"][0]["nz"] = 0; }, "volume 'case01' has a bad grid"},
  };
  for (const auto& [edit, part] : cases) {
    write_text(file("manifest.json"), good);
    edit_manifest(edit);
    expect_reject(part);
  }
}

TEST_F(SliceCacheTest, RejectsArraysThatDoNotMatch) {
  write_slice_cache(dir_, m_, images_, masks_);
  write_array("images.npy", images_, {4, 3, 5, 1});
  expect_reject("images.npy: shape [4, 3, 5, 1] does not match the manifest's [4, 5, 3, 1]");
  write_array("images.npy", masks_, {4, 5, 3, 1});
  expect_reject("images.npy: images must be float32");
  auto bad = images_;
  bad[17] = std::nanf("");
  write_array("images.npy", bad, {4, 5, 3, 1});
  expect_reject("images.npy: non-finite value at element 17");
  write_array("images.npy", images_, {4, 5, 3, 1});
  write_array("masks.npy", images_, {4, 5, 3, 1});
  expect_reject("masks.npy: masks must be uint8");
  write_array("masks.npy", masks_, {3, 5, 3, 1});
  expect_reject("masks.npy: shape [3, 5, 3, 1] does not match");
  auto m = masks_;
  m[5] = 7;
  write_array("masks.npy", m, {4, 5, 3, 1});
  expect_reject("mask values must be 0/1 or 0/255, found 7 at element 5");
  m = masks_;
  m[0] = 1;
  m[1] = 255;
  write_array("masks.npy", m, {4, 5, 3, 1});
  expect_reject("found 255 mixed with the other convention at element 1");
}

// The issue this guards: a cache edited after unet_prepare (a slice file changed or truncated, the
// manifest hand-edited) must not be trained on.
TEST_F(SliceCacheTest, EditsAfterPreparationAreDetected) {
  write_slice_cache(dir_, m_, images_, masks_);
  const std::string good_manifest = read_text(file("manifest.json"));
  EXPECT_NO_THROW(read_slice_cache(dir_));

  // The manifest edited by hand: a changed normalisation, an extra space inside a value's text
  // does not count (JSON whitespace), a changed slice list does.
  auto j = nlohmann::json::parse(good_manifest);
  j["normalization"]["mean"] = 0.3;
  write_text(file("manifest.json"), j.dump(2));
  expect_reject("manifest.json: manifest was changed after unet_prepare wrote it");
  write_text(file("manifest.json"), nlohmann::json::parse(good_manifest).dump(4));
  EXPECT_NO_THROW(read_slice_cache(dir_)) << "reformatting is not an edit";
  j = nlohmann::json::parse(good_manifest);
  j["volumes"][0]["slices"] = {1, 2, 6};
  write_text(file("manifest.json"), j.dump());
  expect_reject("manifest was changed after unet_prepare wrote it");
  write_text(file("manifest.json"), good_manifest);

  // One image value changed, same shape and still finite.
  auto img = images_;
  img[23] += 1.0f;
  write_npy(file("images.npy"), img.data(), {4, 5, 3, 1});
  expect_reject("images.npy: contents changed after unet_prepare wrote them");
  write_npy(file("images.npy"), images_.data(), {4, 5, 3, 1});
  // One mask pixel flipped (still a valid 0/1 mask).
  auto msk = masks_;
  msk[11] ^= 1;
  write_npy(file("masks.npy"), msk.data(), {4, 5, 3, 1});
  expect_reject("masks.npy: contents changed after unet_prepare wrote them");
  write_npy(file("masks.npy"), masks_.data(), {4, 5, 3, 1});
  // Truncated slice file.
  const auto size = fs::file_size(file("images.npy"));
  fs::resize_file(file("images.npy"), size - 8);
  unet::testing::expect_runtime_error([&] { read_slice_cache(dir_); }, "images.npy");
  write_npy(file("images.npy"), images_.data(), {4, 5, 3, 1});
  EXPECT_NO_THROW(read_slice_cache(dir_));
}

TEST_F(SliceCacheTest, OldAndBadOrientationManifestsAreRefused) {
  write_slice_cache(dir_, m_, images_, masks_);
  EXPECT_EQ(read_slice_cache_manifest(dir_).volumes[0].stored_axes, "LPS");
  edit_manifest([](auto& j) { j["version"] = 1; });
  expect_reject("was prepared by an older unet_prepare (cache version 1");
  write_slice_cache(dir_, m_, images_, masks_);
  edit_manifest([](auto& j) { j["volumes"][1]["stored_axes"] = "LPX"; });
  expect_reject("volume 'case02': orientation 'LPX' is not three axis codes");
  write_slice_cache(dir_, m_, images_, masks_);
  edit_manifest([](auto& j) { j["checksums"]["images.npy"] = "xyz"; });
  expect_reject("checksum 'xyz' is not 8 lowercase hex digits");
}

TEST_F(SliceCacheTest, WriteRejectsSizeMismatch) {
  images_.pop_back();
  unet::testing::expect_invalid([&] { write_slice_cache(dir_, m_, images_, masks_); },
                                "manifest says 4 slices of 5x3 (60 values) but got 59 image");
  EXPECT_FALSE(fs::exists(file("manifest.json")));
}

}  // namespace
