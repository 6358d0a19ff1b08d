// DataLoader throughput in slices/s on 256x256 slices, batch 10 (the seed recipe), with and without
// augmentation, prefetching on. The loader must feed training >= 10x faster than it consumes
// (docs/PREPARE.md has the numbers and the comparison).
//
// Names: loader/<next_batch|next_batch_augmented>/threads<t>/N10_H256_W256 (t OpenMP threads per
// batch) and loader/augment_slice/cpu/H256_W256.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <utility>

#include "io/loader.h"

namespace {

constexpr int kSlices = 200, kH = 256, kW = 256;

struct Data {
  std::vector<float> images;
  std::vector<uint8_t> masks;
  Data() {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    images.resize(size_t{kSlices} * kH * kW);
    for (float& v : images) v = u(rng);
    masks.resize(images.size());
    for (size_t i = 0; i < images.size(); ++i) masks[i] = images[i] > 0.5f;
  }
};
const Data& data() {
  static const Data d;
  return d;
}

// Batches of 10 from the loader, with or without augmentation, `threads` OpenMP threads per batch.
void BM_Loader(benchmark::State& state, bool augment, int threads) {
  const Data& d = data();
  unet::io::LoaderOptions o;
  o.batch_size = 10;
  o.augment.enabled = augment;
  o.augment.flip_lr_prob = 0.5;
  o.num_threads = threads;
  unet::io::DataLoader loader(d.images.data(), d.masks.data(), kSlices, kH, kW, {}, o);
  int64_t slices = 0;
  unet::io::Batch b;
  for (auto _ : state) {
    if (!loader.next(&b)) loader.next(&b);  // roll over into the next epoch
    benchmark::DoNotOptimize(b.images[0]);
    slices += b.n;
  }
  state.counters["slices/s"] =
      benchmark::Counter(static_cast<double>(slices), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(slices * int64_t{kH} * kW * 8);
}

// One 256x256 slice through augment_slice_to (bilinear image + nearest mask): the per-slice cost
// a producer thread pays, in CPU time (less sensitive to a shared, loaded machine than real time).
void BM_AugmentSlice(benchmark::State& state) {
  const Data& d = data();
  std::vector<float> img(kH * kW), msk(kH * kW);
  unet::io::AugmentOptions o;
  o.enabled = true;
  uint64_t seed = 0;
  for (auto _ : state) {
    unet::io::augment_slice_to(d.images.data(), d.masks.data(), img.data(), msk.data(), kH, kW, o,
                               seed++);
    benchmark::DoNotOptimize(img[0]);
  }
  state.counters["slices/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void register_all() {
  for (auto [augment, threads] :
       {std::pair<bool, int>{false, 1}, {true, 1}, {true, 2}, {true, 8}}) {
    const std::string name = std::string("loader/") +
                             (augment ? "next_batch_augmented" : "next_batch") + "/threads" +
                             std::to_string(threads) + "/N10_H256_W256";
    benchmark::RegisterBenchmark(name.c_str(), BM_Loader, augment, threads)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("loader/augment_slice/cpu/H256_W256", BM_AugmentSlice)
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
