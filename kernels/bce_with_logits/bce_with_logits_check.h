// Argument checks shared by the bce_with_logits backends (internal; not part of the contract).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace unet::kernels::bce_detail {

inline void check_args(const char* op, int64_t n, const void* logits, const void* target) {
  if (n <= 0) {
    throw std::invalid_argument(std::string(op) + ": n must be > 0, got " + std::to_string(n) +
                                " (the mean over an empty batch is undefined)");
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

}  // namespace unet::kernels::bce_detail
