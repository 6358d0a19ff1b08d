// unet_predict end to end as a subprocess, on a tiny random model and tiny phantom cases: cache
// mode (overlays, masks on the original grid, metrics files) and volume mode (mask with the input's
// exact geometry, probabilities, metrics against a reference), then every rejection path with its
// one-line message and nothing written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/nifti.h"
#include "io/orientation.h"
#include "io/png.h"
#include "io/prepare.h"
#include "io/slice_cache.h"
#include "phantom/phantom.h"
#include "tests/testing/app_run.h"
#include "tests/testing/temp_dir.h"
#include "workflow/checkpoint.h"

namespace fs = std::filesystem;
using namespace unet;

namespace {

const std::string kBinary = UNET_BINARY_DIR "/unet_predict";
constexpr int kUint8 = 2, kInt16 = 4;  // NIFTI_TYPE_UINT8, NIFTI_TYPE_INT16
constexpr int kSize = 16;              // phantom in-plane size; network slices 8x8 (stride 2)

using unet::testing::AppResult;
using unet::testing::file_contents;

int64_t count_files(const fs::path& dir, const std::string& suffix) {
  if (!fs::exists(dir)) return 0;
  int64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    n += name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return n;
}

// One shared fixture for the suite: the model, the phantom cases and the cache are made once.
class UnetPredict : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = std::make_unique<unet::testing::TempDir>("unet_predict_test");
    fs::create_directories(root() / "raw/train");
    fs::create_directories(root() / "raw/test");
    for (int c = 0; c < 2; ++c) {
      phantom::PhantomOptions po;
      po.nx = po.ny = kSize;
      po.nz = 6;
      po.seed = 40 + c;
      const phantom::Phantom ph = phantom::make_phantom(po);
      const std::string split = c == 0 ? "train" : "test";
      const std::string name = c == 0 ? "case01" : "case02";
      io::write_nifti((root() / "raw" / split / (name + "_orig.nii.gz")).string(), ph.geometry,
                      std::vector<float>(ph.hu.begin(), ph.hu.end()), kInt16);
      io::write_nifti((root() / "raw" / split / (name + "_liver.nii.gz")).string(), ph.geometry,
                      std::vector<float>(ph.liver.begin(), ph.liver.end()), kUint8);
    }
    io::PrepareOptions opt;
    opt.raw_dir = (root() / "raw").string();
    opt.out_dir = (root() / "cache").string();
    opt.slice.height = opt.slice.width = kSize / 2;
    opt.keep_empty_train = true;
    const io::PrepareReport rep = io::prepare_dataset(opt, nullptr);

    workflow::Preprocess pre;
    pre.slice = opt.slice;
    pre.norm.mean = rep.mean;
    pre.norm.std = rep.std;
    model::UNetConfig cfg;
    cfg.depth = 2;
    cfg.base = 4;
    model::UNet net(cfg, 9);
    workflow::save_checkpoint(ckpt(), net, nullptr,
                              {{"preprocess", workflow::preprocess_to_json(pre)}});
    // A saturated head bias: sigmoid = 1 everywhere, i.e. all liver whatever the input.
    for (const model::ParamRef& p : net.named_tensors()) {
      if (p.name == "head.bias") p.tensor->f32()[0] = 60.0f;
    }
    workflow::save_checkpoint(hot_ckpt(), net, nullptr,
                              {{"preprocess", workflow::preprocess_to_json(pre)}});
  }
  // UNET_KEEP_TEST_FILES=1 keeps the folder (models, overlays, masks) for a look.
  static void TearDownTestSuite() { unet::testing::drop_scratch(root_); }
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kBinary)) << kBinary << " is missing: build the unet_predict target";
  }

  static const fs::path& root() { return root_->path(); }
  static std::string ckpt() { return (root() / "tiny.safetensors").string(); }
  static std::string hot_ckpt() { return (root() / "hot.safetensors").string(); }
  static std::string test_image() { return (root() / "raw/test/case02_orig.nii.gz").string(); }
  static std::string test_mask() { return (root() / "raw/test/case02_liver.nii.gz").string(); }

  // Runs unet_predict with `args`; stdout and stderr are captured in files under root.
  static AppResult run(const std::string& args) {
    return unet::testing::run_app(kBinary, args, root());
  }
  // A rejected run: exit 1, one stderr line "unet_predict: error: ..." containing `part`, and no
  // output folder left behind.
  static void expect_reject(const std::string& args, const std::string& part,
                            const fs::path& out_dir) {
    const AppResult r = run(args);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("unet_predict: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << "want '" << part << "' in: " << r.err;
    EXPECT_FALSE(fs::exists(out_dir) && !fs::is_empty(out_dir)) << out_dir << " was written";
  }

  static std::unique_ptr<unet::testing::TempDir> root_;
};
std::unique_ptr<unet::testing::TempDir> UnetPredict::root_;

