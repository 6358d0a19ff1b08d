// sgd CUDA: fused multi-tensor SGD with momentum. One launch updates up to 64 tensors; the slot
// table travels by value in the kernel parameters and block b finds its (slot, chunk) pair by
// binary search (kernels/common/param_slots.cuh). Each block updates one chunk of 2048 elements.
//
// Bytes: 20 per element (read p, g, buf; write p, buf). Elementwise, hence deterministic.
// v1 (only variant): scalar coalesced loads, 256 threads x 8 elements per block.
#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"
#include "kernels/common/param_slots.cuh"
#include "kernels/sgd/sgd.h"
#include "kernels/sgd/sgd_check.h"

namespace unet::kernels {
namespace {

using detail::param_slots::find_slot;
using detail::param_slots::kChunk;
using detail::param_slots::kPerThread;
using detail::param_slots::kThreads;
using detail::param_slots::SlotTable;

__global__ void sgd_multi_kernel(const SlotTable t, float lr, float momentum, float weight_decay,
                                 bool first_step, bool use_buf) {
  const int s = find_slot(t, blockIdx.x);
  const int64_t n = t.n[s];
  const int64_t base = (int64_t(blockIdx.x) - t.first_block[s]) * kChunk;
  float* __restrict__ param = t.param[s];
  const float* __restrict__ grad = t.grad[s];
  float* __restrict__ buf = t.m[s];
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int64_t i = base + j * kThreads + threadIdx.x;
    if (i < n) {
      float p = param[i];
      detail::sgd_element(lr, momentum, weight_decay, first_step, p, grad[i],
                          use_buf ? &buf[i] : nullptr);
      param[i] = p;
    }
  }
}

}  // namespace

void sgd_step_cuda(const SgdHyper& h, const ParamSlot* slots, int count, Stream stream) {
  detail::sgd_check_args("sgd_step_cuda", h, slots, count);
  const bool use_buf = h.momentum != 0.0f;
  const bool first = h.step == 1;
  detail::param_slots::for_each_group("sgd_step_cuda", slots, count,
                                      [&](const SlotTable& t, unsigned blocks) {
                                        sgd_multi_kernel<<<blocks, kThreads, 0, stream>>>(
                                            t, h.lr, h.momentum, h.weight_decay, first, use_buf);
                                        UNET_CUDA_CHECK_LAUNCH("sgd_multi_kernel");
                                      });
}

}  // namespace unet::kernels
