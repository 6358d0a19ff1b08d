// unet_prepare end to end on tiny synthetic raw folders written with write_nifti: both naming
// layouts, a 0/255 mask, slice-by-slice checks of the caches, and every rejection path (unpaired,
// grid mismatch, unreadable file, empty or missing folder) leaving nothing behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/nifti.h"
#include "io/orientation.h"
#include "io/prepare.h"
#include "io/slice_cache.h"
#include "tests/testing/app_run.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/testing.h"

namespace fs = std::filesystem;
using namespace unet::io;

namespace {

constexpr int kUint8 = 2, kInt16 = 4;  // NIFTI_TYPE_UINT8, NIFTI_TYPE_INT16
constexpr int64_t kN = 8;              // nx = ny = 8, slices of 4x4 after stride 2

// HU of voxel (i, j, k) of case c: a ramp spanning the window and beyond on both sides.
float hu(int c, int64_t i, int64_t j, int64_t k) {
  return static_cast<float>(-400 + 23 * i + 31 * j + 60 * k + 17 * c);
}
// Liver: a 2x2 block at even coordinates (so stride 2 keeps one pixel) in the listed slices.
bool liver(int64_t i, int64_t j, int64_t k, const std::vector<int64_t>& ks) {
  return std::count(ks.begin(), ks.end(), k) && i >= 2 && i <= 3 && j >= 4 && j <= 5;
}

class PrepareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(raw_ / "train");
    fs::create_directories(raw_ / "test");
  }

  // Writes image + mask of case c into split with the given names; mask_scale 1 or 255.
  void write_case(const std::string& split, const std::string& image, const std::string& mask,
                  int c, int64_t nz, const std::vector<int64_t>& liver_ks, float mask_scale) {
    const NiftiGeometry g = make_geometry(kN, kN, nz, 0.7, 0.7, 2.5);
    std::vector<float> img(kN * kN * nz), msk(kN * kN * nz);
    for (int64_t k = 0; k < nz; ++k)
      for (int64_t j = 0; j < kN; ++j)
        for (int64_t i = 0; i < kN; ++i) {
          img[i + kN * (j + kN * k)] = hu(c, i, j, k);
          msk[i + kN * (j + kN * k)] = liver(i, j, k, liver_ks) ? mask_scale : 0.0f;
        }
    write_nifti((raw_ / split / image).string(), g, img, kInt16);
    write_nifti((raw_ / split / mask).string(), g, msk, kUint8);
  }
  void write_standard_set() {
    write_case("train", "case01_orig.nii.gz", "case01_liver.nii.gz", 1, 5, {1, 3}, 1.0f);
    write_case("train", "case02_orig.nii", "case02_liver.nii", 2, 4, {2}, 255.0f);
    write_case("test", "t1.nii.gz", "t1_mask.nii.gz", 3, 3, {0}, 1.0f);
  }
  PrepareOptions options() const {
    PrepareOptions o;
    o.raw_dir = raw_.string();
    o.out_dir = out_.string();
    o.slice.height = o.slice.width = 4;
    return o;
  }
  static float window(float h) { return std::clamp((h + 100.0f) / 500.0f, 0.0f, 1.0f); }
  // Nothing but raw/ may remain in root after a failure.
  void expect_nothing_written() {
    for (const auto& e : fs::directory_iterator(root_)) {
      EXPECT_EQ(e.path().filename(), "raw") << "left behind: " << e.path();
    }
  }
  void expect_reject(const std::string& part) {
    const std::string message =
        unet::testing::error_message([&] { prepare_dataset(options(), nullptr); });
    EXPECT_NE(message.find(part), std::string::npos) << "want '" << part << "' in: " << message;
    expect_nothing_written();
  }
#ifdef UNET_BINARY_DIR
  // Runs the built unet_prepare binary with `args`; its exit code, its stderr in *err.
  int run(const std::string& args, std::string* err) const {
    const unet::testing::AppResult r =
        unet::testing::run_app(std::string(UNET_BINARY_DIR) + "/unet_prepare", args, root_);
    *err = r.err;
    return r.code;
  }
