// Slice cache: write/read round trip (manifest fields and pixels), 0/255 masks, and every
// validation error of the reader with its message.
#include "io/slice_cache.h"

#include <gtest/gtest.h>

#include <cmath>
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
  // Edits the manifest JSON in place.
  template <class F>
  void edit_manifest(F f) {
    auto j = nlohmann::json::parse(read_text(file("manifest.json")));
    f(j);
    write_text(file("manifest.json"), j.dump());
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
  EXPECT_EQ(read_npy_header(file("images.npy")).shape, (std::vector<int64_t>{4, 5, 3, 1}));
  EXPECT_EQ(read_slice_cache_manifest(dir_).volumes[1].name, "case02");
}

TEST_F(SliceCacheTest, Masks0255ReadAs01) {
  write_slice_cache(dir_, m_, images_, masks_);
  std::vector<uint8_t> m255 = masks_;
  for (auto& v : m255) v *= 255;
  write_npy(file("masks.npy"), m255.data(), {4, 5, 3, 1});
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
      {[](auto& j) { j["width"] = "wide"; }, "manifest field 'width' has the wrong type"},
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
  write_npy(file("images.npy"), images_.data(), {4, 3, 5, 1});
  expect_reject("images.npy: shape [4, 3, 5, 1] does not match the manifest's [4, 5, 3, 1]");
  write_npy(file("images.npy"), masks_.data(), {4, 5, 3, 1});
  expect_reject("images.npy: images must be float32");
  auto bad = images_;
  bad[17] = std::nanf("");
  write_npy(file("images.npy"), bad.data(), {4, 5, 3, 1});
  expect_reject("images.npy: non-finite value at element 17");
  write_npy(file("images.npy"), images_.data(), {4, 5, 3, 1});
  write_npy(file("masks.npy"), images_.data(), {4, 5, 3, 1});
  expect_reject("masks.npy: masks must be uint8");
  write_npy(file("masks.npy"), masks_.data(), {3, 5, 3, 1});
  expect_reject("masks.npy: shape [3, 5, 3, 1] does not match");
  auto m = masks_;
  m[5] = 7;
  write_npy(file("masks.npy"), m.data(), {4, 5, 3, 1});
  expect_reject("mask values must be 0/1 or 0/255, found 7 at element 5");
  m = masks_;
  m[0] = 1;
  m[1] = 255;
  write_npy(file("masks.npy"), m.data(), {4, 5, 3, 1});
  expect_reject("found 255 mixed with the other convention at element 1");
}

TEST_F(SliceCacheTest, WriteRejectsSizeMismatch) {
  images_.pop_back();
  unet::testing::expect_invalid([&] { write_slice_cache(dir_, m_, images_, masks_); },
                                "manifest says 4 slices of 5x3 (60 values) but got 59 image");
  EXPECT_FALSE(fs::exists(file("manifest.json")));
}

}  // namespace
