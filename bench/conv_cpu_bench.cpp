// CPU conv2d and conv_transpose2d: the fast path (im2col/GEMM + OpenBLAS) against the naive
// reference on every layer shape of the seed U-Net (256x256x1 input, DESIGN.md section 1).
//
// Counter GFLOP (shown as a rate, GFLOP/s) = 2*N*P*Q*K*R*S*C / t (the same for forward,
// backward-data, backward-weight). Batch defaults to 1; set UNET_CONV_BENCH_BATCH to change it. The
// naive reference runs ~1 GFLOP/s, so it is registered only for layers up to kRefMaxGflop per pass,
// with a single iteration.
//
// Names: <conv2d|conv_transpose2d>/<fwd|bwd_data|bwd_weight>/<cpu|ref>/<shape>, shape =
// N<n>_H<h>_W<w>_C<c>_K<k>_R<r>_S<s> (input N,H,W,C; K output channels; R x S kernel), e.g.
// conv2d/fwd/cpu/N1_H256_W256_C32_K32_R3_S3.
//
//   ./conv_cpu_bench                               all layers, fast + ref where small
//   ./conv_cpu_bench --benchmark_filter=/cpu/      fast path only
//   UNET_CONV_BENCH_LAYERS=128 ./conv_cpu_bench    the 128x128 networks' 3x3 layers instead

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/gemm_cpu.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"

