// The U-Net as a whole: parameter count, checkpoint names and layouts, gradients against finite
// differences of an independent double-precision reference, fast paths against the naive
// reference, and training steps lowering the loss.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "engine/autograd.h"
#include "engine/kernel_config.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "kernels/conv2d/conv2d.h"
#include "model/unet.h"
#include "tests/testing/reference_unet.h"
#include "tests/testing/testing.h"

namespace unet {
namespace {

using model::UNet;
using model::UNetConfig;

UNetConfig tiny(model::Norm norm = model::Norm::kNone, int depth = 3, int base = 2) {
  UNetConfig c;
  c.depth = depth;
  c.base = base;
  c.norm = norm;
  return c;
}

// Random input and a blob-shaped 0/1 target, NHWC with one channel.
testing::RefBatch make_batch(int N, int H, int W, uint64_t seed) {
  testing::RefBatch b{N, H, W, testing::random_doubles(size_t(N) * H * W, seed), {}};
  b.target.resize(b.x.size());
  for (int n = 0; n < N; ++n)
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) {
        const double di = i - H / 2.0 + n, dj = j - W / 2.0;
        b.target[(size_t(n) * H + i) * W + j] = di * di + dj * dj < H * W / 8.0 ? 1.0 : 0.0;
      }
  return b;
}

Tensor to_tensor(const std::vector<double>& v, const Shape& shape) {
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
}

TEST(UNetModel, SeedConfigurationHasTheKerasParameterCount) {
  UNet net(UNetConfig{}, 1);
  EXPECT_EQ(net.parameter_count(), 7759521);
}

TEST(UNetModel, StateDictUsesPyTorchNamesAndLayouts) {
  UNet net(UNetConfig{}, 1);
  std::map<std::string, Shape> shapes;
  for (const NamedTensor& t : net.state_dict()) shapes[t.name] = t.tensor.shape();
  EXPECT_EQ(shapes.size(), 46u);
  EXPECT_EQ(shapes.at("enc0.conv1.weight"), (Shape{32, 1, 3, 3}));
  EXPECT_EQ(shapes.at("enc4.conv2.weight"), (Shape{512, 512, 3, 3}));
  EXPECT_EQ(shapes.at("up3.weight"), (Shape{512, 256, 2, 2}));  // ConvTranspose2d: IOHW
  EXPECT_EQ(shapes.at("up0.bias"), (Shape{32}));
  EXPECT_EQ(shapes.at("dec3.conv1.weight"), (Shape{256, 512, 3, 3}));
  EXPECT_EQ(shapes.at("head.weight"), (Shape{1, 32, 1, 1}));
  UNet bn(tiny(model::Norm::kBatch), 1);
  std::set<std::string> names;
  for (const NamedTensor& t : bn.state_dict()) names.insert(t.name);
  EXPECT_TRUE(names.count("dec1.bn2.running_var"));
  EXPECT_TRUE(names.count("enc0.bn1.weight"));
}

TEST(UNetModel, LayoutConversionIsExactAndInvertible) {
  // OIHW[k][c][r][s] must equal KRSC[k][r][s][c].
  Tensor w = Tensor::from_vector(testing::random_floats(4 * 3 * 2 * 5, 3), {4, 3, 2, 5});
  Tensor pt = model::to_pytorch_layout(w, model::Layout::kKRSCasOIHW);
  ASSERT_EQ(pt.shape(), (Shape{4, 5, 3, 2}));
  const float* a = w.f32();
  const float* b = pt.f32();
  EXPECT_EQ(b[((1 * 5 + 4) * 3 + 2) * 2 + 1], a[((1 * 3 + 2) * 2 + 1) * 5 + 4]);
  Tensor back = model::from_pytorch_layout(pt, model::Layout::kKRSCasOIHW);
  EXPECT_TRUE(testing::bitwise_equal(back.to_vector(), w.to_vector(), "round trip"));
}

TEST(UNetModel, LoadStateDictRejectsMismatches) {
  UNet net(tiny(), 1);
  std::vector<NamedTensor> sd = net.state_dict();
  std::vector<NamedTensor> missing(sd.begin() + 1, sd.end());
  try {
    net.load_state_dict(missing, "ckpt.safetensors");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("ckpt.safetensors: missing tensor 'enc0.conv1.weight'"),
              std::string::npos)
        << e.what();
  }
  std::vector<NamedTensor> extra = sd;
  extra.push_back({"bogus.weight", Tensor::zeros({1})});
  EXPECT_THROW(net.load_state_dict(extra, "x"), std::runtime_error);
  std::vector<NamedTensor> wrong = sd;
  wrong[0].tensor = Tensor::zeros({1, 2, 3, 3});
  try {
    net.load_state_dict(wrong, "x");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("expected float32[2, 1, 3, 3]"), std::string::npos)
        << e.what();
  }
}

