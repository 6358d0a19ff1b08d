// conv2d CUDA benchmark: every variant and cuDNN's best algorithm (fp32 FMA math and TF32 tensor-op
// math) on the seed U-Net's conv layer shapes at batch 10 and 32, forward / backward-data /
// backward-weight. Device time from CUDA events (manual time); GFLOP/s = 2*N*P*Q*K*R*S*C / t.
//
// Names: conv2d/<fwd|bwd_data|bwd_weight>/<v1_naive|v2_tiled|v3_tf32|cudnn_fp32|cudnn_tf32>/
//        N<n>_H<h>_W<w>_C<c>_K<k>_R<r>_S<s>   e.g. conv2d/fwd/v3_tf32/N32_H256_W256_C32_K32_R3_S3
// The seed list has repeated layer shapes (encoder and decoder share some); each is benchmarked
// once. Pure convolutions are timed (no bias, ReLU or mask) so every row does the same work as
// cuDNN's. v1 runs at batch 10 only, 2 iterations: at batch 32 its big layers take seconds per
// call. Data is a constant fill (timing does not depend on the values).
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/common/cuda_check.h"
#include "kernels/conv2d/conv2d.h"

namespace {

using unet::kernels::Conv2dShape;
using unet::kernels::Conv2dVariant;

struct Layer {
  int hw, c, k, r;
};
// 3x3 pad 1 layers of the seed U-Net (input 256x256x1) and the 1x1 head, without repeats.
const Layer kLayers[] = {
    {256, 1, 32, 3},   {256, 32, 32, 3},  {128, 32, 64, 3},  {128, 64, 64, 3},  {64, 64, 128, 3},
    {64, 128, 128, 3}, {32, 128, 256, 3}, {32, 256, 256, 3}, {16, 256, 512, 3}, {16, 512, 512, 3},
    {32, 512, 256, 3}, {64, 256, 128, 3}, {128, 128, 64, 3}, {256, 64, 32, 3},  {256, 32, 1, 1},
};
const int kBatches[] = {10, 32};

enum class Dir { kFwd, kBwdData, kBwdWeight };
const char* dir_name(Dir d) {
  return d == Dir::kFwd ? "fwd" : (d == Dir::kBwdData ? "bwd_data" : "bwd_weight");
}

void cudnn_check(cudnnStatus_t st, const char* what) {
  if (st != CUDNN_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("cuDNN error in ") + what + ": " +
                             cudnnGetErrorString(st));
  }
}
#define CUDNN_CHECK(call) cudnn_check((call), #call)

Conv2dShape shape_of(const Layer& l, int batch) {
  Conv2dShape s;
  s.N = batch, s.H = s.W = l.hw, s.C = l.c, s.K = l.k, s.R = s.S = l.r;
  s.pad_h = s.pad_w = l.r / 2;
  return s;
}

// Buffers sized for the largest layer at the largest batch, allocated and filled once.
struct Pool {
  float *x = nullptr, *w = nullptr, *y = nullptr, *dx = nullptr, *dw = nullptr;
  void* ws = nullptr;
  size_t ws_bytes = size_t(2) << 30;  // cuDNN's find may use up to 2 GiB of scratch
  cudnnHandle_t cudnn = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
};

Pool& pool() {
  static Pool* p = [] {
    auto* q = new Pool;
    int64_t xs = 0, ws = 0, ys = 0;
    for (const Layer& l : kLayers) {
      const Conv2dShape s = shape_of(l, 32);
      xs = std::max(xs, s.x_size());
      ws = std::max(ws, s.w_size());
      ys = std::max(ys, s.y_size());
    }
    UNET_CUDA_CHECK(cudaMalloc(&q->x, xs * sizeof(float)));
    UNET_CUDA_CHECK(cudaMalloc(&q->dx, xs * sizeof(float)));
    UNET_CUDA_CHECK(cudaMalloc(&q->w, ws * sizeof(float)));
    UNET_CUDA_CHECK(cudaMalloc(&q->dw, ws * sizeof(float)));
    UNET_CUDA_CHECK(cudaMalloc(&q->y, ys * sizeof(float)));
    UNET_CUDA_CHECK(cudaMalloc(&q->ws, q->ws_bytes));
    // 0x3C3C3C3C is about 0.0115: finite, normal, the same everywhere.
    UNET_CUDA_CHECK(cudaMemset(q->x, 0x3C, xs * sizeof(float)));
    UNET_CUDA_CHECK(cudaMemset(q->w, 0x3C, ws * sizeof(float)));
    UNET_CUDA_CHECK(cudaMemset(q->y, 0x3C, ys * sizeof(float)));
    CUDNN_CHECK(cudnnCreate(&q->cudnn));
    UNET_CUDA_CHECK(cudaEventCreate(&q->start));
    UNET_CUDA_CHECK(cudaEventCreate(&q->stop));
    return q;
  }();
  return *p;
}

