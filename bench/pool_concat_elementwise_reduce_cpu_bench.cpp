// CPU benchmark for the memory-bound U-Net ops: max_pool2d, concat, the elementwise ops and the
// reductions, fast path (OpenMP) vs the naive reference, at the seed U-Net's shapes (256x256
// input, base width 32, batch 10). GB/s = (bytes read + bytes written) / wall time, with the byte
// counts from each kernel's header. Reference rows run a single iteration (they are slow and only
// there as the comparator).
//
// Names: <op>/<pass>/<cpu|ref>/<shape>, shape = N<n>_H<h>_W<w>_C<c> of the input (concat:
// C<c1>_C<c2> of its two inputs), e.g. max_pool2d/fwd/cpu/N10_H256_W256_C32,
// elementwise/relu_fwd/ref/..., reduce/channel_sum/cpu/...; --benchmark_filter=/cpu/ runs the fast
// path only.
#include <benchmark/benchmark.h>

#include <functional>
#include <string>
#include <vector>

#include "kernels/concat/concat.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/max_pool2d/max_pool2d.h"
#include "kernels/reduce/reduce.h"

namespace {

using namespace unet::kernels;

void set_bandwidth(benchmark::State& state, double bytes) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MB"] = bytes * 1e-6;
}

// Registers one row; `setup` allocates (outside the timed loop) and returns the timed call.
void add(const std::string& name, bool ref, double bytes,
         std::function<std::function<void()>()> setup) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [bytes, setup](benchmark::State& st) {
    const std::function<void()> call = setup();
    for (auto _ : st) call();
    set_bandwidth(st, bytes);
  });
  b->Unit(benchmark::kMillisecond)->UseRealTime();
  if (ref) b->Iterations(1);
}

// The shape segment of a name: N10_H256_W256_C32.
std::string nhwc(int n, int h, int w, int c) {
  return "N" + std::to_string(n) + "_H" + std::to_string(h) + "_W" + std::to_string(w) + "_C" +
         std::to_string(c);
}

// Shared buffers keep allocation out of the timed loop; 0.5 so sigmoid etc. do real work.
std::vector<float>& buffer(int slot, int64_t n) {
  static std::vector<float> slots[4];
  if (int64_t(slots[slot].size()) < n) slots[slot].assign(n, 0.5f);
  return slots[slot];
}