TEST(UNetModel, RejectsInputsTheNetworkCannotTile) {
  UNet net(tiny(), 1);
  EXPECT_THROW(net.forward(Tensor::zeros({1, 6, 8, 1})), std::invalid_argument);
  EXPECT_THROW(net.forward(Tensor::zeros({1, 8, 8, 2})), std::invalid_argument);
}

// Calculus oracle for the whole model: the engine's analytic gradients (float, fast CPU paths)
// against central differences of the double-precision reference network.
void check_model_gradients(model::Norm norm, testing::RefLoss loss_kind) {
  const UNetConfig config = tiny(norm);
  UNet net(config, 7);
  const testing::RefBatch batch = make_batch(2, 8, 8, 11);
  Tensor x = to_tensor(batch.x, {2, 8, 8, 1});
  Tensor t = to_tensor(batch.target, {2, 8, 8, 1});
  Tensor logits = net.forward(x);
  Tensor loss = dice_loss(logits, t);
  if (loss_kind == testing::RefLoss::kDiceBce) loss = add(loss, bce_with_logits(logits, t));
  loss.backward();

  testing::RefParams params = testing::reference_params(net);
  const double ref_loss = testing::reference_unet_loss(config, params, batch, loss_kind);
  EXPECT_NEAR(loss.item(), ref_loss, 1e-5 * std::max(1.0, std::fabs(ref_loss)));
  for (const model::ParamRef& p : net.named_tensors()) {
    if (!p.trainable) continue;
    std::vector<double>& values = params[p.name];
    auto f = [&] { return testing::reference_unet_loss(config, params, batch, loss_kind); };
    const std::vector<double> numeric = testing::numeric_gradient(f, values, 1e-6);
    const std::vector<float> g = p.tensor->grad().to_vector();
    // 2e-3: the engine computes in float (relative error ~1e-6 per op over ~20 layers), the
    // numeric side in double; a wrong index or a missing term is off by O(1).
    EXPECT_TRUE(
        testing::gradients_match(std::vector<double>(g.begin(), g.end()), numeric, 2e-3, p.name));
  }
}

TEST(UNetModel, GradientsMatchFiniteDifferencesWithoutNorm) {
  check_model_gradients(model::Norm::kNone, testing::RefLoss::kDice);
}

TEST(UNetModel, GradientsMatchFiniteDifferencesWithBatchNormAndDiceBce) {
  check_model_gradients(model::Norm::kBatch, testing::RefLoss::kDiceBce);
}

// Spec oracle for the whole model, end to end: the same training run with every op on its fast CPU
// path and with every op on its naive reference loops (kernel_config().cpu_reference): conv, max-pool,
// transposed conv, concat, batch norm (training and evaluation), sigmoid+Dice, BCE, the sum inside
// the loss, and Adam. Compares the losses of each step, the last gradients, the parameters and
// batch-norm statistics after the steps, and an evaluation-mode forward.
struct EndToEndRun {
  std::vector<float> losses;
  std::vector<std::vector<float>> grads, tensors;  // tensors: parameters and running statistics
  std::vector<float> eval_logits;
};

