// Argument checks shared by the dice_loss backends (internal; not part of the contract).
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace unet::kernels::dice_detail {

inline void check_args(const char* op, int64_t n, const void* logits, const void* target,
                       double smooth) {
  if (n <= 0) {
    throw std::invalid_argument(std::string(op) + ": n must be > 0, got " + std::to_string(n) +
                                " (pass a non-empty batch)");
  }
  if (!(smooth >= 0.0) || !std::isfinite(smooth)) {
    throw std::invalid_argument(std::string(op) + ": smooth must be finite and >= 0, got " +
                                std::to_string(smooth) + " (the seed recipe uses 1)");
  }
  if (logits == nullptr || target == nullptr) {
    throw std::invalid_argument(
        std::string(op) + ": logits and target must not be null (n = " + std::to_string(n) + ")");
  }
}

inline void check_output(const char* op, const char* name, const void* p) {
  if (p == nullptr) {
    throw std::invalid_argument(std::string(op) + ": " + name + " must not be null");
  }
}

}  // namespace unet::kernels::dice_detail