void expect_binary_mask(const io::NiftiVolume& m) {
  for (float v : m.voxels) ASSERT_TRUE(v == 0.0f || v == 1.0f) << v;
}

void expect_metrics_files(const fs::path& out, size_t cases) {
  const std::string csv = file_contents(out / "metrics.csv");
  EXPECT_EQ(csv.rfind("case,dice,voe,rvd,asd_mm,msd_mm,pred_ml,ref_ml\n", 0), 0u) << csv;
  EXPECT_EQ(static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n')), cases + 1) << csv;
  const nlohmann::json j = nlohmann::json::parse(file_contents(out / "metrics.json"));
  ASSERT_EQ(j.at("cases").size(), cases);
  EXPECT_EQ(j.at("count").get<size_t>(), cases);
  const nlohmann::json& mean = j.at("mean");
  for (const char* k : {"dice", "voe", "rvd", "asd_mm", "msd_mm", "pred_ml", "ref_ml"}) {
    EXPECT_TRUE(mean.contains(k)) << k;
  }
  const double dice = j.at("cases")[0].at("dice").get<double>();
  EXPECT_GE(dice, 0.0);
  EXPECT_LE(dice, 1.0);
}

TEST_F(UnetPredict, CacheMode) {
  const fs::path out = root() / "out_cache";
  const AppResult r =
      run("--checkpoint '" + ckpt() + "' --cache '" + (root() / "cache/test").string() +
          "' --out '" + out.string() + "' --batch 4 --save-probabilities --device cpu");
  ASSERT_EQ(r.code, 0) << r.err;
  if (std::getenv("UNET_KEEP_TEST_FILES")) std::cout << r.out;
  const io::SliceCache cache = io::read_slice_cache((root() / "cache/test").string());
  // --png defaults to all in cache mode: one overlay per cached slice, named by case and axial
  // slice, at the CT's own in-plane resolution (16x16, not the cache's 8x8).
  EXPECT_EQ(count_files(out / "preds", ".png"), cache.num_slices());
  ASSERT_TRUE(fs::exists(out / "preds" / "case02_z005.png"));
  const io::PngImage overlay = io::read_png((out / "preds" / "case02_z005.png").string());
  EXPECT_EQ(overlay.h, kSize);
  EXPECT_EQ(overlay.w, kSize);
  EXPECT_EQ(overlay.channels, 3);
  const io::NiftiVolume mask = io::read_nifti((out / "masks/case02_pred.nii.gz").string());
  const io::NiftiVolume image = io::read_nifti(test_image());
  std::string why;
  EXPECT_TRUE(io::same_grid(mask.geometry, image.geometry, &why)) << why;
  EXPECT_EQ(mask.geometry.qform_code, 1);
  EXPECT_EQ(mask.geometry.sform_code, 1);
  expect_binary_mask(mask);
  const io::NiftiVolume prob = io::read_nifti((out / "masks/case02_prob.nii.gz").string());
  for (float p : prob.voxels) ASSERT_TRUE(p >= 0.0f && p <= 1.0f) << p;
  expect_metrics_files(out, 1);
  EXPECT_NE(r.out.find("metrics: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("case02"), std::string::npos) << r.out;
}

TEST_F(UnetPredict, VolumeModeWithReference) {
  const fs::path out = root() / "out_volume";
  const AppResult r = run("--checkpoint '" + ckpt() + "' --volume '" + test_image() +
                          "' --reference '" + test_mask() + "' --out '" + out.string() +
                          "' --save-probabilities --largest-component --png all --max-png 3");
  ASSERT_EQ(r.code, 0) << r.err;
  if (std::getenv("UNET_KEEP_TEST_FILES")) std::cout << r.out;
  const io::NiftiVolume image = io::read_nifti(test_image());
  const io::NiftiVolume mask = io::read_nifti((out / "case02_orig_mask.nii.gz").string());
  std::string why;
  EXPECT_TRUE(io::same_grid(mask.geometry, image.geometry, &why)) << why;
  // The header's transforms are copied, not just equivalent.
  EXPECT_EQ(mask.geometry.qform_code, image.geometry.qform_code);
  EXPECT_EQ(mask.geometry.sform_code, image.geometry.sform_code);
  for (int i = 0; i < 6; ++i)
    EXPECT_NEAR(mask.geometry.quatern[i], image.geometry.quatern[i], 1e-5);
  expect_binary_mask(mask);
  const io::NiftiVolume prob = io::read_nifti((out / "case02_orig_prob.nii.gz").string());
  ASSERT_EQ(prob.voxels.size(), image.voxels.size());
  for (float p : prob.voxels) ASSERT_TRUE(p >= 0.0f && p <= 1.0f) << p;
  EXPECT_EQ(count_files(out / "preds", ".png"), 3);  // --max-png caps --png all
  EXPECT_TRUE(fs::exists(out / "preds" / "case02_orig_z000.png"));
  expect_metrics_files(out, 1);
  EXPECT_NE(r.out.find(" mL"), std::string::npos) << r.out;
}

TEST_F(UnetPredict, VolumeModeWithoutReferenceWritesNoMetrics) {
  const fs::path out = root() / "out_plain";
  const AppResult r = run("--checkpoint '" + ckpt() + "' --volume '" + test_image() + "' --out '" +
                          out.string() + "' --png none");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "case02_orig_mask.nii.gz"));
  EXPECT_FALSE(fs::exists(out / "case02_orig_prob.nii.gz"));
  EXPECT_FALSE(fs::exists(out / "metrics.csv"));
  EXPECT_FALSE(fs::exists(out / "preds"));
  // Atomic writes leave no temp files behind.
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  }
}

