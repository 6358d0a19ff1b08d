// CUDA benchmarks for the loss, batch-norm and optimiser kernels on the seed U-Net's real sizes:
// fused sigmoid+Dice and BCE forward+backward on the 32x256x256 logits, batch norm (train forward,
// eval forward, backward) on the 10x256x256x32 first-level activations, and Adam / SGD over the
// 7,759,521 parameters in the seed U-Net's 46 tensors (one fused launch). Device time from CUDA
// events (manual time); every kernel is memory bound, so the counter is GB/s of compulsory traffic
// (bytes named per case), next to a device-to-device cudaMemcpy of the same byte count as the
// bandwidth ceiling.
//
// Names: <op>/<pass>/cuda/<shape>, e.g. dice_loss/fwd_bwd/cuda/N32_H256_W256_C1,
// batch_norm2d/fwd_train/cuda/N10_H256_W256_C32, adam/step/cuda/seed_unet, memcpy/d2d/cuda/42MiB.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/cuda_event_timer.h"
#include "kernels/adam/adam.h"
#include "kernels/batch_norm2d/batch_norm2d.h"
#include "kernels/bce_with_logits/bce_with_logits.h"
#include "kernels/common/cuda_check.h"
#include "kernels/dice_loss/dice_loss.h"
#include "kernels/sgd/sgd.h"

