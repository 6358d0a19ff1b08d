// Whole training steps (forward, Dice loss, backward, Adam) of the U-Net, in images/s with peak
// memory, on the CPU and (when present) the GPU. The step is workflow::train_step, the one the
// trainer runs (it also reads the loss back before the backward pass). The same network, loss and
// optimiser run in bench/torch_reference.py for side-by-side ratios on the same machine in the
// same call.
//
//   train_step_bench --benchmark_filter=cpu     (CPU configs)
//   train_step_bench --benchmark_filter=cuda    (GPU configs: seed at batch 10/32, fp32 and TF32)
//   train_step_bench --benchmark_filter=inference  (eval-mode forward, batch 10 at 256x256, CPU)
//   UNET_PROFILE=1 train_step_bench ...         (also a per-op time table per config, on stderr)
//   UNET_VARIANT=conv2d_cpu=2 train_step_bench  (forced variants, engine/kernel_config.h)
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/kernel_config.h"
#include "engine/optim.h"
#include "engine/profiler.h"
#include "model/unet.h"
#include "workflow/train_step.h"

namespace {

using namespace unet;

void run_train_step(benchmark::State& state, Device device, MathMode math, int batch, int size,
                    int base) {
  if (device.is_cuda() && !cuda_available()) {
    state.SkipWithError("no CUDA device present");
    return;
  }
  kernel_config().math = math;
  model::UNetConfig config;
  config.base = base;
  model::UNet net(config, 1);
  net.to(device);
  Adam adam(net.parameters(), AdamOptions{});
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(size_t(batch) * size * size), t(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = u(rng);
    t[i] = u(rng) > 0.6f ? 1.0f : 0.0f;
  }
  Tensor xt = Tensor::from_vector(x, {batch, size, size, 1}, device);
  Tensor tt = Tensor::from_vector(t, {batch, size, size, 1}, device);
  auto step = [&] {
    workflow::train_step(net, adam, xt, tt, workflow::LossKind::kDice);
    if (device.is_cuda()) cuda_synchronize();
  };
  step();  // warm-up: fills the caching allocator, so the timed steps do no cudaMalloc
  if (device.is_cuda())
    cuda_reset_peak();
  else
    cpu_reset_peak();
  const size_t allocs_before = device.is_cuda() ? cuda_memory_stats().system_allocs : 0;
  reset_op_profile();  // with UNET_PROFILE=1: only the timed steps below
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const MemoryStats mem = device.is_cuda() ? cuda_memory_stats() : cpu_memory_stats();
  state.counters["img_per_s"] =
      benchmark::Counter(double(batch) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["peak_GiB"] = double(mem.peak_bytes) / (1024.0 * 1024 * 1024);
  if (device.is_cuda())
    state.counters["cudaMalloc_in_loop"] = double(mem.system_allocs - allocs_before);
  if (profiling_enabled()) {
    std::fprintf(stderr, "per-op time over %lld timed steps (%s, batch %d, %dx%d):\n%s",
                 static_cast<long long>(state.iterations()), math_mode_name(math), batch, size,
                 size, op_profile_table().c_str());
  }
  kernel_config().math = MathMode::kFp32;
}

// Inference as unet_predict runs it: eval mode, no autograd tape, a batch of slices per forward
// pass, with batch norm either folded into the convs (what unet_predict and unet_serve run) or
// applied as its own op. bench/torch_reference.py --inference times the same in PyTorch.
void run_inference(benchmark::State& state, int batch, int size, int base, model::Norm norm,
                   bool fold) {
  model::UNetConfig config;
  config.base = base;
  config.norm = norm;
  model::UNet net(config, 1);
  net.set_training(false);
  if (fold) net = net.folded_for_inference();
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(size_t(batch) * size * size);
  for (float& v : x) v = u(rng);
  const Tensor xt = Tensor::from_vector(x, {batch, size, size, 1});
  NoGradGuard no_grad;
  net.forward(xt);  // warm-up
  cpu_reset_peak();
  reset_op_profile();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(net.forward(xt));
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.counters["img_per_s"] =
      benchmark::Counter(double(batch) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["peak_GiB"] = double(cpu_memory_stats().peak_bytes) / (1024.0 * 1024 * 1024);
  if (profiling_enabled()) {
    std::fprintf(stderr, "per-op time over %lld timed forward passes (batch %d, %dx%d):\n%s",
                 static_cast<long long>(state.iterations()), batch, size, size,
                 op_profile_table().c_str());
  }
}

// One benchmark per config, named as a space-free path like the kernel benchmarks:
// train_step/<cpu|cuda>/<fp32|tf32>/<seed|base16>/N<batch>_H<size>_W<size>.
struct StepConfig {
  Device device;
  MathMode math;
  int batch, size, base, iterations;
};

const StepConfig kConfigs[] = {
    // CPU: the seed network at batch 1, and a smaller one (base 16, 128x128) at batch 10.
    {Device::cpu(), MathMode::kFp32, 1, 256, 32, 3},
    {Device::cpu(), MathMode::kFp32, 10, 128, 16, 3},
    // GPU: the seed network at batch 10 and 32, strict fp32 and TF32.
    {Device::cuda(), MathMode::kFp32, 10, 256, 32, 10},
    {Device::cuda(), MathMode::kTf32, 10, 256, 32, 10},
    {Device::cuda(), MathMode::kFp32, 32, 256, 32, 10},
    {Device::cuda(), MathMode::kTf32, 32, 256, 32, 10},
};

std::string step_name(const StepConfig& c) {
  const std::string net = c.base == 32 ? "seed" : "base" + std::to_string(c.base);
  const std::string size = std::to_string(c.size);
  return std::string("train_step/") + (c.device.is_cuda() ? "cuda" : "cpu") + "/" +
         math_mode_name(c.math) + "/" + net + "/N" + std::to_string(c.batch) + "_H" + size + "_W" +
         size;
}

}  // namespace

int main(int argc, char** argv) {
  for (const StepConfig& c : kConfigs) {
    benchmark::RegisterBenchmark(step_name(c).c_str(),
                                 [c](benchmark::State& st) {
                                   run_train_step(st, c.device, c.math, c.batch, c.size, c.base);
                                 })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(c.iterations);
  }
  // inference/cpu/<seed|seed_bn|seed_bn_folded>/N10_H256_W256: seconds per 50-slice volume are
  // 5x the time per iteration.
  struct InferenceConfig {
    const char* name;
    model::Norm norm;
    bool fold;
  };
  for (const InferenceConfig& c : {InferenceConfig{"seed", model::Norm::kNone, false},
                                   InferenceConfig{"seed_bn", model::Norm::kBatch, false},
                                   InferenceConfig{"seed_bn_folded", model::Norm::kBatch, true}}) {
    benchmark::RegisterBenchmark(
        (std::string("inference/cpu/") + c.name + "/N10_H256_W256").c_str(),
        [c](benchmark::State& st) { run_inference(st, 10, 256, 32, c.norm, c.fold); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(3);
  }
  force_variants_from_environment();  // UNET_VARIANT=conv2d_cpu=2 ...: a variant for study
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