#endif
  const unet::testing::TempDir tmp_{"unet_prepare_test"};
  const fs::path root_ = tmp_.path(), raw_ = root_ / "raw", out_ = root_ / "cache";
};

TEST_F(PrepareTest, EndToEndSliceBySlice) {
  write_standard_set();
  const PrepareReport rep = prepare_dataset(options(), nullptr);
  EXPECT_EQ(rep.train_slices, 3);
  EXPECT_EQ(rep.test_slices, 3);
  ASSERT_EQ(rep.cases.size(), 3u);
  EXPECT_EQ(rep.cases[0].name, "case01");
  EXPECT_EQ(rep.cases[0].liver_slices, 2);

  // Expected training slices: (case, k) = (1, 1), (1, 3), (2, 2); stats over their windowed pixels.
  const std::vector<std::pair<int, int64_t>> kept = {{1, 1}, {1, 3}, {2, 2}};
  double sum = 0, sq = 0;
  for (auto [c, k] : kept)
    for (int r = 0; r < 4; ++r)
      for (int col = 0; col < 4; ++col) sum += window(hu(c, 2 * col, 2 * r, k));
  const double mean = sum / 48;
  for (auto [c, k] : kept)
    for (int r = 0; r < 4; ++r)
      for (int col = 0; col < 4; ++col) sq += std::pow(window(hu(c, 2 * col, 2 * r, k)) - mean, 2);
  const double sd = std::sqrt(sq / 48);
  // The library sums fp32 windowed values (rounded ~6e-8 relative) in double: 1e-7.
  EXPECT_NEAR(rep.mean, mean, 1e-7);
  EXPECT_NEAR(rep.std, sd, 1e-7);

  const SliceCache train = read_slice_cache((out_ / "train").string());
  ASSERT_EQ(train.num_slices(), 3);
  EXPECT_EQ(train.manifest.volume_of_slice, (std::vector<int32_t>{0, 0, 1}));
  EXPECT_EQ(train.manifest.volumes[0].slices, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(train.manifest.volumes[1].slices, (std::vector<int64_t>{2}));
  EXPECT_EQ(train.manifest.volumes[1].name, "case02");
  EXPECT_EQ(train.manifest.volumes[1].nz, 4);
  EXPECT_NEAR(train.manifest.volumes[0].spacing[2], 2.5, 1e-6);
  EXPECT_TRUE(train.manifest.volumes[0].image_path.find("case01_orig.nii.gz") != std::string::npos);
  for (int s = 0; s < 3; ++s) {
    const auto [c, k] = kept[s];
    for (int r = 0; r < 4; ++r)
      for (int col = 0; col < 4; ++col) {
        const size_t at = (s * 4 + r) * 4 + col;
        // fp32 window + normalisation of O(1) values: 1e-5.
        ASSERT_NEAR(train.images[at], (window(hu(c, 2 * col, 2 * r, k)) - mean) / sd, 1e-5)
            << "slice " << s << " r " << r << " c " << col;
        // Liver block i in [2,3], j in [4,5] -> the stride-2 pixel (row 2, col 1); 0/255 -> 1.
        ASSERT_EQ(train.masks[at], (r == 2 && col == 1) ? 1 : 0) << "slice " << s;
      }
  }
  // Test keeps all slices, normalised with the *training* stats.
  const SliceCache test = read_slice_cache((out_ / "test").string());
  ASSERT_EQ(test.num_slices(), 3);
  EXPECT_EQ(test.manifest.split, "test");
  EXPECT_EQ(test.manifest.volumes[0].slices, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_NEAR(test.manifest.norm.mean, rep.mean, 0);
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(test.images[(k * 4 + 1) * 4 + 3], (window(hu(3, 6, 2, k)) - mean) / sd, 1e-5);
    EXPECT_EQ(test.masks[(k * 4 + 2) * 4 + 1], k == 0 ? 1 : 0);
  }
  // No temp folders remain beside the cache.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(root_)) entries += 1 + 0 * e.is_directory();
  EXPECT_EQ(entries, 2);  // raw, cache
}

// The same raw set stored in other voxel orders (each file rewritten with another permutation
// and flips, affine adjusted so the world geometry is unchanged) prepares to bitwise the same
// slices and statistics; the manifest records each stored order.
TEST_F(PrepareTest, AnyStoredVoxelOrderGivesTheSameCache) {
  write_standard_set();
  prepare_dataset(options(), nullptr);
  const SliceCache train = read_slice_cache((out_ / "train").string());
  const SliceCache test = read_slice_cache((out_ / "test").string());

  std::vector<AxisMap> maps(3);
  maps[0].flip = {true, true, false};  // RAS
  maps[1].source = {2, 0, 1};          // axial axis first
  maps[2].source = {1, 0, 2};          // x and y swapped, k reversed
  maps[2].flip = {false, false, true};
  int n = 0;
  std::vector<std::string> expected_axes;
  for (const char* split : {"train", "test"}) {
    // Sorted, so each image and its mask (adjacent names) get the same map.
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(raw_ / split)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (size_t f = 0; f < files.size(); f += 2, ++n) {
      const AxisMap& m = maps[n % 3];
      for (size_t pair = f; pair < f + 2; ++pair) {
        const NiftiVolume v = read_nifti(files[pair].string());
        const NiftiGeometry g = remap_geometry(v.geometry, m);
        write_nifti(files[pair].string(), g,
                    remap_voxels(v.voxels, v.geometry.nx, v.geometry.ny, v.geometry.nz, m),
                    v.source_datatype);
        if (pair == f) expected_axes.push_back(orientation_name(g, "t"));
      }
    }
  }
  PrepareOptions o = options();
  o.out_dir = (root_ / "cache_reoriented").string();
  std::ostringstream log;
  prepare_dataset(o, &log);
  EXPECT_NE(log.str().find("reoriented RAS -> LPS"), std::string::npos) << log.str();
  const SliceCache train2 = read_slice_cache(o.out_dir + "/train");
  const SliceCache test2 = read_slice_cache(o.out_dir + "/test");
  EXPECT_EQ(train2.images, train.images);
  EXPECT_EQ(train2.masks, train.masks);
  EXPECT_EQ(test2.images, test.images);
  EXPECT_EQ(test2.masks, test.masks);
  EXPECT_EQ(train2.manifest.norm.mean, train.manifest.norm.mean);
  std::vector<std::string> axes;
  for (const auto* c : {&train2, &test2}) {
    for (size_t v = 0; v < c->manifest.volumes.size(); ++v) {
      const CacheVolume& a = c->manifest.volumes[v];
      const CacheVolume& b = (c == &train2 ? train : test).manifest.volumes[v];
      axes.push_back(a.stored_axes);
      EXPECT_EQ(b.stored_axes, "LPS");
      EXPECT_EQ(a.nx, b.nx);
      EXPECT_EQ(a.nz, b.nz);
      EXPECT_EQ(a.slices, b.slices);
      for (int r = 0; r < 4; ++r)
        for (int col = 0; col < 4; ++col)
          EXPECT_NEAR(a.voxel_to_world[r][col], b.voxel_to_world[r][col], 1e-4);
    }
  }
  EXPECT_EQ(axes, expected_axes);
  EXPECT_EQ(axes[0], "RAS");
}

TEST_F(PrepareTest, OptionsKeepEmptyBilinearNoWindowAndReplace) {
  write_standard_set();
  prepare_dataset(options(), nullptr);
  PrepareOptions o = options();
  o.keep_empty_train = true;
  o.slice.resample = Resample::kBilinear;
  o.slice.height = o.slice.width = 3;  // 8 -> 3 is not a stride factor
  o.slice.window.enabled = false;
  const PrepareReport rep = prepare_dataset(o, nullptr);  // replaces the old cache
  EXPECT_EQ(rep.train_slices, 9);
  const SliceCache train = read_slice_cache((out_ / "train").string());
  EXPECT_TRUE(train.manifest.keep_empty);
  EXPECT_EQ(train.height(), 3);
  EXPECT_FALSE(train.manifest.options.window.enabled);
  EXPECT_EQ(train.manifest.options.resample, Resample::kBilinear);
  // Raw HU without window: the mean is in HU, far from [0, 1].
  EXPECT_LT(rep.mean, -50.0);
  o.slice.resample = Resample::kStride;
  unet::testing::expect_runtime_error(
      [&] { prepare_dataset(o, nullptr); },
      "case01_orig.nii.gz: resample stride: source 8x8 to target 3x3");
  // The failed run kept the previous cache intact.
  EXPECT_EQ(read_slice_cache((out_ / "train").string()).height(), 3);
}

TEST_F(PrepareTest, RejectsUnpaired) {
  write_standard_set();
  write_case("train", "case03_orig.nii", "case03_liver.nii", 1, 3, {1}, 1.0f);
  fs::remove(raw_ / "train" / "case03_liver.nii");
  expect_reject("image without mask: case03_orig.nii");
}

TEST_F(PrepareTest, RejectsGridMismatch) {
  write_standard_set();
  const NiftiGeometry g = make_geometry(kN, kN, 5, 0.7, 0.7, 3.0);  // slice spacing differs
  write_nifti((raw_ / "train" / "case01_liver.nii.gz").string(), g,
              std::vector<float>(kN * kN * 5, 1.0f), kUint8);
  expect_reject("case01_liver.nii.gz: mask is not on the grid of its image");
  expect_reject("case01_orig.nii.gz");
}

TEST_F(PrepareTest, RejectsUnreadableFile) {
  write_standard_set();
  std::ofstream(raw_ / "test" / "t1.nii.gz") << "this is not a NIfTI file";
  expect_reject("t1.nii.gz");
}

TEST_F(PrepareTest, RejectsEmptyAndMissingFolders) {
  expect_reject("train: no NIfTI files (.nii or .nii.gz)");
  write_standard_set();
  for (const auto& e : fs::directory_iterator(raw_ / "test")) fs::remove(e.path());
  expect_reject("test: no NIfTI files (.nii or .nii.gz)");
  fs::remove_all(raw_ / "train");
  expect_reject("train: not a folder; --raw must hold train/");
}

TEST_F(PrepareTest, RejectsTrainingSetWithoutLiver) {
  write_case("train", "a.nii.gz", "a_seg.nii.gz", 1, 3, {}, 1.0f);
  fs::remove_all(raw_ / "test");  // a missing test folder is fine (no test split)
  expect_reject("no training slice contains liver");
}

#ifdef UNET_BINARY_DIR
// The built unet_prepare binary on the command line (skipped when it has not been built).
TEST_F(PrepareTest, CommandLine) {
  if (!fs::exists(std::string(UNET_BINARY_DIR) + "/unet_prepare")) {
    GTEST_SKIP() << "unet_prepare not built";
  }
  write_standard_set();
  std::string err;
  const std::string io = "--raw " + raw_.string() + " --out " + out_.string();
  EXPECT_EQ(run(io + " --size 4 --window=-100,400", &err), 0) << err;
  EXPECT_EQ(read_slice_cache((out_ / "train").string()).num_slices(), 3);
  EXPECT_EQ(run(io + " --size 4 --window 400,100", &err), 1);
  EXPECT_NE(err.find("unet_prepare: error: --window '400,100' needs LO < HI"), std::string::npos)
      << err;
  EXPECT_EQ(run(io + " --size 4 --resample cubic", &err), 1);
  EXPECT_NE(err.find("unet_prepare: error: unknown resample mode 'cubic'"), std::string::npos)
      << err;
  fs::remove(raw_ / "train" / "case02_liver.nii");
  EXPECT_EQ(run(io + " --size 4 --no-window --keep-empty-train", &err), 1);
  EXPECT_NE(err.find("unet_prepare: error: "), std::string::npos) << err;
  EXPECT_NE(err.find("image without mask: case02_orig.nii"), std::string::npos) << err;
}
#endif

}  // namespace