EndToEndRun run_end_to_end(model::Norm norm, bool reference) {
  kernel_config().cpu_reference = reference;
  const UNetConfig config = tiny(norm, 4, 4);
  const testing::RefBatch batch = make_batch(3, 16, 16, 5);
  const Tensor x = to_tensor(batch.x, {3, 16, 16, 1}), t = to_tensor(batch.target, {3, 16, 16, 1});
  UNet net(config, 3);
  // eps 1e-3 instead of 1e-8: a conv bias followed by batch norm has a true gradient of zero, so
  // its computed gradient is rounding noise (~1e-9) whose sign differs between the two paths, and
  // Adam with a tiny eps turns any noise into a full +-lr step. A larger eps keeps those steps
  // negligible and leaves real gradients (~1e-2) almost unchanged.
  AdamOptions adam_options;
  adam_options.eps = 1e-3f;
  Adam adam(net.parameters(), adam_options);
  EndToEndRun run;
  for (int step = 0; step < 3; ++step) {
    adam.zero_grad();
    Tensor logits = net.forward(x);
    Tensor loss = add(dice_loss(logits, t), bce_with_logits(logits, t));
    loss.backward();
    run.losses.push_back(loss.item());
    if (step == 2) {
      for (const Tensor& p : net.parameters()) run.grads.push_back(p.grad().to_vector());
    }
    adam.step();
  }
  for (const model::ParamRef& p : net.named_tensors()) {
    if (p.tensor->dtype() == DType::kFloat32) run.tensors.push_back(p.tensor->to_vector());
  }
  {
    NoGradGuard no_grad;
    net.set_training(false);
    run.eval_logits = net.forward(x).to_vector();
  }
  kernel_config().cpu_reference = false;
  return run;
}

void expect_fast_matches_reference(model::Norm norm) {
  const EndToEndRun fast = run_end_to_end(norm, false);
  const EndToEndRun ref = run_end_to_end(norm, true);
  ASSERT_EQ(fast.losses.size(), ref.losses.size());
  for (size_t i = 0; i < fast.losses.size(); ++i) {
    EXPECT_NEAR(fast.losses[i], ref.losses[i], 1e-5) << "step " << i;
  }
  // Summation order differs (GEMM blocking and chunked sums vs plain loops): fp32 relative ~1e-5
  // per op; 1e-3 leaves room for three steps through ~20 layers, a wrong index is off by O(1).
  // The absolute floor covers gradients and Adam updates that are near zero.
  ASSERT_EQ(fast.grads.size(), ref.grads.size());
  for (size_t i = 0; i < fast.grads.size(); ++i) {
    EXPECT_TRUE(
        testing::all_close(fast.grads[i], ref.grads[i], 1e-3f, 1e-6f, "grad " + std::to_string(i)));
  }
  ASSERT_EQ(fast.tensors.size(), ref.tensors.size());
  for (size_t i = 0; i < fast.tensors.size(); ++i) {
    EXPECT_TRUE(testing::all_close(fast.tensors[i], ref.tensors[i], 1e-3f, 1e-5f,
                                   "parameter or statistic " + std::to_string(i)));
  }
  EXPECT_TRUE(testing::all_close(fast.eval_logits, ref.eval_logits, 1e-3f, 1e-5f, "eval logits"));
}

TEST(UNetModel, FastPathsMatchTheNaiveReferenceEndToEnd) {
  expect_fast_matches_reference(model::Norm::kNone);
}

TEST(UNetModel, FastPathsMatchTheNaiveReferenceEndToEndWithBatchNorm) {
  expect_fast_matches_reference(model::Norm::kBatch);
}

// The same with every 3x3 conv on the CPU's Winograd variant (forward and backward-data), which the
// default table picks only for the seed network's larger layers.
TEST(UNetModel, WinogradConvsMatchTheNaiveReferenceEndToEnd) {
  kernel_config().variant["conv2d_cpu"] = 2;
  expect_fast_matches_reference(model::Norm::kBatch);
  kernel_config().variant.erase("conv2d_cpu");
}