namespace {

using namespace unet::kernels;

constexpr double kRefMaxGflop = 0.7;

std::vector<float> random_vector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

void set_counters(benchmark::State& state, double flops) {
  state.counters["GFLOP"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

struct Conv2dLayer {
  int hw, c, k, r;  // square input hw x hw, C -> K, R x R kernel, pad (r-1)/2, stride 1
};

// conv3x3 pad1 encoder and decoder layers, then the 1x1 head.
const std::vector<Conv2dLayer> kConv2dLayers = {
    {256, 1, 32, 3},   {256, 32, 32, 3},  {128, 32, 64, 3},  {128, 64, 64, 3},  {64, 64, 128, 3},
    {64, 128, 128, 3}, {32, 128, 256, 3}, {32, 256, 256, 3}, {16, 256, 512, 3}, {16, 512, 512, 3},
    {32, 512, 256, 3}, {64, 256, 128, 3}, {128, 128, 64, 3}, {256, 64, 32, 3},  {256, 32, 1, 1},
};
// (Decoder 32:256->256, 64:128->128, 128:64->64, 256:32->32 repeat encoder shapes above.)

// UNET_CONV_BENCH_LAYERS=128: instead, the 3x3 layers of the two 128x128 networks, the demo's
// (base 32, depth 5) and train_step_bench's smaller one (base 16), each shape once.
const std::vector<Conv2dLayer> kConv2dLayers128 = {
    // base 32: encoder, then the decoder's first convs (their second convs repeat the encoder's)
    {128, 1, 32, 3},
    {128, 32, 32, 3},
    {64, 32, 64, 3},
    {64, 64, 64, 3},
    {32, 64, 128, 3},
    {32, 128, 128, 3},
    {16, 128, 256, 3},
    {16, 256, 256, 3},
    {8, 256, 512, 3},
    {8, 512, 512, 3},
    {16, 512, 256, 3},
    {32, 256, 128, 3},
    {64, 128, 64, 3},
    {128, 64, 32, 3},
    // base 16
    {128, 1, 16, 3},
    {128, 16, 16, 3},
    {64, 16, 32, 3},
    {64, 32, 32, 3},
    {32, 32, 64, 3},
    {32, 64, 64, 3},
    {16, 64, 128, 3},
    {16, 128, 128, 3},
    {8, 128, 256, 3},
    {8, 256, 256, 3},
    {16, 256, 128, 3},
    {32, 128, 64, 3},
    {64, 64, 32, 3},
    {128, 32, 16, 3},
};

struct ConvTLayer {
  int hw, c, k;  // 2x2 stride 2, input hw x hw, C -> K
};
const std::vector<ConvTLayer> kConvTLayers = {
    {16, 512, 256}, {32, 256, 128}, {64, 128, 64}, {128, 64, 32}};
// UNET_CONV_BENCH_LAYERS=128: the 128x128 networks' up-convolutions (base 32 depth 5, base 16
// depth 5, and the demo's base 16 depth 4, whose are a subset).
const std::vector<ConvTLayer> kConvTLayers128 = {{8, 512, 256}, {16, 256, 128}, {32, 128, 64},
                                                 {64, 64, 32},  {8, 256, 128},  {16, 128, 64},
                                                 {32, 64, 32},  {64, 32, 16}};

// The shape segment of a name: N1_H256_W256_C32_K32_R3_S3.
std::string conv_dims(int n, int hw, int c, int k, int r) {
  return "N" + std::to_string(n) + "_H" + std::to_string(hw) + "_W" + std::to_string(hw) + "_C" +
         std::to_string(c) + "_K" + std::to_string(k) + "_R" + std::to_string(r) + "_S" +
         std::to_string(r);
}

int batch() {
  const char* env = std::getenv("UNET_CONV_BENCH_BATCH");
  return env ? std::max(1, std::atoi(env)) : 1;
}

void register_conv2d(const Conv2dLayer& l, int n) {
  Conv2dShape s;
  s.N = n, s.H = s.W = l.hw, s.C = l.c, s.K = l.k, s.R = s.S = l.r;
  s.pad_h = s.pad_w = (l.r - 1) / 2;
  const std::string tag = conv_dims(n, l.hw, l.c, l.k, l.r);
  using Fn = std::function<void(const Conv2dShape&, const float*, const float*, const float*,
                                float*)>;  // (shape, in_a, in_b, relu_y, out)
  struct Pass {
    const char* name;
    Fn fast, ref, winograd, direct;  // winograd: CPU variant 2, empty for backward-weight;
                                     // direct: CPU variant 3
  };
  const std::vector<Pass> passes = {
      {"fwd",
       [](const Conv2dShape& s, const float* x, const float* w, const float* b, float* y) {
         conv2d_forward_cpu(s, x, w, b, y, true);
       },
       [](const Conv2dShape& s, const float* x, const float* w, const float* b, float* y) {
         conv2d_forward_ref<float>(s, x, w, b, y, true);
       },
       [](const Conv2dShape& s, const float* x, const float* w, const float* b, float* y) {
         conv2d_forward_cpu_winograd(s, x, w, b, y, true);
       },
       [](const Conv2dShape& s, const float* x, const float* w, const float* b, float* y) {
         conv2d_forward_cpu_direct(s, x, w, b, y, true);
       }},
      {"bwd_data",
       [](const Conv2dShape& s, const float* dy, const float* w, const float* ry, float* dx) {
         conv2d_backward_data_cpu(s, dy, w, ry, dx);
       },
       [](const Conv2dShape& s, const float* dy, const float* w, const float* ry, float* dx) {
         conv2d_backward_data_ref<float>(s, dy, w, ry, dx);
       },
       [](const Conv2dShape& s, const float* dy, const float* w, const float* ry, float* dx) {
         conv2d_backward_data_cpu_winograd(s, dy, w, ry, dx);
       },
       [](const Conv2dShape& s, const float* dy, const float* w, const float* ry, float* dx) {
         conv2d_backward_data_cpu_direct(s, dy, w, ry, dx);
       }},
      {"bwd_weight",
       [](const Conv2dShape& s, const float* x, const float* dy, const float* ry, float* dw) {
         std::vector<float> db(s.K);
         conv2d_backward_weight_cpu(s, x, dy, ry, dw, db.data());
       },
       [](const Conv2dShape& s, const float* x, const float* dy, const float* ry, float* dw) {
         std::vector<float> db(s.K);
         conv2d_backward_weight_ref<float>(s, x, dy, ry, dw, db.data());
       },
       nullptr,
       [](const Conv2dShape& s, const float* x, const float* dy, const float* ry, float* dw) {
         std::vector<float> db(s.K);
         conv2d_backward_weight_cpu_direct(s, x, dy, ry, dw, db.data());
       }},
  };
  // kind 0: the im2col fast path (cpu), 1: the naive reference (ref), 2: Winograd (winograd),
  // 3: the direct conv (direct).
  const Conv2dCpuPass cpu_passes[] = {Conv2dCpuPass::kForward, Conv2dCpuPass::kBackwardData,
                                      Conv2dCpuPass::kBackwardWeight};
  for (int pi = 0; pi < 3; ++pi) {
    for (int kind = 0; kind < 4; ++kind) {
      const bool ref = kind == 1;
      if (ref && s.flops() * 1e-9 > kRefMaxGflop) continue;
      if (kind == 2 && (!passes[pi].winograd || !conv2d_winograd_applies(s))) continue;
      if (kind == 3 && !conv2d_direct_applies(s, cpu_passes[pi])) continue;
      const Pass pass = passes[pi];
      const char* kinds[] = {"/cpu/", "/ref/", "/winograd/", "/direct/"};
      const std::string name = std::string("conv2d/") + pass.name + kinds[kind] + tag;
      auto* b =
          benchmark::RegisterBenchmark(name.c_str(), [s, pi, kind, pass](benchmark::State& state) {
            const auto x = random_vector(s.x_size(), 1), w = random_vector(s.w_size(), 2),
                       dy = random_vector(s.y_size(), 3), bias = random_vector(s.K, 4);
            std::vector<float> relu_y(s.y_size()), out;
            conv2d_forward_cpu(s, x.data(), w.data(), bias.data(), relu_y.data(), true);
            const Fn& fn = kind == 1   ? pass.ref
                           : kind == 2 ? pass.winograd
                           : kind == 3 ? pass.direct
                                       : pass.fast;
            for (auto _ : state) {
              if (pi == 0) {
                out.resize(s.y_size());
                fn(s, x.data(), w.data(), bias.data(), out.data());
              } else if (pi == 1) {
                out.resize(s.x_size());
                fn(s, dy.data(), w.data(), relu_y.data(), out.data());
              } else {
                out.resize(s.w_size());
                fn(s, x.data(), dy.data(), relu_y.data(), out.data());
              }
              benchmark::DoNotOptimize(out.data());
              benchmark::ClobberMemory();
            }
            set_counters(state, s.flops());
          });
      b->Unit(benchmark::kMillisecond)->UseRealTime();
      if (ref) b->Iterations(1);
    }
  }
}

void register_conv_transpose2d(const ConvTLayer& l, int n) {
  ConvTranspose2dShape s;
  s.N = n, s.H = s.W = l.hw, s.C = l.c, s.K = l.k, s.R = s.S = 2, s.stride_h = s.stride_w = 2;
  const std::string tag = conv_dims(n, l.hw, l.c, l.k, 2);
  const char* pass_names[3] = {"fwd", "bwd_data", "bwd_weight"};
  // kind 0: the GEMM path (cpu), 1: the naive reference (ref), 2: the direct conv (direct).
  const char* kinds[3] = {"/cpu/", "/ref/", "/direct/"};
  for (int pi = 0; pi < 3; ++pi) {
    for (int kind = 0; kind < 3; ++kind) {
      if (kind == 1 && s.flops() * 1e-9 > kRefMaxGflop) continue;
      if (kind == 2 && !conv_transpose2d_direct_applies(s, pi == 0)) continue;
      const std::string name =
          std::string("conv_transpose2d/") + pass_names[pi] + kinds[kind] + tag;
      auto* b = benchmark::RegisterBenchmark(name.c_str(), [s, pi, kind](benchmark::State& state) {
        const auto x = random_vector(s.x_size(), 1), w = random_vector(s.w_size(), 2),
                   dy = random_vector(s.y_size(), 3), bias = random_vector(s.K, 4);
        std::vector<float> y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(s.K);
        for (auto _ : state) {
          if (pi == 0) {
            if (kind == 1)
              conv_transpose2d_forward_ref<float>(s, x.data(), w.data(), bias.data(), y.data());
            if (kind == 0)
              conv_transpose2d_forward_cpu(s, x.data(), w.data(), bias.data(), y.data());
            if (kind == 2)
              conv_transpose2d_forward_cpu_direct(s, x.data(), w.data(), bias.data(), y.data());
          } else if (pi == 1) {
            if (kind == 1)
              conv_transpose2d_backward_data_ref<float>(s, dy.data(), w.data(), dx.data());
            if (kind == 0) conv_transpose2d_backward_data_cpu(s, dy.data(), w.data(), dx.data());
            if (kind == 2)
              conv_transpose2d_backward_data_cpu_direct(s, dy.data(), w.data(), dx.data());
          } else {
            if (kind == 1)
              conv_transpose2d_backward_weight_ref<float>(s, x.data(), dy.data(), dw.data(),
                                                          db.data());
            if (kind == 0)
              conv_transpose2d_backward_weight_cpu(s, x.data(), dy.data(), dw.data(), db.data());
            if (kind == 2)
              conv_transpose2d_backward_weight_cpu_direct(s, x.data(), dy.data(), dw.data(),
                                                          db.data());
          }
          benchmark::ClobberMemory();
        }
        set_counters(state, s.flops());
      });
      b->Unit(benchmark::kMillisecond)->UseRealTime();
      if (kind == 1) b->Iterations(1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int n = batch();
  const char* layers = std::getenv("UNET_CONV_BENCH_LAYERS");
  const bool at_128 = layers != nullptr && std::string(layers) == "128";
  for (const auto& l : at_128 ? kConv2dLayers128 : kConv2dLayers) register_conv2d(l, n);
  for (const auto& l : at_128 ? kConvTLayers128 : kConvTLayers) register_conv_transpose2d(l, n);
  benchmark::AddCustomContext("sgemm_cpu", sgemm_cpu_uses_openblas() ? "OpenBLAS" : "built-in");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