// Times op() with CUDA events, one launch sequence per iteration.
void time_loop(benchmark::State& state, const Conv2dShape& s, const std::function<void()>& op) {
  Pool& p = pool();
  op();  // warm-up (also surfaces launch errors before timing)
  UNET_CUDA_CHECK(cudaDeviceSynchronize());
  double total_s = 0;
  for (auto _ : state) {
    UNET_CUDA_CHECK(cudaEventRecord(p.start));
    op();
    UNET_CUDA_CHECK(cudaEventRecord(p.stop));
    UNET_CUDA_CHECK(cudaEventSynchronize(p.stop));
    float ms = 0;
    UNET_CUDA_CHECK(cudaEventElapsedTime(&ms, p.start, p.stop));
    state.SetIterationTime(ms * 1e-3);
    total_s += ms * 1e-3;
  }
  if (total_s > 0) {
    state.counters["GFLOP/s"] = s.flops() * double(state.iterations()) / total_s * 1e-9;
  }
}

void bench_ours(benchmark::State& state, Conv2dShape s, Dir d, Conv2dVariant v) {
  Pool& p = pool();
  const size_t need = unet::kernels::conv2d_backward_weight_workspace_bytes(v, s);
  if (need > p.ws_bytes) {
    state.SkipWithError("workspace larger than the pool");
    return;
  }
  std::function<void()> op;
  if (d == Dir::kFwd) {
    op = [&] {
      unet::kernels::conv2d_forward_cuda(v, s, p.x, p.w, nullptr, p.y, false, p.ws, nullptr);
    };
  } else if (d == Dir::kBwdData) {
    op = [&] {
      unet::kernels::conv2d_backward_data_cuda(v, s, p.y, p.w, nullptr, p.dx, p.ws, nullptr);
    };
  } else {
    op = [&] {
      unet::kernels::conv2d_backward_weight_cuda(v, s, p.x, p.y, nullptr, p.dw, nullptr, p.ws,
                                                 nullptr);
    };
  }
  time_loop(state, s, op);
}

