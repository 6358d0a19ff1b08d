// The timing loop every CUDA benchmark shares: one warm-up call (the first launch loads the module
// and fills caches), then each benchmark iteration timed with a pair of CUDA events around `fn` on
// the legacy stream and reported as manual time (register the benchmark with UseManualTime()).
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"

namespace unet::bench {

// Returns the summed device seconds of the timed iterations.
template <typename F>
double time_with_cuda_events(benchmark::State& state, F&& fn) {
  cudaEvent_t start, stop;
  UNET_CUDA_CHECK(cudaEventCreate(&start));
  UNET_CUDA_CHECK(cudaEventCreate(&stop));
  fn();
  UNET_CUDA_CHECK(cudaDeviceSynchronize());
  double total_s = 0;
  for (auto _ : state) {
    UNET_CUDA_CHECK(cudaEventRecord(start));
    fn();
    UNET_CUDA_CHECK(cudaEventRecord(stop));
    UNET_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    UNET_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(double(ms) * 1e-3);
    total_s += double(ms) * 1e-3;
  }
  UNET_CUDA_CHECK(cudaEventDestroy(start));
  UNET_CUDA_CHECK(cudaEventDestroy(stop));
  return total_s;
}

}  // namespace unet::bench