void register_all() {
  const int N = 10;
  for (const auto& l : {std::pair<int, int>{256, 32}, {128, 64}, {64, 128}, {32, 256}}) {
    MaxPool2dShape s;
    s.N = N, s.H = s.W = l.first, s.C = l.second;
    const std::string tag = "/" + nhwc(N, s.H, s.W, s.C);
    const double fwd_bytes = 4.0 * (s.x_size() + s.y_size());
    const double bwd_bytes = 4.0 * (2 * s.x_size() + s.y_size());
    for (bool ref : {false, true}) {
      const std::string path = ref ? "/ref" : "/cpu";
      add("max_pool2d/fwd" + path + tag, ref, fwd_bytes, [s, ref] {
        float* x = buffer(0, s.x_size()).data();
        float* y = buffer(1, s.y_size()).data();
        return std::function<void()>(
            [=] { ref ? max_pool2d_forward_ref(s, x, y) : max_pool2d_forward_cpu(s, x, y); });
      });
      add("max_pool2d/bwd" + path + tag, ref, bwd_bytes, [s, ref] {
        float* x = buffer(0, s.x_size()).data();
        float* dy = buffer(1, s.y_size()).data();
        float* dx = buffer(2, s.x_size()).data();
        return std::function<void()>([=] {
          ref ? max_pool2d_backward_ref(s, x, dy, dx) : max_pool2d_backward_cpu(s, x, dy, dx);
        });
      });
    }
  }
  for (const auto& l : {std::pair<int, int>{256, 32}, {128, 64}, {64, 128}, {32, 256}}) {
    ConcatShape s;
    s.pixels = int64_t(N) * l.first * l.first, s.C1 = s.C2 = l.second;
    const std::string tag =
        "/" + nhwc(N, l.first, l.first, l.second) + "_C" + std::to_string(l.second);
    const double bytes = 8.0 * s.pixels * (s.C1 + s.C2);
    for (bool ref : {false, true}) {
      const std::string path = ref ? "/ref" : "/cpu";
      add("concat/fwd" + path + tag, ref, bytes, [s, ref] {
        float* a = buffer(0, s.pixels * s.C1).data();
        float* b = buffer(1, s.pixels * s.C2).data();
        float* y = buffer(2, s.pixels * (s.C1 + s.C2)).data();
        return std::function<void()>(
            [=] { ref ? concat_forward_ref(s, a, b, y) : concat_forward_cpu(s, a, b, y); });
      });
      add("concat/bwd" + path + tag, ref, bytes, [s, ref] {
        float* dy = buffer(2, s.pixels * (s.C1 + s.C2)).data();
        float* da = buffer(0, s.pixels * s.C1).data();
        float* db = buffer(1, s.pixels * s.C2).data();
        return std::function<void()>(
            [=] { ref ? concat_backward_ref(s, dy, da, db) : concat_backward_cpu(s, dy, da, db); });
      });
    }
  }
  const int64_t pixels = int64_t(N) * 256 * 256;
  const int C = 32;
  const int64_t n = pixels * C;
  const std::string tag = "/" + nhwc(N, 256, 256, C);
  for (bool ref : {false, true}) {
    const std::string path = ref ? "/ref" : "/cpu";
    add("elementwise/relu_fwd" + path + tag, ref, 8.0 * n, [n, ref] {
      float* x = buffer(0, n).data();
      float* y = buffer(1, n).data();
      return std::function<void()>(
          [=] { ref ? relu_forward_ref(n, x, y) : relu_forward_cpu(n, x, y); });
    });
    add("elementwise/relu_bwd" + path + tag, ref, 12.0 * n, [n, ref] {
      float* y = buffer(0, n).data();
      float* dy = buffer(1, n).data();
      float* dx = buffer(2, n).data();
      return std::function<void()>(
          [=] { ref ? relu_backward_ref(n, y, dy, dx) : relu_backward_cpu(n, y, dy, dx); });
    });
    add("elementwise/sigmoid_fwd" + path + tag, ref, 8.0 * n, [n, ref] {
      float* x = buffer(0, n).data();
      float* y = buffer(1, n).data();
      return std::function<void()>(
          [=] { ref ? sigmoid_forward_ref(n, x, y) : sigmoid_forward_cpu(n, x, y); });
    });
    add("elementwise/add" + path + tag, ref, 12.0 * n, [n, ref] {
      float* a = buffer(0, n).data();
      float* b = buffer(1, n).data();
      float* y = buffer(2, n).data();
      return std::function<void()>([=] { ref ? add_ref(n, a, b, y) : add_cpu(n, a, b, y); });
    });
    add("elementwise/accumulate" + path + tag, ref, 12.0 * n, [n, ref] {
      float* x = buffer(0, n).data();
      float* y = buffer(1, n).data();
      return std::function<void()>(
          [=] { ref ? accumulate_ref(n, x, y) : accumulate_cpu(n, x, y); });
    });
    add("elementwise/bias_add" + path + tag, ref, 8.0 * n, [pixels, C, ref] {
      float* bias = buffer(3, C).data();
      float* y = buffer(1, pixels * C).data();
      return std::function<void()>(
          [=] { ref ? bias_add_ref(pixels, C, bias, y) : bias_add_cpu(pixels, C, bias, y); });
    });
    add("elementwise/fill" + path + tag, ref, 4.0 * n, [n, ref] {
      float* y = buffer(1, n).data();
      return std::function<void()>([=] { ref ? fill_ref(n, 0.5f, y) : fill_cpu(n, 0.5f, y); });
    });
    add("reduce/sum" + path + "/" + nhwc(N, 256, 256, 1), ref, 4.0 * pixels, [pixels, ref] {
      float* x = buffer(0, pixels).data();
      return std::function<void()>(
          [=] { benchmark::DoNotOptimize(ref ? sum_ref(pixels, x) : sum_cpu(pixels, x)); });
    });
    add("reduce/channel_sum" + path + tag, ref, 4.0 * n, [pixels, C, ref] {
      float* x = buffer(0, pixels * C).data();
      float* out = buffer(3, C).data();
      return std::function<void()>(
          [=] { ref ? channel_sum_ref(pixels, C, x, out) : channel_sum_cpu(pixels, C, x, out); });
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
