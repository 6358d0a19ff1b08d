// conv_transpose2d on the GPU: every variant and cuDNN on the seed U-Net's up-convolutions
// (2x2 stride 2; input 16:512->256, 32:256->128, 64:128->64, 128:64->32) at batch 10 and 32.
//
// cuDNN's equivalents (same NHWC tensors, our CRSK weight read as a KRSC conv filter with
// K' = C, C' = K): forward = cudnnConvolutionBackwardData, backward-data =
// cudnnConvolutionForward, backward-weight = cudnnConvolutionBackwardFilter, each with the best
// algorithm from cudnnFind*. "cudnn_fp32" uses CUDNN_FMA_MATH (strict fp32: CUDNN_DEFAULT_MATH
// would allow TF32 on sm_80+), "cudnn_tf32" CUDNN_TENSOR_OP_MATH.
// Timing: CUDA events around each call (manual time). Counter GFLOP (a rate) = 2*N*H*W*C*R*S*K / t.
// Backward-weight times include dbias (ours; cuDNN's filter gradient has none).
//
// Names: conv_transpose2d/<fwd|bwd_data|bwd_weight>/<variant|cudnn_fp32|cudnn_tf32>/
//        N<n>_H<h>_W<w>_C<c>_K<k>_R2_S2 (input N,H,W,C; K output channels; 2x2 stride 2)
//
//   ./conv_transpose2d_cuda_bench --benchmark_filter=/fwd/

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/cuda_event_timer.h"
#include "kernels/common/cuda_check.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"

namespace {

using namespace unet::kernels;

void cudnn_check(cudnnStatus_t st, const char* what) {
  if (st != CUDNN_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuDNN error in ") + what + ": " +
                             cudnnGetErrorString(st));
}
#define CUDNN_CHECK(call) cudnn_check((call), #call)

struct DevBuf {
  float* p = nullptr;
  explicit DevBuf(size_t n, uint32_t seed = 0) {
    UNET_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(float)));
    std::vector<float> h(n);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    for (auto& v : h) v = d(rng);
    if (n) UNET_CUDA_CHECK(cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  }
  ~DevBuf() { cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
};

struct Problem {
  ConvTranspose2dShape s;
  DevBuf x, w, bias, dy, y, dx, dw, db;
  explicit Problem(const ConvTranspose2dShape& shape)
      : s(shape),
        x(s.x_size(), 1),
        w(s.w_size(), 2),
        bias(s.K, 3),
        dy(s.y_size(), 4),
        y(s.y_size()),
        dx(s.x_size()),
        dw(s.w_size()),
        db(s.K) {}
};

// Warm-up once, then time each iteration with CUDA events.
void time_loop(benchmark::State& state, const ConvTranspose2dShape& s,
               const std::function<void()>& fn) {
  unet::bench::time_with_cuda_events(state, fn);
  state.counters["GFLOP"] =
      benchmark::Counter(s.flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void bench_variant_body(benchmark::State& state, ConvTranspose2dVariant v, ConvTranspose2dShape s,
                        int pass) {
  Problem pr(s);
  DevBuf ws(conv_transpose2d_backward_weight_workspace_bytes(v, s) / sizeof(float) + 1);
  time_loop(state, s, [&] {
    if (pass == 0)
      conv_transpose2d_forward_cuda(v, s, pr.x.p, pr.w.p, pr.bias.p, pr.y.p, nullptr);
    else if (pass == 1)
      conv_transpose2d_backward_data_cuda(v, s, pr.dy.p, pr.w.p, pr.dx.p, nullptr);
    else
      conv_transpose2d_backward_weight_cuda(v, s, pr.x.p, pr.dy.p, pr.dw.p, pr.db.p, ws.p, nullptr);
  });
}

void bench_cudnn_body(benchmark::State& state, bool tf32, ConvTranspose2dShape s, int pass) {
  Problem pr(s);
  cudnnHandle_t h;
  CUDNN_CHECK(cudnnCreate(&h));
  // The mirror conv: input = our y (N, K, P, Q), output = our x (N, C, H, W), filter [C][R][S][K].
  cudnnTensorDescriptor_t big, small;
  cudnnFilterDescriptor_t filt;
  cudnnConvolutionDescriptor_t conv;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&big));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&small));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&filt));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
  CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(big, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, s.N, s.K, s.P(), s.Q()));
  CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(small, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, s.N, s.C, s.H, s.W));
  CUDNN_CHECK(
      cudnnSetFilter4dDescriptor(filt, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, s.C, s.K, s.R, s.S));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, 0, 0, s.stride_h, s.stride_w, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  const float one = 1.0f, zero = 0.0f;
  int found = 0;
  bool ok = false;
  size_t ws_bytes = 0;
  std::function<void(void*)> call;
  if (pass == 0) {  // our forward: dx of the mirror conv, from dy = our x
    cudnnConvolutionBwdDataAlgoPerf_t perf[8];
    CUDNN_CHECK(
        cudnnFindConvolutionBackwardDataAlgorithm(h, filt, small, conv, big, 8, &found, perf));
    ok = found > 0 && perf[0].status == CUDNN_STATUS_SUCCESS;
    const auto algo = perf[0].algo;
    ws_bytes = perf[0].memory;
    call = [&, algo](void* ws) {
      CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, filt, pr.w.p, small, pr.x.p, conv, algo, ws,
                                               ws_bytes, &zero, big, pr.y.p));
    };
  } else if (pass == 1) {  // our backward-data: the mirror conv's forward of dy
    cudnnConvolutionFwdAlgoPerf_t perf[8];
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(h, big, filt, conv, small, 8, &found, perf));
    ok = found > 0 && perf[0].status == CUDNN_STATUS_SUCCESS;
    const auto algo = perf[0].algo;
    ws_bytes = perf[0].memory;
    call = [&, algo](void* ws) {
      CUDNN_CHECK(cudnnConvolutionForward(h, &one, big, pr.dy.p, filt, pr.w.p, conv, algo, ws,
                                          ws_bytes, &zero, small, pr.dx.p));
    };
  } else {  // our backward-weight: the mirror conv's filter gradient (input dy, grad x)
    cudnnConvolutionBwdFilterAlgoPerf_t perf[8];
    CUDNN_CHECK(
        cudnnFindConvolutionBackwardFilterAlgorithm(h, big, small, conv, filt, 8, &found, perf));
    ok = found > 0 && perf[0].status == CUDNN_STATUS_SUCCESS;
    const auto algo = perf[0].algo;
    ws_bytes = perf[0].memory;
    call = [&, algo](void* ws) {
      CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, big, pr.dy.p, small, pr.x.p, conv, algo,
                                                 ws, ws_bytes, &zero, filt, pr.dw.p));
    };
  }
  if (ok) {
    DevBuf ws(ws_bytes / sizeof(float) + 1);
    time_loop(state, s, [&] { call(ws.p); });
  } else {
    state.SkipWithError("cuDNN found no working algorithm");
  }
  cudnnDestroyConvolutionDescriptor(conv);
  cudnnDestroyFilterDescriptor(filt);
  cudnnDestroyTensorDescriptor(small);
  cudnnDestroyTensorDescriptor(big);
  cudnnDestroy(h);
}

