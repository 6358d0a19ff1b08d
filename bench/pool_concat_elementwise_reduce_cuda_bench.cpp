// CUDA benchmark for the memory-bound U-Net ops: max_pool2d and concat (every variant), the
// elementwise ops and the deterministic reductions, at the seed U-Net's shapes (256x256 input,
// base width 32) for batch 10 and 32. Device time from CUDA events around each call (manual time);
// GB/s = (bytes read + bytes written) / t, with the byte counts from each kernel's header.
// A device-to-device cudaMemcpy of the same output size is the bandwidth yardstick ("memcpy" rows:
// reads + writes counted the same way), so each row can be read as a fraction of it.
//
// Names: <op>/<pass>/<variant|cuda>/<shape>, shape = N<n>_H<h>_W<w>_C<c> of the input (concat:
// C<c1>_C<c2> of its two inputs), e.g. max_pool2d/fwd/v2_vectorized/N10_H256_W256_C32,
// elementwise/relu_fwd/cuda/..., reduce/sum/cuda/...; memcpy/d2d/cuda/<shape of the copied output>.
// Buffers are zero-filled (timing does not depend on the values; pooling ties then all resolve to
// the first element, the same work as with distinct values).
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench/cuda_event_timer.h"
#include "kernels/common/cuda_check.h"
#include "kernels/concat/concat.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/max_pool2d/max_pool2d.h"
#include "kernels/reduce/reduce.h"

namespace {

using namespace unet::kernels;

// Device buffers owned for one benchmark's lifetime, zero-filled.
class Buffers {
 public:
  void* add(size_t bytes) {
    void* p = nullptr;
    UNET_CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
    UNET_CUDA_CHECK(cudaMemset(p, 0, bytes ? bytes : 1));
    ptrs_.push_back(p);
    return p;
  }
  float* floats(int64_t n) { return static_cast<float*>(add(size_t(n) * sizeof(float))); }
  ~Buffers() {
    for (void* p : ptrs_) cudaFree(p);
  }