namespace {

using namespace unet::kernels;

// A device buffer filled with a constant pattern (values only matter for not being NaN).
struct Buf {
  void* p = nullptr;
  explicit Buf(size_t bytes, float fill = 0.25f) {
    UNET_CUDA_CHECK(cudaMalloc(&p, bytes < 4 ? 4 : bytes));
    std::vector<float> h((bytes + 3) / 4, fill);
    UNET_CUDA_CHECK(cudaMemcpy(p, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
  }
  ~Buf() { cudaFree(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  float* f() const { return static_cast<float*>(p); }
};

// Times `fn` with CUDA events per iteration; reports GB/s for `bytes` moved per call.
template <typename F>
void time_device(benchmark::State& state, double bytes, F fn) {
  unet::bench::time_with_cuda_events(state, fn);
  state.counters["GB/s"] =
      benchmark::Counter(bytes * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
  state.counters["MB"] = bytes * 1e-6;
}

constexpr int64_t kLossN = 32LL * 256 * 256;
const BatchNormShape kBn{10LL * 256 * 256, 32};

void BM_DiceFwdBwd(benchmark::State& state) {
  const int64_t n = kLossN;
  Buf x(n * 4, 0.3f), t(n * 4, 1.0f), out(16), dloss(4, 1.0f), dx(n * 4),
      ws(dice_loss_cuda_workspace_bytes(n));
  time_device(state, 20.0 * double(n), [&] {  // fwd 8 B/elem, bwd 12 B/elem
    dice_loss_forward_cuda(n, x.f(), t.f(), 1.0f, out.f(), ws.p, nullptr);
    dice_loss_backward_cuda(n, x.f(), t.f(), 1.0f, out.f(), dloss.f(), dx.f(), nullptr);
  });
}
BENCHMARK(BM_DiceFwdBwd)
    ->Name("dice_loss/fwd_bwd/cuda/N32_H256_W256_C1")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

void BM_BceFwdBwd(benchmark::State& state) {
  const int64_t n = kLossN;
  Buf x(n * 4, 0.3f), t(n * 4, 1.0f), out(4), dloss(4, 1.0f), dx(n * 4),
      ws(bce_with_logits_cuda_workspace_bytes(n));
  time_device(state, 20.0 * double(n), [&] {
    bce_with_logits_forward_cuda(n, x.f(), t.f(), out.f(), ws.p, nullptr);
    bce_with_logits_backward_cuda(n, x.f(), t.f(), dloss.f(), dx.f(), nullptr);
  });
}
BENCHMARK(BM_BceFwdBwd)
    ->Name("bce_with_logits/fwd_bwd/cuda/N32_H256_W256_C1")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

struct BnBuffers {
  const size_t n = size_t(kBn.pixels) * kBn.C;
  Buf x{n * 4, 0.7f}, dy{n * 4, 0.1f}, y{n * 4}, dx{n * 4}, gamma{128, 1.0f}, beta{128, 0.0f},
      rm{128, 0.0f}, rv{128, 1.0f}, sm{128}, si{128, 1.0f}, dg{128}, db{128},
      ws{batch_norm2d_cuda_workspace_bytes(kBn)};
};

void BM_BatchNormForwardTrain(benchmark::State& state) {
  BnBuffers b;
  time_device(state, 12.0 * double(b.n), [&] {  // x read twice, y written
    batch_norm2d_forward_train_cuda(kBn, b.x.f(), b.gamma.f(), b.beta.f(), 1e-5f, 0.1f, b.rm.f(),
                                    b.rv.f(), b.sm.f(), b.si.f(), b.y.f(), b.ws.p, nullptr);
  });
}
BENCHMARK(BM_BatchNormForwardTrain)
    ->Name("batch_norm2d/fwd_train/cuda/N10_H256_W256_C32")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

void BM_BatchNormForwardEval(benchmark::State& state) {
  BnBuffers b;
  time_device(state, 8.0 * double(b.n), [&] {
    batch_norm2d_forward_eval_cuda(kBn, b.x.f(), b.gamma.f(), b.beta.f(), b.rm.f(), b.rv.f(), 1e-5f,
                                   b.y.f(), nullptr);
  });
}
BENCHMARK(BM_BatchNormForwardEval)
    ->Name("batch_norm2d/fwd_eval/cuda/N10_H256_W256_C32")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

void BM_BatchNormBackward(benchmark::State& state) {
  BnBuffers b;
  time_device(state, 20.0 * double(b.n), [&] {  // x, dy read twice, dx written
    batch_norm2d_backward_cuda(kBn, b.x.f(), b.dy.f(), b.gamma.f(), b.sm.f(), b.si.f(), b.dx.f(),
                               b.dg.f(), b.db.f(), b.ws.p, nullptr);
  });
}
BENCHMARK(BM_BatchNormBackward)
    ->Name("batch_norm2d/bwd/cuda/N10_H256_W256_C32")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// The seed U-Net's 46 parameter tensors (encoder, decoder, head; weight then bias).
const int64_t kUnetSizes[] = {288,    32,  9216,    32,  18432,  64,  36864,   64,  73728,   128,
                              147456, 128, 294912,  256, 589824, 256, 1179648, 512, 2359296, 512,
                              524288, 256, 1179648, 256, 589824, 256, 131072,  128, 294912,  128,
                              147456, 128, 32768,   64,  73728,  64,  36864,   64,  8192,    32,
                              18432,  32,  9216,    32,  32,     1};

struct OptimBuffers {
  std::vector<std::unique_ptr<Buf>> bufs;
  std::vector<ParamSlot> slots;
  int64_t total = 0;
  OptimBuffers() {
    for (int64_t n : kUnetSizes) {
      Buf* p = new Buf(size_t(n) * 4, 0.1f);
      Buf* g = new Buf(size_t(n) * 4, 0.01f);
      Buf* m = new Buf(size_t(n) * 4, 0.0f);
      Buf* v = new Buf(size_t(n) * 4, 0.0f);
      for (Buf* b : {p, g, m, v}) bufs.emplace_back(b);
      slots.push_back({p->f(), g->f(), m->f(), v->f(), n});
      total += n;
    }
  }
};

void BM_AdamUnet(benchmark::State& state) {
  OptimBuffers o;
  AdamHyper h;
  time_device(state, 28.0 * double(o.total),
              [&] { adam_step_cuda(h, o.slots.data(), int(o.slots.size()), nullptr); });
  state.counters["params"] = double(o.total);
}
BENCHMARK(BM_AdamUnet)
    ->Name("adam/step/cuda/seed_unet")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

void BM_SgdUnet(benchmark::State& state) {
  OptimBuffers o;
  SgdHyper h;
  h.step = 2;
  time_device(state, 20.0 * double(o.total),
              [&] { sgd_step_cuda(h, o.slots.data(), int(o.slots.size()), nullptr); });
}
BENCHMARK(BM_SgdUnet)
    ->Name("sgd/step/cuda/seed_unet")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// Bandwidth ceiling: a device-to-device copy moving `mib` MiB (half read, half written).
void BM_CopyCeiling(benchmark::State& state, int mib) {
  const size_t bytes = size_t(mib) << 20;
  Buf a(bytes / 2), b(bytes / 2);
  time_device(state, double(bytes), [&] {
    UNET_CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, bytes / 2, cudaMemcpyDeviceToDevice, nullptr));
  });
}
// One row per byte count above, in MB, copied as MiB (within 5 %): 42 (Dice, BCE), 217 (Adam),
// 252 (batch norm forward), 419 (batch norm backward).
const bool kCopyCeilingRegistered = [] {
  for (int mib : {42, 217, 252, 419}) {
    benchmark::RegisterBenchmark(("memcpy/d2d/cuda/" + std::to_string(mib) + "MiB").c_str(),
                                 BM_CopyCeiling, mib)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