// cuDNN with NHWC tensors and an NHWC (= KRSC) filter; the fastest algorithm cudnnFind*Ex reports
// for the math mode: CUDNN_FMA_MATH keeps it strict fp32, CUDNN_TENSOR_OP_MATH allows TF32.
void bench_cudnn(benchmark::State& state, Conv2dShape s, Dir d, bool tf32) {
  Pool& p = pool();
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&xd));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&yd));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&wd));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&cd));
  CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, s.N, s.C, s.H, s.W));
  CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, s.N, s.K, s.P(), s.Q()));
  CUDNN_CHECK(
      cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, s.K, s.C, s.R, s.S));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(cd, s.pad_h, s.pad_w, s.stride_h, s.stride_w, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(cd, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  const float one = 1.0f, zero = 0.0f;
  std::function<void()> op;
  int returned = 0;
  bool found = false;
  if (d == Dir::kFwd) {
    cudnnConvolutionFwdAlgoPerf_t perf[16];
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(p.cudnn, xd, p.x, wd, p.w, cd, yd, p.y, 16,
                                                       &returned, perf, p.ws, p.ws_bytes));
    for (int i = 0; i < returned && !found; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
      found = true;
      const auto algo = perf[i].algo;
      const size_t bytes = perf[i].memory;
      CUDNN_CHECK(cudnnSetConvolutionMathType(cd, perf[i].mathType));
      op = [&, algo, bytes] {
        CUDNN_CHECK(cudnnConvolutionForward(p.cudnn, &one, xd, p.x, wd, p.w, cd, algo, p.ws, bytes,
                                            &zero, yd, p.y));
      };
    }
  } else if (d == Dir::kBwdData) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[16];
    CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(p.cudnn, wd, p.w, yd, p.y, cd, xd, p.dx,
                                                            16, &returned, perf, p.ws, p.ws_bytes));
    for (int i = 0; i < returned && !found; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
      found = true;
      const auto algo = perf[i].algo;
      const size_t bytes = perf[i].memory;
      CUDNN_CHECK(cudnnSetConvolutionMathType(cd, perf[i].mathType));
      op = [&, algo, bytes] {
        CUDNN_CHECK(cudnnConvolutionBackwardData(p.cudnn, &one, wd, p.w, yd, p.y, cd, algo, p.ws,
                                                 bytes, &zero, xd, p.dx));
      };
    }
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[16];
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        p.cudnn, xd, p.x, yd, p.y, cd, wd, p.dw, 16, &returned, perf, p.ws, p.ws_bytes));
    for (int i = 0; i < returned && !found; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
      found = true;
      const auto algo = perf[i].algo;
      const size_t bytes = perf[i].memory;
      CUDNN_CHECK(cudnnSetConvolutionMathType(cd, perf[i].mathType));
      op = [&, algo, bytes] {
        CUDNN_CHECK(cudnnConvolutionBackwardFilter(p.cudnn, &one, xd, p.x, yd, p.y, cd, algo, p.ws,
                                                   bytes, &zero, wd, p.dw));
      };
    }
  }
  if (found) {
    time_loop(state, s, op);
  } else {
    state.SkipWithError("cuDNN found no algorithm");
  }
  cudnnDestroyConvolutionDescriptor(cd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyTensorDescriptor(xd);
}

// The shape segment of a name: N32_H256_W256_C32_K32_R3_S3.
std::string layer_name(const Layer& l, int batch) {
  return "N" + std::to_string(batch) + "_H" + std::to_string(l.hw) + "_W" + std::to_string(l.hw) +
         "_C" + std::to_string(l.c) + "_K" + std::to_string(l.k) + "_R" + std::to_string(l.r) +
         "_S" + std::to_string(l.r);
}

void register_all() {
  for (Dir d : {Dir::kFwd, Dir::kBwdData, Dir::kBwdWeight}) {
    for (int batch : kBatches) {
      for (const Layer& l : kLayers) {
        const Conv2dShape s = shape_of(l, batch);
        const std::string tail = "/" + layer_name(l, batch);
        const std::string head = std::string("conv2d/") + dir_name(d) + "/";
        for (const unet::kernels::VariantInfo& row : unet::kernels::kConv2dVariants) {
          const auto v = static_cast<Conv2dVariant>(row.id);
          if (v == Conv2dVariant::kV1Naive && batch != 10) continue;
          auto* b = benchmark::RegisterBenchmark(
              (head + row.name + tail).c_str(),
              [s, d, v](benchmark::State& st) { bench_ours(st, s, d, v); });
          b->UseManualTime()->Unit(benchmark::kMillisecond);
          if (v == Conv2dVariant::kV1Naive) {
            b->Iterations(2);
          } else {
            b->MinTime(0.05);
          }
        }
        for (bool tf32 : {false, true}) {
          benchmark::RegisterBenchmark(
              (head + (tf32 ? "cudnn_tf32" : "cudnn_fp32") + tail).c_str(),
              [s, d, tf32](benchmark::State& st) { bench_cudnn(st, s, d, tf32); })
              ->UseManualTime()
              ->Unit(benchmark::kMillisecond)
              ->MinTime(0.05);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "conv2d_cuda_bench: no CUDA device present; nothing to measure\n");
    return 0;
  }
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "conv2d_cuda_bench: %s\n", e.what());
    return 1;
  }
  benchmark::Shutdown();
  return 0;
}
#pragma GCC diagnostic pop
