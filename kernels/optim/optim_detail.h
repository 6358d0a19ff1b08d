// Shared by the optim backends (internal; not part of the contract): argument checks and the
// per-step constants, computed once on the host so every backend uses the same float values.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/optim/optim.h"

namespace unet::kernels::optim_detail {

inline void fail(const char* op, const std::string& what) {
  throw std::invalid_argument(std::string(op) + ": " + what);
}

inline std::string num(double v) { return std::to_string(v); }

inline void check_common(const char* op, float lr, float weight_decay, int64_t step, int count,
                         const ParamSlot* slots) {
  if (!(lr >= 0.0f) || !std::isfinite(lr)) fail(op, "lr must be finite and >= 0, got " + num(lr));
  if (!(weight_decay >= 0.0f) || !std::isfinite(weight_decay)) {
    fail(op, "weight_decay must be finite and >= 0, got " + num(weight_decay));
  }
  if (step < 1) {
    fail(op, "step must be >= 1 (it counts from 1), got " + std::to_string(step) +
                 " (increment it before the first update)");
  }
  if (count < 0) fail(op, "count must be >= 0, got " + std::to_string(count));
  if (count > 0 && slots == nullptr) {
    fail(op, "slots must not be null when count is " + std::to_string(count));
  }
}

// Every non-empty slot needs param and grad, plus m (and v) where the optimiser uses them.
inline void check_slots(const char* op, const ParamSlot* slots, int count, bool need_m,
                        bool need_v) {
  for (int i = 0; i < count; ++i) {
    const ParamSlot& s = slots[i];
    if (s.n < 0) fail(op, "slot " + std::to_string(i) + " has n = " + std::to_string(s.n));
    if (s.n == 0) continue;
    if (!s.param || !s.grad || (need_m && !s.m) || (need_v && !s.v)) {
      fail(op, "slot " + std::to_string(i) + " (n = " + std::to_string(s.n) +
                   ") has a null param/grad" + (need_m ? "/m" : "") + (need_v ? "/v" : "") +
                   " pointer");
    }
  }
}

// Float constants of one Adam step; bias corrections in double as PyTorch computes them.
struct AdamConsts {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, bias2_sqrt, eps, weight_decay;
};

inline AdamConsts adam_consts(const char* op, const AdamHyper& h, const ParamSlot* slots,
                              int count) {
  check_common(op, h.lr, h.weight_decay, h.step, count, slots);
  if (!(h.beta1 >= 0.0f && h.beta1 < 1.0f))
    fail(op, "beta1 must be in [0, 1), got " + num(h.beta1));
  if (!(h.beta2 >= 0.0f && h.beta2 < 1.0f))
    fail(op, "beta2 must be in [0, 1), got " + num(h.beta2));
  if (!(h.eps >= 0.0f) || !std::isfinite(h.eps)) {
    fail(op, "eps must be finite and >= 0, got " + num(h.eps));
  }
  check_slots(op, slots, count, true, true);
  const double bc1 = 1.0 - std::pow(double(h.beta1), double(h.step));
  const double bc2 = 1.0 - std::pow(double(h.beta2), double(h.step));
  return {h.beta1,
          h.beta2,
          float(1.0 - double(h.beta1)),
          float(1.0 - double(h.beta2)),
          float(double(h.lr) / bc1),
          float(std::sqrt(bc2)),
          h.eps,
          h.weight_decay};
}

inline void sgd_check(const char* op, const SgdHyper& h, const ParamSlot* slots, int count) {
  check_common(op, h.lr, h.weight_decay, h.step, count, slots);
  if (!(h.momentum >= 0.0f) || !std::isfinite(h.momentum)) {
    fail(op, "momentum must be finite and >= 0, got " + num(h.momentum));
  }
  check_slots(op, slots, count, h.momentum != 0.0f, false);
}

// One element of Adam, the expression every backend uses.
#if defined(__CUDACC__)
#define UNET_OPTIM_HD __host__ __device__ __forceinline__
#else
#define UNET_OPTIM_HD inline
#endif

UNET_OPTIM_HD void adam_element(const AdamConsts& k, float& p, float g, float& m, float& v) {
  const float gd = g + k.weight_decay * p;
  m = k.beta1 * m + k.one_minus_beta1 * gd;
  v = k.beta2 * v + k.one_minus_beta2 * gd * gd;
  p = p - k.step_size * m / (sqrtf(v) / k.bias2_sqrt + k.eps);
}

// One element of SGD with momentum (first_step: buf = g').
UNET_OPTIM_HD void sgd_element(float lr, float momentum, float weight_decay, bool first_step,
                               float& p, float g, float* buf) {
  float d = g + weight_decay * p;
  if (buf != nullptr) {
    d = first_step ? d : momentum * *buf + d;
    *buf = d;
  }
  p = p - lr * d;
}

}  // namespace unet::kernels::optim_detail