// A CUDA or cuDNN failure marks the benchmark as errored instead of aborting the whole run.
void bench_variant(benchmark::State& state, ConvTranspose2dVariant v, ConvTranspose2dShape s,
                   int pass) {
  try {
    bench_variant_body(state, v, s, pass);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}
void bench_cudnn(benchmark::State& state, bool tf32, ConvTranspose2dShape s, int pass) {
  try {
    bench_cudnn_body(state, tf32, s, pass);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  struct Layer {
    int hw, c, k;
  };
  const Layer layers[] = {{16, 512, 256}, {32, 256, 128}, {64, 128, 64}, {128, 64, 32}};
  const char* pass_names[3] = {"fwd", "bwd_data", "bwd_weight"};
  for (int batch : {10, 32}) {
    for (const Layer& l : layers) {
      ConvTranspose2dShape s;
      s.N = batch, s.H = s.W = l.hw, s.C = l.c, s.K = l.k;  // R = S = stride = 2 by default
      const std::string tag = "N" + std::to_string(batch) + "_H" + std::to_string(l.hw) + "_W" +
                              std::to_string(l.hw) + "_C" + std::to_string(l.c) + "_K" +
                              std::to_string(l.k) + "_R2_S2";
      for (int pass = 0; pass < 3; ++pass) {
        for (const VariantInfo& row : kConvTranspose2dVariants) {
          const auto v = static_cast<ConvTranspose2dVariant>(row.id);
          const std::string name = std::string("conv_transpose2d/") + pass_names[pass] + "/" +
                                   kConvTranspose2dVariants.name(v) + "/" + tag;
          benchmark::RegisterBenchmark(name.c_str(), bench_variant, v, s, pass)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond)
              ->MinTime(0.1);
        }
        for (bool tf32 : {false, true}) {
          const std::string name = std::string("conv_transpose2d/") + pass_names[pass] + "/" +
                                   (tf32 ? "cudnn_tf32/" : "cudnn_fp32/") + tag;
          benchmark::RegisterBenchmark(name.c_str(), bench_cudnn, tf32, s, pass)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond)
              ->MinTime(0.1);
        }
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