// A cache whose volume has an oblique, left-handed voxel_to_world (a 30-degree rotation about z
// with k flipped, qfac = -1) and other normalisation stats than the checkpoint: the mask's qform
// must be derived from the manifest's affine, and the slices renormalised.
TEST_F(UnetPredict, CacheModeObliqueGeometryAndRenormalisation) {
  io::SliceCacheManifest man;
  man.split = "test";
  man.options.height = man.options.width = kSize / 2;
  man.keep_empty = true;
  man.norm.mean = 0.25;
  man.norm.std = 2.0;
  io::CacheVolume v;
  v.name = "oblique";
  v.image_path = "oblique.nii.gz";
  v.mask_path = "oblique_mask.nii.gz";
  v.nx = v.ny = kSize;
  v.nz = 2;
  const double sp[3] = {0.7, 0.8, 2.5}, c = std::cos(M_PI / 6), s = std::sin(M_PI / 6);
  const double rot[3][3] = {{c, -s, 0}, {s, c, 0}, {0, 0, -1}};
  for (int r = 0; r < 3; ++r) {
    v.spacing[r] = sp[r];
    for (int k = 0; k < 3; ++k) v.voxel_to_world[r][k] = rot[r][k] * sp[k];
  }
  v.voxel_to_world[0][3] = 10;
  v.voxel_to_world[1][3] = -20;
  v.voxel_to_world[2][3] = 30;
  v.slices = {0, 1};
  man.volumes.push_back(v);
  io::index_volumes(man);
  const int64_t px = int64_t{kSize / 2} * (kSize / 2);
  const fs::path cache = root() / "oblique_cache";
  io::write_slice_cache(cache.string(), man, std::vector<float>(2 * px, 0.5f),
                        std::vector<uint8_t>(2 * px, 0));
  const fs::path out = root() / "out_oblique";
  const AppResult r = run("--checkpoint '" + ckpt() + "' --cache '" + cache.string() + "' --out '" +
                          out.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("renormalising"), std::string::npos) << r.out;
  const io::NiftiVolume mask = io::read_nifti((out / "masks/oblique_pred.nii.gz").string());
  EXPECT_EQ(mask.geometry.qform_code, 1);
  EXPECT_EQ(mask.geometry.sform_code, 1);
  EXPECT_EQ(mask.geometry.qfac, -1.0);
  // The qform as niftilib rebuilds it from the stored quaternion: float32 header fields, 1e-5.
  for (int row = 0; row < 4; ++row) {
    for (int col = 0; col < 4; ++col) {
      EXPECT_NEAR(mask.geometry.qto_xyz[row][col], v.voxel_to_world[row][col], 1e-5)
          << row << "," << col;
      EXPECT_NEAR(mask.geometry.sto_xyz[row][col], v.voxel_to_world[row][col], 1e-5)
          << row << "," << col;
    }
  }
}

