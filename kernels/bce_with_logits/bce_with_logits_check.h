// Internal to the bce_with_logits backends (not part of the contract): the argument checks every
// backend runs (defined in bce_with_logits_cpu_ref.cpp), so all reject the same inputs with the same
// message, and the per-element math the CPU reference and the CPU fast path share.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace unet::kernels::detail {

// n > 0, logits and target non-null; throws std::invalid_argument naming `op`.
void bce_with_logits_check_args(const char* op, int64_t n, const void* logits, const void* target);
// An output (or workspace, or device scalar) pointer `name` must not be null.
void bce_with_logits_check_output(const char* op, const char* name, const void* p);

// max(x,0) - x*t + log1p(exp(-|x|)): never exponentiates a positive number.
template <typename T>
inline T bce_with_logits_term(T x, T t) {
  return std::max(x, T(0)) - x * t + std::log1p(std::exp(-std::abs(x)));
}

template <typename T>
inline T bce_with_logits_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

}  // namespace unet::kernels::detail
