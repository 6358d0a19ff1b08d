// workflow/predictor: batching against one direct forward, eval mode, the checkpoint round trip
// with a saturated head bias (all liver / no liver), mapping back to the original grid for stride
// and bilinear (hand values and end to end), largest component, volume in mL, any in-plane size,
// the same segmentation for a volume stored in any of the 48 voxel orders, and every rejection.
#include "workflow/predictor.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <set>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "io/orientation.h"
#include "tests/testing/testing.h"

namespace fs = std::filesystem;
using namespace unet;
using namespace unet::workflow;

namespace {

model::UNetConfig tiny_config(model::Norm norm = model::Norm::kNone) {
  model::UNetConfig c;
  c.depth = 2;  // slices must be multiples of 2
  c.base = 4;
  c.norm = norm;
  return c;
}

void set_head_bias(model::UNet& net, float value) {
  for (const model::ParamRef& p : net.named_tensors()) {
    if (p.name == "head.bias") {
      p.tensor->f32()[0] = value;
      return;
    }
  }
  FAIL() << "no head.bias";
}

Preprocess preprocess(int h, int w, io::Resample r) {
  Preprocess p;
  p.slice.height = h;
  p.slice.width = w;
  p.slice.resample = r;
  p.norm.mean = 0.4;
  p.norm.std = 0.3;
  return p;
}

// A volume of random HU over [-300, 500] (beyond the window on both sides).
io::NiftiVolume volume(int64_t nx, int64_t ny, int64_t nz, uint64_t seed) {
  io::NiftiVolume v;
  v.geometry = io::make_geometry(nx, ny, nz, 0.8, 0.7, 2.0);
  v.voxels = unet::testing::random_floats(static_cast<size_t>(nx * ny * nz), seed, -300, 500);
  v.path = "synthetic.nii.gz";
  return v;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

int64_t ones(const std::vector<uint8_t>& m) {
  return std::accumulate(m.begin(), m.end(), int64_t{0});
}

TEST(Predictor, BatchesMatchOneForwardInEvalMode) {
  model::UNet net(tiny_config(model::Norm::kBatch), 7);
  net.set_training(true);
  const int n = 5, h = 6, w = 10;
  const std::vector<float> x = unet::testing::random_floats(n * h * w, 3);
  std::vector<float> want;
  {
    net.set_training(false);
    NoGradGuard g;
    want = sigmoid(net.forward(Tensor::from_vector(x, {n, h, w, 1}))).to_vector();
    net.set_training(true);
  }
  for (int batch : {1, 2, 5, 8}) {
    const std::vector<float> got = predict_probabilities(net, x.data(), n, h, w, batch);
    // Batches change only which images share a GEMM, not the per-pixel sums' order much:
    // fp32 rounding, 1e-6 absolute on probabilities.
    EXPECT_TRUE(unet::testing::all_close(got, want, 0.0f, 1e-6f, "batch " + std::to_string(batch)));
    EXPECT_TRUE(net.training()) << "training mode must be restored";
  }
  // Training-mode batch norm (batch statistics) gives different numbers: the eval path matters.
  std::vector<float> train_mode;
  {
    NoGradGuard g;
    train_mode = sigmoid(net.forward(Tensor::from_vector(x, {n, h, w, 1}))).to_vector();
  }
  EXPECT_FALSE(unet::testing::all_close(train_mode, want, 0.0f, 1e-6f));
}

TEST(Predictor, SaturatedHeadBiasThroughACheckpoint) {
  std::string dir = (fs::temp_directory_path() / "predictor_test_XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const Preprocess pre = preprocess(4, 6, io::Resample::kStride);
  const io::NiftiVolume vol = volume(12, 8, 3, 11);
  for (float bias : {60.0f, -60.0f}) {
    model::UNet net(tiny_config(), 5);
    set_head_bias(net, bias);
    const std::string path = dir + "/tiny.safetensors";
    save_checkpoint(path, net, nullptr, {{"preprocess", preprocess_to_json(pre)}});
    const CheckpointContents ckpt = read_checkpoint(path);
    model::UNet loaded = load_model(ckpt);
    const VolumePrediction r = predict_volume(loaded, ckpt.preprocess(), vol, PredictOptions{});
    ASSERT_EQ(r.mask.size(), 12u * 8 * 3);
    ASSERT_EQ(r.probabilities.size(), r.mask.size());
    const int64_t n = static_cast<int64_t>(r.mask.size());
    const double voxel_ml = 0.8 * 0.7 * 2.0 / 1000.0;
    if (bias > 0) {
      // Dice against an all-ones reference: 2|P.T| / (|P| + |T|) = 1 exactly.
      const double dice = 2.0 * ones(r.mask) / (ones(r.mask) + n);
      EXPECT_EQ(dice, 1.0);
      EXPECT_EQ(r.liver_voxels, n);
      EXPECT_NEAR(r.liver_volume_ml, n * voxel_ml, 1e-12);
    } else {
      EXPECT_EQ(ones(r.mask), 0);
      EXPECT_EQ(r.liver_volume_ml, 0.0);
    }
    for (float p : r.probabilities) ASSERT_TRUE(p >= 0.0f && p <= 1.0f) << p;
  }
  fs::remove_all(dir);
}

TEST(Predictor, MapToOriginalHandValues) {
  // Stride: each network pixel goes back over the block it was sampled from.
  const float src[4] = {0.1f, 0.2f, 0.3f, 0.4f};  // 2x2
  std::vector<float> out(4 * 6);
  map_to_original(src, 2, 2, out.data(), 4, 6, io::Resample::kStride);
  const std::vector<float> want = {0.1f, 0.1f, 0.1f, 0.2f, 0.2f, 0.2f, 0.1f, 0.1f,
                                   0.1f, 0.2f, 0.2f, 0.2f, 0.3f, 0.3f, 0.3f, 0.4f,
                                   0.4f, 0.4f, 0.3f, 0.3f, 0.3f, 0.4f, 0.4f, 0.4f};
  EXPECT_TRUE(unet::testing::bitwise_equal(out, want, "stride"));
  // Bilinear, half-pixel centres: 1x2 [0, 1] -> 1x4: x = (c + 0.5) / 2 - 0.5 clamped to [0, 1].
  const float ramp[2] = {0.0f, 1.0f};
  std::vector<float> b(4);
  map_to_original(ramp, 1, 2, b.data(), 1, 4, io::Resample::kBilinear);
  // 0.25 and 0.75 are exact in binary: no rounding anywhere.
  EXPECT_TRUE(unet::testing::bitwise_equal(b, {0.0f, 0.25f, 0.75f, 1.0f}, "bilinear"));
}

// predict_volume is the per-slice pipeline: compare with it done by hand, for both resamplings,
// including an odd original size (bilinear) and a batch that does not divide nz.
TEST(Predictor, VolumeMatchesSliceBySlicePipeline) {
  struct Case {
    int64_t nx, ny;
    int h, w;
    io::Resample r;
  };
  for (const Case& c :
       {Case{12, 8, 4, 6, io::Resample::kStride}, Case{9, 7, 4, 6, io::Resample::kBilinear}}) {
    model::UNet net(tiny_config(), 3);
    const Preprocess pre = preprocess(c.h, c.w, c.r);
    const int64_t nz = 5;
    const io::NiftiVolume vol = volume(c.nx, c.ny, nz, 21);
    PredictOptions o;
    o.batch = 2;
    o.display = DisplayImages::kNetwork;
    const VolumePrediction r = predict_volume(net, pre, vol, o);
    ASSERT_EQ(r.display.size(), static_cast<size_t>(nz * c.h * c.w));
    for (int64_t k = 0; k < nz; ++k) {
      std::vector<float> slice(c.h * c.w);
      io::prepare_image_slice(vol.voxels.data(), c.nx, c.ny, nz, k, pre.slice, slice.data());
      // The display image is the windowed slice before normalisation.
      EXPECT_TRUE(
          unet::testing::bitwise_equal(std::vector<float>(r.display.begin() + k * c.h * c.w,
                                                          r.display.begin() + (k + 1) * c.h * c.w),
                                       slice, "display"));
      io::normalize(slice.data(), slice.size(), pre.norm);
      const std::vector<float> p = predict_probabilities(net, slice.data(), 1, c.h, c.w, 1);
      std::vector<float> want(c.nx * c.ny);
      map_to_original(p.data(), c.h, c.w, want.data(), c.ny, c.nx, c.r);
      const std::vector<float> got(r.probabilities.begin() + k * c.nx * c.ny,
                                   r.probabilities.begin() + (k + 1) * c.nx * c.ny);
      // Same slice through a batch of 2 or 1: fp32 rounding only, 1e-6 absolute.
      EXPECT_TRUE(unet::testing::all_close(got, want, 0.0f, 1e-6f, "slice " + std::to_string(k)));
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(r.mask[k * c.nx * c.ny + i], got[i] > 0.5f ? 1 : 0);
      }
    }
  }
}

TEST(Predictor, OriginalDisplayIsTheWindowedVolume) {
  model::UNet net(tiny_config(), 3);
  const io::NiftiVolume vol = volume(8, 6, 2, 5);
  PredictOptions o;
  o.display = DisplayImages::kOriginal;
  const VolumePrediction r = predict_volume(net, preprocess(2, 4, io::Resample::kStride), vol, o);
  EXPECT_EQ(r.display_height, 6);
  EXPECT_EQ(r.display_width, 8);
  ASSERT_EQ(r.display.size(), vol.voxels.size());
  for (size_t i = 0; i < vol.voxels.size(); ++i) {
    const float want = (std::min(std::max(vol.voxels[i], -100.0f), 400.0f) + 100.0f) / 500.0f;
    ASSERT_NEAR(r.display[i], want, 1e-6f) << i;  // window arithmetic in fp32
  }
}

TEST(Predictor, ThresholdIsStrict) {
  EXPECT_EQ(threshold_mask({0.5f, 0.50001f, 0.2f, 1.0f}, 0.5f), (std::vector<uint8_t>{0, 1, 0, 1}));
}

TEST(Predictor, VolumeInMillilitresFollowsUnits) {
  io::NiftiGeometry g = io::make_geometry(2, 2, 1, 2.0, 5.0, 10.0);  // 100 mm^3 per voxel
  const std::vector<uint8_t> m = {1, 1, 0, 1};
  EXPECT_DOUBLE_EQ(mask_volume_ml(m, g), 0.3);
  g.xyzt_units = 0;  // unknown: read as mm
  EXPECT_DOUBLE_EQ(mask_volume_ml(m, g), 0.3);
  g.xyzt_units = 3;  // micron
  EXPECT_NEAR(mask_volume_ml(m, g), 0.3e-9, 1e-20);
}

// The same volume on the CPU and on CUDA (skipped without a device): fp32 on both (the default math
// mode), so only summation order differs; logits of this tiny net are O(1): 1e-5 absolute.
TEST(Predictor, CudaMatchesCpu) {
  if (!cuda_available()) {
    GTEST_SKIP() << "no CUDA device";
  }
  model::UNet net(tiny_config(model::Norm::kBatch), 13);
  const io::NiftiVolume vol = volume(9, 7, 5, 17);
  const Preprocess pre = preprocess(4, 6, io::Resample::kBilinear);
  PredictOptions o;
  o.batch = 3;
  const VolumePrediction cpu = predict_volume(net, pre, vol, o);
  net.to(Device::cuda());
  const VolumePrediction gpu = predict_volume(net, pre, vol, o);
  EXPECT_TRUE(unet::testing::all_close(gpu.probabilities, cpu.probabilities, 0.0f, 1e-5f, "prob"));
  for (size_t i = 0; i < cpu.mask.size(); ++i) {
    if (std::fabs(cpu.probabilities[i] - 0.5f) > 1e-5f) {
      ASSERT_EQ(gpu.mask[i], cpu.mask[i]) << i;
    }
  }
}

TEST(Predictor, Rejections) {
  model::UNet net(tiny_config(), 3);
  const io::NiftiVolume vol = volume(10, 10, 2, 1);
  std::string e;
  PredictOptions bad;
  bad.threshold = 1.0f;
  e = error_of([&] { predict_volume(net, preprocess(2, 2, io::Resample::kStride), vol, bad); });
  EXPECT_NE(e.find("threshold"), std::string::npos) << e;
  bad.threshold = 0.5f;
  bad.batch = 0;
  e = error_of([&] { predict_volume(net, preprocess(2, 2, io::Resample::kStride), vol, bad); });
  EXPECT_NE(e.find("batch 0 must be at least 1"), std::string::npos) << e;

  // Slices that the model's pooling cannot halve (depth 2: multiples of 2).
  const std::vector<float> x(5 * 4, 0.0f);
  e = error_of([&] { predict_probabilities(net, x.data(), 1, 5, 4, 1); });
  EXPECT_NE(e.find("5x4 are not multiples of 2"), std::string::npos) << e;

  io::NiftiVolume broken = vol;
  broken.voxels.resize(7);
  e = error_of([&] { predict_volume(net, preprocess(2, 2, io::Resample::kStride), broken, {}); });
  EXPECT_NE(e.find("do not fill the grid 10x10x2"), std::string::npos) << e;
}

// A checkpoint trained with stride resampling still segments sizes that are not an integer
// multiple of its grid (the 41x33): bilinear in and out, exactly what a bilinear
// checkpoint of the same network gives. Sizes that are a multiple keep the stride path.
TEST(Predictor, AnyInPlaneSizeWorksWhateverTheTrainingResampling) {
  model::UNet net(tiny_config(), 3);
  const io::NiftiVolume odd = volume(41, 33, 2, 4);
  const VolumePrediction stride =
      predict_volume(net, preprocess(8, 8, io::Resample::kStride), odd, {});
  const VolumePrediction bilinear =
      predict_volume(net, preprocess(8, 8, io::Resample::kBilinear), odd, {});
  EXPECT_EQ(stride.resample, io::Resample::kBilinear);
  EXPECT_EQ(stride.mask.size(), 41u * 33u * 2u);
  EXPECT_EQ(stride.probabilities, bilinear.probabilities);
  EXPECT_EQ(inference_resample(preprocess(8, 8, io::Resample::kStride), 16, 24),
            io::Resample::kStride);
  EXPECT_EQ(inference_resample(preprocess(8, 8, io::Resample::kStride), 16, 20),
            io::Resample::kBilinear);
  EXPECT_EQ(inference_resample(preprocess(8, 8, io::Resample::kBilinear), 16, 16),
            io::Resample::kBilinear);
  const std::string e =
      error_of([&] { check_mappable(preprocess(8, 8, io::Resample::kStride), 0, 5, "v.nii"); });
  EXPECT_NE(e.find("v.nii: in-plane size 5x0 (rows x cols) is empty"), std::string::npos) << e;
}

// The finding: the same CT stored in another voxel order (affine adjusted, same world
// geometry) gave a different segmentation. Now every one of the 48 orders gives bitwise the same
// mask in world space (the canonical order) and the same volume in mL, and the mask comes back in
// the input's own order.
TEST(Predictor, All48VoxelOrdersGiveTheSameMask) {
  model::UNet net(tiny_config(), 9);
  const io::NiftiVolume canonical = volume(12, 10, 4, 21);  // LPS, anisotropic spacing
  const Preprocess pre = preprocess(8, 8, io::Resample::kBilinear);
  // A threshold at the median probability makes a mask with about half the voxels set, so the
  // comparison cannot pass on an all-zero mask.
  PredictOptions po;
  {
    const VolumePrediction p = predict_volume(net, pre, canonical, po);
    std::vector<float> sorted = p.probabilities;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    po.threshold = sorted[sorted.size() / 2];
  }
  const VolumePrediction reference = predict_volume(net, pre, canonical, po);
  ASSERT_GT(ones(reference.mask), 100);
  ASSERT_LT(ones(reference.mask), 380);
  EXPECT_EQ(reference.stored_axes, "LPS");
  EXPECT_EQ(reference.canonical_mask, reference.mask);

  const std::array<std::array<int, 3>, 6> perms = {
      {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}};
  std::set<std::string> codes;
  for (const auto& perm : perms) {
    for (int f = 0; f < 8; ++f) {
      io::AxisMap m;
      m.source = perm;
      m.flip = {(f & 1) != 0, (f & 2) != 0, (f & 4) != 0};
      io::NiftiVolume stored = canonical;
      stored.geometry = io::remap_geometry(canonical.geometry, m);
      stored.voxels = io::remap_voxels(canonical.voxels, 12, 10, 4, m);
      const VolumePrediction p = predict_volume(net, pre, stored, po);
      codes.insert(p.stored_axes);
      SCOPED_TRACE(p.stored_axes);
      EXPECT_EQ(p.canonical_mask, reference.mask);
      EXPECT_EQ(p.liver_volume_ml, reference.liver_volume_ml);
      EXPECT_EQ(p.mask, io::remap_voxels(reference.mask, 12, 10, 4, m)) << "stored order";
      EXPECT_EQ(p.probabilities, io::remap_voxels(reference.probabilities, 12, 10, 4, m));
    }
  }
  EXPECT_EQ(codes.size(), 48u);
}

}  // namespace
