// Shared by the optimiser suites (tests/kernels/adam_test.cpp, sgd_test.cpp): the hand-computed
// example's inputs, the case table of slot tables with awkward tensor sizes, and slot tables held
// on a backend (host vectors for the CPU, device memory for CUDA) with one interface.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common/param_slots.h"
#include "tests/testing/backend.h"
#include "tests/testing/testing.h"

namespace unet::testing {

// The hand example: p0 = {1, -2, 0.5} and the gradient of each of three steps (element 2 has g = 0
// at step 1). The expected values are worked out in adam_test.cpp and sgd_test.cpp.
inline const std::vector<float>& hand_p0() {
  static const std::vector<float> p0 = {1.0f, -2.0f, 0.5f};
  return p0;
}
inline const std::vector<std::vector<float>>& hand_grads() {
  static const std::vector<std::vector<float>> g = {
      {0.1f, -0.2f, 0.0f}, {0.3f, 0.1f, -0.4f}, {-0.1f, 0.0f, 0.2f}};
  return g;
}

// Host copies of a slot table's tensors.
struct HostSlots {
  std::vector<std::vector<float>> p, g, m, v;
  std::vector<kernels::ParamSlot> table() {
    std::vector<kernels::ParamSlot> t;
    for (size_t i = 0; i < p.size(); ++i) {
      t.push_back({p[i].data(), g[i].data(), m[i].data(), v[i].data(), int64_t(p[i].size())});
    }
    return t;
  }
};

// One slot table of the case table: `count` tensors whose sizes cycle through `sizes`, with the
// optimiser state zero (a fresh optimiser) or random (m in [-0.01, 0.01), v in [0, 0.001)).
struct SlotCase {
  std::string name;
  int count;
  std::vector<size_t> sizes;
  bool random_state;
};

// Empty tensors (null pointers allowed), 1 and 3 elements, one below / at / above the CUDA chunk
// of 2048 elements, above the CPU's OpenMP threshold (32K), a small and a large conv weight (864,
// 294912 = 3x3x128x256); 70 slots need two CUDA launches (64 slots each).
inline std::vector<SlotCase> slot_cases() {
  return {{"fresh_9", 9, {0, 1, 3, 2047, 2049, 100003, 32, 1, 70001}, false},
          {"random_70", 70, {0, 1, 3, 2047, 2048, 2049, 100003, 32, 864, 294912}, true}};
}

inline HostSlots make_slots(const SlotCase& c, uint64_t seed) {
  HostSlots s;
  for (int i = 0; i < c.count; ++i) {
    const size_t n = c.sizes[size_t(i) % c.sizes.size()];
    const uint64_t k = uint64_t(i);
    s.p.push_back(random_floats(n, seed + k));
    s.g.push_back(random_floats(n, seed + 1000 + k, -0.1f, 0.1f));
    s.m.push_back(c.random_state ? random_floats(n, seed + 2000 + k, -0.01f, 0.01f)
                                 : std::vector<float>(n, 0.0f));
    s.v.push_back(c.random_state ? random_floats(n, seed + 3000 + k, 0.0f, 0.001f)
                                 : std::vector<float>(n, 0.0f));
  }
  return s;
}

// A slot table on a backend: copies of HostSlots in the backend's memory; `table` holds the
// backend's pointers (null for empty tensors on CUDA).
struct BackendSlots {
  std::vector<std::unique_ptr<BackendBuffer<float>>> p, g, m, v;
  std::vector<kernels::ParamSlot> table;
  BackendSlots(const KernelBackend& b, const HostSlots& h) {
    for (size_t i = 0; i < h.p.size(); ++i) {
      p.push_back(std::make_unique<BackendBuffer<float>>(b, h.p[i]));
      g.push_back(std::make_unique<BackendBuffer<float>>(b, h.g[i]));
      m.push_back(std::make_unique<BackendBuffer<float>>(b, h.m[i]));
      v.push_back(std::make_unique<BackendBuffer<float>>(b, h.v[i]));
      table.push_back({p[i]->get(), g[i]->get(), m[i]->get(), v[i]->get(), int64_t(h.p[i].size())});
    }
  }
  HostSlots to_host() const {
    HostSlots h;
    for (size_t i = 0; i < p.size(); ++i) {
      h.p.push_back(p[i]->to_host());
      h.g.push_back(g[i]->to_host());
      h.m.push_back(m[i]->to_host());
      h.v.push_back(v[i]->to_host());
    }
    return h;
  }
};

}  // namespace unet::testing