// And with every conv and up-convolution on the direct NHWC variants (all three passes), which the
// default tables pick for the wide, shallow layers; the tiny net's layers are not in the tables,
// so only forcing them covers them here.
TEST(UNetModel, DirectConvsMatchTheNaiveReferenceEndToEnd) {
  if (!kernels::conv2d_direct_available()) GTEST_SKIP() << "the direct conv was not built";
  kernel_config().variant["conv2d_cpu"] = 3;
  kernel_config().variant["conv_transpose2d_cpu"] = 2;
  expect_fast_matches_reference(model::Norm::kBatch);
  expect_fast_matches_reference(model::Norm::kNone);
  kernel_config().variant.erase("conv2d_cpu");
  kernel_config().variant.erase("conv_transpose2d_cpu");
}

TEST(UNetModel, AdamStepsLowerTheLoss) {
  UNet net(tiny(model::Norm::kBatch, 3, 4), 5);
  const testing::RefBatch batch = make_batch(4, 16, 16, 9);
  Tensor x = to_tensor(batch.x, {4, 16, 16, 1}), t = to_tensor(batch.target, {4, 16, 16, 1});
  Adam adam(net.parameters(), AdamOptions{});
  float first = 0, last = 0;
  for (int step = 0; step < 15; ++step) {
    adam.zero_grad();
    Tensor loss = dice_loss(net.forward(x), t);
    loss.backward();
    adam.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, first - 0.05f) << "first " << first << ", last " << last;
}

// Batch norm folded into the convs (the inference copy unet_predict and unet_serve run) gives the
// eval-mode forward of the unfolded net, with ReLU (bias and ReLU then fused into each conv) and
// with leaky ReLU, after the statistics have moved away from 0 and 1.
void expect_folded_matches_eval(model::Activation activation) {
  UNetConfig config = tiny(model::Norm::kBatch, 3, 4);
  config.activation = activation;
  UNet net(config, 11);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (const model::ParamRef& p : net.named_tensors()) {
    if (p.name.find(".bn") == std::string::npos || p.tensor->dtype() != DType::kFloat32) continue;
    const bool var = p.name.find("running_var") != std::string::npos;
    const bool gamma = p.name.find(".weight") != std::string::npos;
    for (int64_t i = 0; i < p.tensor->numel(); ++i) {
      const float u = unit(rng);
      p.tensor->f32()[i] = var ? 0.05f + 2 * u : gamma ? 0.5f + u : u - 0.5f;
    }
  }
  const testing::RefBatch batch = make_batch(2, 16, 12, 4);
  const Tensor x = to_tensor(batch.x, {2, 16, 12, 1});
  NoGradGuard no_grad;
  net.set_training(false);
  const std::vector<float> want = net.forward(x).to_vector();
  UNet folded = net.folded_for_inference();
  EXPECT_EQ(folded.config().norm, model::Norm::kNone);
  EXPECT_FALSE(folded.training());
  for (const model::ParamRef& p : folded.named_tensors()) {
    EXPECT_EQ(p.name.find(".bn"), std::string::npos) << p.name;
  }
  const std::vector<float> got = folded.forward(x).to_vector();
  // One extra float rounding per folded weight and a different summation: fp32 relative ~1e-6
  // per op over ~14 layers; a wrong channel or sign is off by O(1).
  EXPECT_TRUE(testing::all_close(got, want, 1e-4f, 1e-5f, "folded vs eval logits"));
  // The original is untouched: its eval forward is bitwise the same as before.
  EXPECT_EQ(net.forward(x).to_vector(), want);
}

TEST(UNetModel, FoldedBatchNormMatchesEvalForwardWithRelu) {
  expect_folded_matches_eval(model::Activation::kRelu);
}

TEST(UNetModel, FoldedBatchNormMatchesEvalForwardWithLeakyRelu) {
  expect_folded_matches_eval(model::Activation::kLeakyRelu);
}

TEST(UNetModel, FoldingANetWithoutBatchNormCopiesItExactly) {
  UNet net(tiny(model::Norm::kNone, 3, 4), 12);
  const testing::RefBatch batch = make_batch(1, 8, 8, 5);
  const Tensor x = to_tensor(batch.x, {1, 8, 8, 1});
  NoGradGuard no_grad;
  net.set_training(false);
  UNet folded = net.folded_for_inference();
  EXPECT_EQ(folded.forward(x).to_vector(), net.forward(x).to_vector());
}

}  // namespace
}  // namespace unet