// All-liver predictions make the metrics predictable: against an all-ones reference every metric
// is perfect; against the cache's masks Dice = 2|T| / (N + |T|) and the predicted volume is the
// whole grid (which checks the in-plane spacing scaling of cache mode).
TEST_F(UnetPredict, SaturatedModelGivesKnownMetrics) {
  const io::NiftiVolume image = io::read_nifti(test_image());
  const fs::path ones = root() / "all_ones.nii.gz";
  io::write_nifti(ones.string(), image.geometry, std::vector<float>(image.voxels.size(), 1.0f),
                  kUint8);
  const fs::path out = root() / "out_hot_volume";
  AppResult r =
      run("--checkpoint '" + hot_ckpt() + "' --volume '" + test_image() + "' --reference '" +
          ones.string() + "' --out '" + out.string() + "' --png none");
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json m = nlohmann::json::parse(file_contents(out / "metrics.json")).at("cases")[0];
  EXPECT_EQ(m.at("dice").get<double>(), 1.0);
  EXPECT_EQ(m.at("voe").get<double>(), 0.0);
  EXPECT_EQ(m.at("rvd").get<double>(), 0.0);
  EXPECT_EQ(m.at("asd_mm").get<double>(), 0.0);
  EXPECT_EQ(m.at("msd_mm").get<double>(), 0.0);
  const io::NiftiVolume mask = io::read_nifti((out / "case02_orig_mask.nii.gz").string());
  for (float v : mask.voxels) ASSERT_EQ(v, 1.0f);
  const double* sp = image.geometry.spacing;
  const double grid_ml = static_cast<double>(image.voxels.size()) * sp[0] * sp[1] * sp[2] / 1000;
  // JSON keeps full double precision; only the order of the products differs: 1e-9 relative.
  EXPECT_NEAR(m.at("pred_ml").get<double>(), grid_ml, 1e-9 * grid_ml);

  const fs::path out2 = root() / "out_hot_cache";
  r = run("--checkpoint '" + hot_ckpt() + "' --cache '" + (root() / "cache/test").string() +
          "' --out '" + out2.string() + "' --png liver");
  ASSERT_EQ(r.code, 0) << r.err;
  const io::SliceCache cache = io::read_slice_cache((root() / "cache/test").string());
  ASSERT_EQ(cache.num_slices(), image.geometry.nz);  // the test cache keeps every slice
  const double truth = std::count(cache.masks.begin(), cache.masks.end(), uint8_t{1});
  const double n = static_cast<double>(cache.masks.size());
  m = nlohmann::json::parse(file_contents(out2 / "metrics.json")).at("cases")[0];
  EXPECT_NEAR(m.at("dice").get<double>(), 2 * truth / (n + truth), 1e-12);
  EXPECT_NEAR(m.at("pred_ml").get<double>(), grid_ml, 1e-9 * grid_ml);
  // --png liver: every slice has predicted liver.
  EXPECT_EQ(count_files(out2 / "preds", ".png"), cache.num_slices());
  const io::NiftiVolume cmask = io::read_nifti((out2 / "masks/case02_pred.nii.gz").string());
  for (float v : cmask.voxels) ASSERT_EQ(v, 1.0f);
}

