// Cross-framework parity with PyTorch (bench/torch_reference.py, run by /usr/bin/python3):
//  1. the same U-Net training step from the same weights, input and target: loss, logits, every
//     gradient and every parameter after Adam agree with PyTorch's (computed in float64);
//  2. our checkpoints load into the PyTorch model with load_state_dict(strict=True).
// Skips, saying why, when /usr/bin/python3 has no torch (scripts/setup.sh installs python3-torch).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/safetensors.h"
#include "io/npy.h"
#include "model/unet.h"
#include "tests/testing/temp_dir.h"
#include "workflow/checkpoint.h"

namespace unet {
namespace {

namespace fs = std::filesystem;

const std::string kScript = std::string(UNET_SOURCE_DIR) + "/bench/torch_reference.py";

int shell(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool torch_available() {
  return shell("/usr/bin/python3 -c 'import torch, numpy' > /dev/null 2>&1") == 0;
}

SafetensorsContents read_safetensors_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return decode_safetensors(buf.str(), path.string());
}

Tensor read_npy_nhwc(const fs::path& path) {
  io::NpyArray a = io::read_npy(path.string());
  // [N, 1, H, W] (NCHW with one channel) has the same bytes as NHWC [N, H, W, 1].
  return Tensor::from_vector(a.f32, {a.shape[0], a.shape[2], a.shape[3], 1});
}

// max|ours - ref| / max|ref|: element-wise relative error is meaningless for values near zero.
double tensor_error(const Tensor& ours, const Tensor& ref) {
  const std::vector<float> a = ours.to_vector(), b = ref.to_vector();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_vector()) m = std::max(m, std::fabs(double(v)));
  return m;
}

class TorchParity : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!torch_available()) GTEST_SKIP() << "/usr/bin/python3 has no torch (install python3-torch)";
  }

  model::UNetConfig config() const {
    model::UNetConfig c;
    c.depth = 3;
    c.base = 4;
    c.norm = GetParam() ? model::Norm::kBatch : model::Norm::kNone;
    return c;
  }
  std::string torch_args() const {
    return std::string(" --depth 3 --base 4 --size 32 --batch 2") +
           (GetParam() ? " --batchnorm --loss dice_bce" : " --loss dice");
  }
  const testing::TempDir tmp_{"torch_parity"};
  const fs::path dir_ = tmp_.path();
};

TEST_P(TorchParity, OneTrainingStepMatchesPyTorch) {
  const bool bn = GetParam();
  ASSERT_EQ(shell("/usr/bin/python3 " + kScript + torch_args() + " --export-init " + dir_.string() +
                  " > " + (dir_ / "log.txt").string() + " 2>&1"),
            0)
      << "torch_reference.py --export-init failed; see its log";
  model::UNet net(config(), 0);
  net.load_state_dict(read_safetensors_file(dir_ / "init.safetensors").tensors, "init.safetensors");
  const SafetensorsContents step = read_safetensors_file(dir_ / "step.safetensors");
  Tensor x = read_npy_nhwc(dir_ / "input.npy"), t = read_npy_nhwc(dir_ / "target.npy");

  Adam adam(net.parameters(), AdamOptions{});
  Tensor logits = net.forward(x);
  Tensor loss = dice_loss(logits, t);
  if (bn) loss = add(loss, bce_with_logits(logits, t));
  loss.backward();
  EXPECT_NEAR(loss.item(), step.get("loss").item(), 1e-5);
  // 1e-4 of the tensor's largest value: float32 rounding differs, a layout or formula mistake is
  // O(1).
  EXPECT_LT(tensor_error(logits, step.get("logits")), 1e-4);

  // With batch norm a conv bias cannot change the loss: its gradient is rounding noise on both
  // sides.
  auto is_noise = [&](const std::string& name) {
    return bn && name.find(".conv") != std::string::npos && name.size() > 5 &&
           name.compare(name.size() - 5, 5, ".bias") == 0;
  };
  for (const model::ParamRef& p : net.named_tensors()) {
    if (!p.trainable) continue;
    const Tensor ours = model::to_pytorch_layout(p.tensor->grad(), p.layout);
    const Tensor& ref = step.get("grad." + p.name);
    ASSERT_EQ(ours.shape(), ref.shape()) << p.name;
    if (is_noise(p.name)) {
      EXPECT_LT(max_abs(ours), 1e-6) << p.name;
    } else {
      EXPECT_LT(tensor_error(ours, ref), 1e-4) << "grad." << p.name;
    }
  }
  adam.step();
  for (const model::ParamRef& p : net.named_tensors()) {
    if (!p.trainable || is_noise(p.name)) continue;
    EXPECT_LT(tensor_error(model::to_pytorch_layout(*p.tensor, p.layout),
                           step.get("after_adam." + p.name)),
              1e-5)
        << "after_adam." << p.name;
  }
  if (bn) {
    for (const model::ParamRef& p : net.named_tensors()) {
      if (p.name.find("running_") == std::string::npos) continue;
      EXPECT_LT(tensor_error(*p.tensor, step.get("after_step." + p.name)), 1e-5) << p.name;
    }
  }
}

TEST_P(TorchParity, OurCheckpointLoadsStrictlyIntoPyTorch) {
  model::UNet net(config(), 3);
  if (GetParam())
    net.forward(Tensor::zeros({2, 32, 32, 1}));  // move the BN counters and statistics
  const std::string ckpt = (dir_ / "ours.safetensors").string();
  workflow::save_checkpoint(ckpt, net, nullptr, {});
  const int rc = shell("/usr/bin/python3 " + kScript + torch_args() +
                       " --device cpu --steps 1 --warmup 0 --load " + ckpt + " > " +
                       (dir_ / "log.txt").string() + " 2>&1");
  std::ifstream log(dir_ / "log.txt");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << text;
}

INSTANTIATE_TEST_SUITE_P(PlainAndBatchNorm, TorchParity, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "BatchNorm" : "Plain"; });

}  // namespace
}  // namespace unet
