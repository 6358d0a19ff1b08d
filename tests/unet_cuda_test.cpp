// The whole seed U-Net training step on the GPU against the CPU (DESIGN.md section 4, backends
// oracle): loss, every gradient, the parameters after Adam; and bitwise determinism run to run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/device.h"
#include "engine/kernel_config.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "kernels/optim/optim.h"
#include "model/unet.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet {
namespace {

struct StepResult {
  float loss = 0;
  std::vector<std::vector<float>> grads, params_after;
};

StepResult train_step(Device device, MathMode math, const model::UNetConfig& config, int batch,
                      int size) {
  kernel_config().math = math;
  model::UNet net(config, 42);
  net.to(device);
  Adam adam(net.parameters(), AdamOptions{});
  const std::vector<float> x = testing::random_floats(size_t(batch) * size * size, 1);
  std::vector<float> t = testing::random_floats(x.size(), 2, 0.0f, 1.0f);
  for (float& v : t) v = v > 0.7f ? 1.0f : 0.0f;
  Tensor loss = dice_loss(net.forward(Tensor::from_vector(x, {batch, size, size, 1}, device)),
                          Tensor::from_vector(t, {batch, size, size, 1}, device));
  loss.backward();
  StepResult r;
  r.loss = loss.item();
  for (const Tensor& p : net.parameters()) r.grads.push_back(p.grad().to_vector());
  adam.step();
  for (const Tensor& p : net.parameters()) r.params_after.push_back(p.to_vector());
  kernel_config().math = MathMode::kFp32;
  return r;
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

void expect_step_matches_cpu(MathMode math, float grad_rtol, const model::UNetConfig& config,
                             int batch, int size) {
  const StepResult cpu = train_step(Device::cpu(), MathMode::kFp32, config, batch, size);
  const StepResult gpu = train_step(Device::cuda(), math, config, batch, size);
  EXPECT_NEAR(gpu.loss, cpu.loss, 1e-5 + grad_rtol * std::fabs(cpu.loss));
  for (size_t i = 0; i < cpu.grads.size(); ++i) {
    // Gradients are sums over up to N*H*W*9*C products in a different order on each backend:
    // compare relative to the tensor's largest gradient.
    const float scale = max_abs(cpu.grads[i]);
    EXPECT_TRUE(testing::all_close(gpu.grads[i], cpu.grads[i], 0.0f, grad_rtol * scale + 1e-12f,
                                   "gradient of parameter " + std::to_string(i)));
  }
}

TEST(UNetCuda, SeedTrainingStepMatchesCpuInFp32) {
  UNET_REQUIRE_CUDA();
  expect_step_matches_cpu(MathMode::kFp32, 1e-4f, model::UNetConfig{}, 1, 256);
}

TEST(UNetCuda, SeedTrainingStepMatchesCpuInTf32) {
  UNET_REQUIRE_CUDA();
  // TF32 keeps 10 mantissa bits: ~1e-3 per product; summed gradients stay within ~2e-2 of the
  // largest gradient of their tensor.
  expect_step_matches_cpu(MathMode::kTf32, 2e-2f, model::UNetConfig{}, 1, 256);
}

TEST(UNetCuda, BatchNormTrainingStepMatchesCpu) {
  UNET_REQUIRE_CUDA();
  model::UNetConfig c;
  c.depth = 4;
  c.base = 8;
  c.norm = model::Norm::kBatch;
  c.init = model::Init::kHe;
  expect_step_matches_cpu(MathMode::kFp32, 1e-3f, c, 4, 64);
}

TEST(UNetCuda, AdamOnTheGpuAppliesExactlyTheReferenceUpdate) {
  UNET_REQUIRE_CUDA();
  model::UNetConfig c;
  c.depth = 3;
  c.base = 4;
  const StepResult gpu = train_step(Device::cuda(), MathMode::kFp32, c, 2, 32);
  model::UNet init(c, 42);  // same seed: the parameters before the step
  std::vector<Tensor> params = init.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<float> p = params[i].to_vector(), m(p.size(), 0.0f), v(p.size(), 0.0f);
    kernels::ParamSlot slot{p.data(), gpu.grads[i].data(), m.data(), v.data(), int64_t(p.size())};
    kernels::AdamHyper h;
    kernels::adam_step_ref(h, &slot, 1);
    EXPECT_TRUE(
        testing::all_close(gpu.params_after[i], p, 1e-6f, 1e-9f, "param " + std::to_string(i)));
  }
}

TEST(UNetCuda, TwoRunsWithTheSameSeedAreBitwiseIdentical) {
  UNET_REQUIRE_CUDA();
  for (MathMode math : {MathMode::kFp32, MathMode::kTf32}) {
    const StepResult a = train_step(Device::cuda(), math, model::UNetConfig{}, 2, 256);
    const StepResult b = train_step(Device::cuda(), math, model::UNetConfig{}, 2, 256);
    EXPECT_EQ(a.loss, b.loss);
    for (size_t i = 0; i < a.params_after.size(); ++i) {
      EXPECT_TRUE(testing::bitwise_equal(
          a.params_after[i], b.params_after[i],
          std::string(math_mode_name(math)) + " param " + std::to_string(i)));
    }
  }
}

}  // namespace
}  // namespace unet