 private:
  std::vector<void*> ptrs_;
};

// Times `call` with CUDA events on the legacy stream; reports GB/s from `bytes` per call.
void run_timed(benchmark::State& state, double bytes, const std::function<void()>& call) {
  const double total_s = unet::bench::time_with_cuda_events(state, call);
  state.counters["GB/s"] = total_s > 0 ? bytes * double(state.iterations()) / total_s * 1e-9 : 0;
  state.counters["MB"] = bytes * 1e-6;
}

void add(const std::string& name, std::function<void(benchmark::State&)> fn) {
  benchmark::RegisterBenchmark(name.c_str(), fn)->UseManualTime()->Unit(benchmark::kMicrosecond);
}

// The shape segment of a name: N10_H256_W256_C32.
std::string nhwc(int n, int h, int w, int c) {
  return "N" + std::to_string(n) + "_H" + std::to_string(h) + "_W" + std::to_string(w) + "_C" +
         std::to_string(c);
}

// `shape` names the copied tensor (for concat: its output).
void memcpy_row(const std::string& shape, int64_t floats_out) {
  add("memcpy/d2d/cuda/" + shape, [floats_out](benchmark::State& st) {
    Buffers b;
    float* src = b.floats(floats_out);
    float* dst = b.floats(floats_out);
    run_timed(st, 8.0 * floats_out, [&] {
      UNET_CUDA_CHECK(
          cudaMemcpyAsync(dst, src, floats_out * sizeof(float), cudaMemcpyDeviceToDevice, nullptr));
    });
  });
}

void register_all() {
  // Encoder pooling levels: (H = W, C) of the pooled tensor.
  const int kPool[][2] = {{256, 32}, {128, 64}, {64, 128}, {32, 256}};
  // Decoder concat levels: (H = W, C1 = C2): transposed-conv output + skip.
  const int kConcat[][2] = {{256, 32}, {128, 64}, {64, 128}, {32, 256}};
  for (int N : {10, 32}) {
    for (auto& l : kPool) {
      MaxPool2dShape s;
      s.N = N, s.H = s.W = l[0], s.C = l[1];
      const std::string tag = "/" + nhwc(N, l[0], l[0], l[1]);
      for (const VariantInfo& row : kMaxPool2dVariants) {
        const auto v = static_cast<MaxPool2dVariant>(row.id);
        const std::string vn = kMaxPool2dVariants.name(v);
        add("max_pool2d/fwd/" + vn + tag, [s, v](benchmark::State& st) {
          Buffers b;
          float* x = b.floats(s.x_size());
          float* y = b.floats(s.y_size());
          run_timed(st, 4.0 * (s.x_size() + s.y_size()),
                    [&] { max_pool2d_forward_cuda(v, s, x, y, nullptr); });
        });
        add("max_pool2d/bwd/" + vn + tag, [s, v](benchmark::State& st) {
          Buffers b;
          float* x = b.floats(s.x_size());
          float* dy = b.floats(s.y_size());
          float* dx = b.floats(s.x_size());
          run_timed(st, 4.0 * (2 * s.x_size() + s.y_size()),
                    [&] { max_pool2d_backward_cuda(v, s, x, dy, dx, nullptr); });
        });
      }
    }
    for (auto& l : kConcat) {
      ConcatShape s;
      s.pixels = int64_t(N) * l[0] * l[0], s.C1 = s.C2 = l[1];
      const std::string tag = "/" + nhwc(N, l[0], l[0], l[1]) + "_C" + std::to_string(l[1]);
      for (const VariantInfo& row : kConcatVariants) {
        const auto v = static_cast<ConcatVariant>(row.id);
        const std::string vn = kConcatVariants.name(v);
        add("concat/fwd/" + vn + tag, [s, v](benchmark::State& st) {
          Buffers b;
          float* a = b.floats(s.pixels * s.C1);
          float* c = b.floats(s.pixels * s.C2);
          float* y = b.floats(s.pixels * (s.C1 + s.C2));
          run_timed(st, 8.0 * s.pixels * (s.C1 + s.C2),
                    [&] { concat_forward_cuda(v, s, a, c, y, nullptr); });
        });
        add("concat/bwd/" + vn + tag, [s, v](benchmark::State& st) {
          Buffers b;
          float* dy = b.floats(s.pixels * (s.C1 + s.C2));
          float* da = b.floats(s.pixels * s.C1);
          float* db = b.floats(s.pixels * s.C2);
          run_timed(st, 8.0 * s.pixels * (s.C1 + s.C2),
                    [&] { concat_backward_cuda(v, s, dy, da, db, nullptr); });
        });
      }
      memcpy_row(nhwc(N, l[0], l[0], l[1] + l[1]), s.pixels * (s.C1 + s.C2));
    }
    // Elementwise and reductions on the largest activation: N x 256 x 256 x 32.
    const int64_t pixels = int64_t(N) * 256 * 256;
    const int C = 32;
    const int64_t n = pixels * C;
    const std::string shape = nhwc(N, 256, 256, C);
    const std::string tag = "/" + shape;
    using Unary = void (*)(int64_t, const float*, float*, Stream);
    using Binary = void (*)(int64_t, const float*, const float*, float*, Stream);
    for (auto [name, fn] : {std::pair<const char*, Unary>{"relu_fwd", relu_forward_cuda},
                            {"sigmoid_fwd", sigmoid_forward_cuda}}) {
      add("elementwise/" + std::string(name) + "/cuda" + tag, [n, fn = fn](benchmark::State& st) {
        Buffers b;
        float* x = b.floats(n);
        float* y = b.floats(n);
        run_timed(st, 8.0 * n, [&] { fn(n, x, y, nullptr); });
      });
    }
    for (auto [name, fn] : {std::pair<const char*, Binary>{"relu_bwd", relu_backward_cuda},
                            {"sigmoid_bwd", sigmoid_backward_cuda},
                            {"add", add_cuda},
                            {"mul", mul_cuda}}) {
      add("elementwise/" + std::string(name) + "/cuda" + tag, [n, fn = fn](benchmark::State& st) {
        Buffers b;
        float* a = b.floats(n);
        float* c = b.floats(n);
        float* y = b.floats(n);
        run_timed(st, 12.0 * n, [&] { fn(n, a, c, y, nullptr); });
      });
    }
    add("elementwise/leaky_relu_fwd/cuda" + tag, [n](benchmark::State& st) {
      Buffers b;
      float* x = b.floats(n);
      float* y = b.floats(n);
      run_timed(st, 8.0 * n, [&] { leaky_relu_forward_cuda(n, 0.01f, x, y, nullptr); });
    });
    add("elementwise/scale_inplace/cuda" + tag, [n](benchmark::State& st) {
      Buffers b;
      float* x = b.floats(n);
      run_timed(st, 8.0 * n, [&] { scale_cuda(n, 0.5f, x, x, nullptr); });
    });
    add("elementwise/accumulate/cuda" + tag, [n](benchmark::State& st) {
      Buffers b;
      float* x = b.floats(n);
      float* y = b.floats(n);
      run_timed(st, 12.0 * n, [&] { accumulate_cuda(n, x, y, nullptr); });
    });
    add("elementwise/bias_add/cuda" + tag, [pixels, C](benchmark::State& st) {
      Buffers b;
      float* bias = b.floats(C);
      float* y = b.floats(pixels * C);
      run_timed(st, 8.0 * pixels * C, [&] { bias_add_cuda(pixels, C, bias, y, nullptr); });
    });
    add("elementwise/fill/cuda" + tag, [n](benchmark::State& st) {
      Buffers b;
      float* y = b.floats(n);
      run_timed(st, 4.0 * n, [&] { fill_cuda(n, 1.0f, y, nullptr); });
    });
    add("reduce/sum/cuda/" + nhwc(N, 256, 256, 1), [pixels](benchmark::State& st) {
      Buffers b;
      float* x = b.floats(pixels);
      float* out = b.floats(1);
      void* ws = b.add(sum_cuda_workspace_bytes(pixels));
      run_timed(st, 4.0 * pixels, [&] { sum_cuda(pixels, x, out, ws, nullptr); });
    });
    add("reduce/channel_sum/cuda" + tag, [pixels, C](benchmark::State& st) {
      Buffers b;
      float* x = b.floats(pixels * C);
      float* out = b.floats(C);
      void* ws = b.add(channel_sum_cuda_workspace_bytes(pixels, C));
      run_timed(st, 4.0 * pixels * C, [&] { channel_sum_cuda(pixels, C, x, out, ws, nullptr); });
    });
    memcpy_row(shape, n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr,
                 "pool_concat_elementwise_reduce_cuda_bench: no CUDA device present; nothing to "
                 "benchmark\n");
    return 0;
  }
  try {
    register_all();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pool_concat_elementwise_reduce_cuda_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