TEST_F(UnetPredict, Rejections) {
  const fs::path out = root() / "rejected";
  const std::string o = " --out '" + out.string() + "'";
  const std::string vol = " --volume '" + test_image() + "'";
  const std::string good = "--checkpoint '" + ckpt() + "'";

  expect_reject("--checkpoint '" + (root() / "nope.safetensors").string() + "'" + vol + o,
                "nope.safetensors: cannot open the checkpoint", out);

  const std::string bytes = file_contents(ckpt());
  const fs::path truncated = root() / "truncated.safetensors";
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, 100);
  expect_reject("--checkpoint '" + truncated.string() + "'" + vol + o,
                "truncated.safetensors: header length", out);

  const fs::path text = root() / "notes.txt";
  std::ofstream(text) << "this is not a checkpoint at all\n";
  expect_reject("--checkpoint '" + text.string() + "'" + vol + o, "notes.txt:", out);

  // A well-formed safetensors file that unet_train did not write.
  const fs::path foreign = root() / "foreign.safetensors";
  {
    const std::string enc = encode_safetensors({{"w", Tensor::zeros({2})}}, {});
    std::ofstream(foreign, std::ios::binary) << enc;
  }
  expect_reject("--checkpoint '" + foreign.string() + "'" + vol + o, "not a unet_train checkpoint",
                out);

  expect_reject(good + vol, "--out DIR is required", out);
  expect_reject(good + vol + " --cache '" + (root() / "cache/test").string() + "'" + o,
                "exactly one of --cache", out);
  expect_reject(good + o, "exactly one of --cache", out);
  expect_reject(good + vol + o + " --threshold 1", "--threshold", out);
  expect_reject(good + vol + o + " --png some", "--png 'some'", out);

  // Reference on another grid: a train-split mask (same size, other phantom) is fine, a 16x16x5
  // one is not.
  const fs::path small = root() / "small_mask.nii.gz";
  io::write_nifti(small.string(), io::make_geometry(kSize, kSize, 5, 0.7, 0.7, 2.0),
                  std::vector<float>(kSize * kSize * 5, 0.0f), kUint8);
  expect_reject(good + vol + o + " --reference '" + small.string() + "'",
                "small_mask.nii.gz: reference mask is not on the grid of", out);

  const fs::path garbage = root() / "garbage.nii.gz";
  std::ofstream(garbage, std::ios::binary) << "not a nifti file";
  expect_reject(good + " --volume '" + garbage.string() + "'" + o, "garbage.nii.gz", out);

  // A .nii whose header magic is not NIfTI's (niftilib would read it as ANALYZE, unoriented).
  const fs::path analyze = root() / "analyze.nii";
  {
    io::write_nifti(analyze.string(), io::make_geometry(kSize, kSize, 2, 0.7, 0.7, 2.0),
                    std::vector<float>(kSize * kSize * 2, 40.0f), kInt16);
    std::fstream f(analyze, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(344);
    f.write("\0\0\0\0", 4);
  }
  expect_reject(good + " --volume '" + analyze.string() + "'" + o,
                "analyze.nii: header magic is '(empty)' where a .nii file needs 'n+1'", out);

  expect_reject(good + " --cache '" + (root() / "missing_cache").string() + "'" + o,
                "missing_cache", out);

  // A variant forced through the environment (engine/kernel_config.h) is checked at start.
  setenv("UNET_VARIANT", "conv2d_cpu=9", 1);
  expect_reject(good + vol + o, "UNET_VARIANT: unknown conv2d_cpu variant '9'", out);
  unsetenv("UNET_VARIANT");
}

