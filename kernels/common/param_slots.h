// ParamSlot: one parameter tensor with its gradient and optimiser state, the unit the multi-tensor
// optimiser kernels (kernels/adam, kernels/sgd) update; a step takes a table of slots. Also the
// argument checks both optimisers share (inline, internal: unet::kernels::detail) and the
// qualifier for per-element update functions that the CPU loops and the CUDA kernels both call.
// The device-side slot-table launch helpers are in param_slots.cuh.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace unet::kernels {

// One parameter tensor: n floats each of param, grad and the state. SGD uses m as its momentum
// buffer and ignores v. An empty slot (n == 0) may have null pointers.
struct ParamSlot {
  float* param;
  const float* grad;
  float* m;
  float* v;
  int64_t n;
};

// CPU fast paths: a tensor with fewer elements than this is updated on one thread; below it the
// OpenMP fork costs more than the update itself (the same for Adam and SGD).
constexpr int64_t kParamSlotsParallelMin = 1 << 15;

}  // namespace unet::kernels

// A per-element update (adam_element, sgd_element): one definition for the CPU loops and the CUDA
// kernels, so every backend evaluates the same expression.
#if defined(__CUDACC__)
#define UNET_HOST_DEVICE_INLINE __host__ __device__ __forceinline__
#else
#define UNET_HOST_DEVICE_INLINE inline
#endif

namespace unet::kernels::detail {

inline void param_slots_fail(const char* op, const std::string& what) {
  throw std::invalid_argument(std::string(op) + ": " + what);
}

inline std::string param_slots_num(double v) { return std::to_string(v); }

// The hyperparameters every optimiser has, and the slot table itself.
inline void param_slots_check_common(const char* op, float lr, float weight_decay, int64_t step,
                                     int count, const ParamSlot* slots) {
  if (!(lr >= 0.0f) || !std::isfinite(lr)) {
    param_slots_fail(op, "lr must be finite and >= 0, got " + param_slots_num(lr));
  }
  if (!(weight_decay >= 0.0f) || !std::isfinite(weight_decay)) {
    param_slots_fail(op,
                     "weight_decay must be finite and >= 0, got " + param_slots_num(weight_decay));
  }
  if (step < 1) {
    param_slots_fail(op, "step must be >= 1 (it counts from 1), got " + std::to_string(step) +
                             " (increment it before the first update)");
  }
  if (count < 0) param_slots_fail(op, "count must be >= 0, got " + std::to_string(count));
  if (count > 0 && slots == nullptr) {
    param_slots_fail(op, "slots must not be null when count is " + std::to_string(count));
  }
}

// Every non-empty slot needs param and grad, plus m (and v) where the optimiser uses them.
inline void param_slots_check_slots(const char* op, const ParamSlot* slots, int count, bool need_m,
                                    bool need_v) {
  for (int i = 0; i < count; ++i) {
    const ParamSlot& s = slots[i];
    if (s.n < 0) {
      param_slots_fail(op, "slot " + std::to_string(i) + " has n = " + std::to_string(s.n));
    }
    if (s.n == 0) continue;
    if (!s.param || !s.grad || (need_m && !s.m) || (need_v && !s.v)) {
      param_slots_fail(op, "slot " + std::to_string(i) + " (n = " + std::to_string(s.n) +
                               ") has a null param/grad" + (need_m ? "/m" : "") +
                               (need_v ? "/v" : "") + " pointer");
    }
  }
}

}  // namespace unet::kernels::detail
