// Device side of the multi-tensor optimiser launches (kernels/adam, kernels/sgd): one launch
// updates up to kSlotsPerLaunch tensors. The slot table (pointers, sizes, prefix sums of chunk
// counts) is passed BY VALUE as a kernel parameter (3.1 KB, under the 4 KB parameter limit), so no
// device-side table and no host-to-device copy is needed; block b finds its (slot, chunk) pair by
// binary search in the prefix sums and updates one chunk of kChunk elements (kThreads threads x
// kPerThread elements, coalesced). Include only from .cu files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/common/param_slots.h"

namespace unet::kernels::detail::param_slots {

constexpr int kSlotsPerLaunch = 64;
constexpr int kThreads = 256;
constexpr int kPerThread = 8;
constexpr int64_t kChunk = int64_t(kThreads) * kPerThread;

struct SlotTable {
  float* param[kSlotsPerLaunch];
  const float* grad[kSlotsPerLaunch];
  float* m[kSlotsPerLaunch];
  float* v[kSlotsPerLaunch];
  int64_t n[kSlotsPerLaunch];
  int64_t first_block[kSlotsPerLaunch + 1];  // prefix sums of chunk counts
  int count;
};
static_assert(sizeof(SlotTable) + 64 <= 4096, "kernel parameters must stay under 4 KB");

// The slot whose block range holds `b` (largest s with first_block[s] <= b); empty slots have an
// empty range and are skipped by the search.
__device__ __forceinline__ int find_slot(const SlotTable& t, int64_t b) {
  int lo = 0, hi = t.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (t.first_block[mid] <= b) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// Calls launch(table, blocks) once per group of up to kSlotsPerLaunch slots; groups without work
// (only empty slots) are skipped. `op` names the caller in the grid-limit error.
template <typename Launch>
void for_each_group(const char* op, const ParamSlot* slots, int count, Launch launch) {
  for (int first = 0; first < count; first += kSlotsPerLaunch) {
    SlotTable t{};
    t.count = std::min(kSlotsPerLaunch, count - first);
    int64_t blocks = 0;
    for (int j = 0; j < t.count; ++j) {
      const ParamSlot& s = slots[first + j];
      t.param[j] = s.param;
      t.grad[j] = s.grad;
      t.m[j] = s.m;
      t.v[j] = s.v;
      t.n[j] = s.n;
      t.first_block[j] = blocks;
      blocks += (s.n + kChunk - 1) / kChunk;
    }
    t.first_block[t.count] = blocks;
    if (blocks == 0) continue;
    if (blocks > 0x7fffffff) {
      throw std::invalid_argument(std::string(op) + ": " + std::to_string(blocks) +
                                  " blocks exceed the grid limit; split the parameter list");
    }
    launch(t, unsigned(blocks));
  }
}

}  // namespace unet::kernels::detail::param_slots