// The 41x33-style case: a size the stride checkpoint cannot divide is resampled
// bilinearly to its grid and back, with a note, instead of being refused.
TEST_F(UnetPredict, VolumeModeAcceptsAnyInPlaneSize) {
  const fs::path odd = root() / "odd.nii.gz";
  io::write_nifti(odd.string(), io::make_geometry(19, 13, 2, 0.7, 0.7, 2.0),
                  std::vector<float>(19 * 13 * 2, 40.0f), kInt16);
  const fs::path out = root() / "out_odd";
  const AppResult r = run("--checkpoint '" + ckpt() + "' --volume '" + odd.string() + "' --out '" +
                          out.string() + "' --png all");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("slices of 13x19 are not an integer multiple of the checkpoint's 8x8"),
            std::string::npos)
      << r.out;
  const io::NiftiVolume mask = io::read_nifti((out / "odd_mask.nii.gz").string());
  EXPECT_EQ(mask.voxels.size(), 19u * 13u * 2u);
  const io::PngImage overlay = io::read_png((out / "preds" / "odd_z001.png").string());
  EXPECT_EQ(overlay.h, 13);
  EXPECT_EQ(overlay.w, 19);
}

// The orientation finding at the app level: the test CT stored with its first axis flipped,
// with x and y swapped, and with the axial axis first (each with the affine that keeps the world
// geometry) gives the same mask as stored, written back in each file's own voxel order and grid.
TEST_F(UnetPredict, VolumeModeGivesTheSameMaskInAnyVoxelOrder) {
  const io::NiftiVolume image = io::read_nifti(test_image());
  const io::NiftiGeometry& g = image.geometry;
  const fs::path base_out = root() / "out_orient_base";
  ASSERT_EQ(run("--checkpoint '" + ckpt() + "' --volume '" + test_image() + "' --out '" +
                base_out.string() + "' --png none --save-probabilities")
                .code,
            0);
  const io::NiftiVolume base = io::read_nifti((base_out / "case02_orig_mask.nii.gz").string());
  const io::NiftiVolume base_prob = io::read_nifti((base_out / "case02_orig_prob.nii.gz").string());
  ASSERT_EQ(io::orientation_name(g, "test"), "LPS");
  // The tiny random model's mask may be empty; its probabilities vary, so they are compared too.
  const auto [lo, hi] = std::minmax_element(base_prob.voxels.begin(), base_prob.voxels.end());
  ASSERT_GT(*hi - *lo, 1e-4f) << "the comparison needs probabilities that vary";

  io::AxisMap flip_first, swap_xy, axial_first;
  flip_first.flip = {true, false, false};
  swap_xy.source = {1, 0, 2};
  axial_first.source = {2, 0, 1};
  axial_first.flip = {false, true, false};
  for (const io::AxisMap& m : {flip_first, swap_xy, axial_first}) {
    const io::NiftiGeometry sg = io::remap_geometry(g, m);
    const std::string stored =
        (root() / ("stored_" + io::orientation_name(sg, "t") + ".nii.gz")).string();
    io::write_nifti(stored, sg, io::remap_voxels(image.voxels, g.nx, g.ny, g.nz, m), kInt16);
    SCOPED_TRACE(stored);
    const fs::path out = root() / ("out_" + io::orientation_name(sg, "t"));
    const AppResult r = run("--checkpoint '" + ckpt() + "' --volume '" + stored + "' --out '" +
                            out.string() + "' --png none --save-probabilities");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("segmented in LPS order"), std::string::npos) << r.out;
    const io::NiftiVolume mask =
        io::read_nifti((out / (fs::path(stored).stem().stem().string() + "_mask.nii.gz")).string());
    std::string why;
    EXPECT_TRUE(io::same_grid(mask.geometry, sg, &why)) << why;
    EXPECT_EQ(mask.voxels, io::remap_voxels(base.voxels, g.nx, g.ny, g.nz, m));
    const io::NiftiVolume prob =
        io::read_nifti((out / (fs::path(stored).stem().stem().string() + "_prob.nii.gz")).string());
    EXPECT_EQ(prob.voxels, io::remap_voxels(base_prob.voxels, g.nx, g.ny, g.nz, m));
  }
}

}  // namespace
