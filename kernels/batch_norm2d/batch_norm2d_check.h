// Argument checks shared by the batch_norm2d backends (internal; not part of the contract).
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/batch_norm2d/batch_norm2d.h"

namespace unet::kernels::bn_detail {

inline std::string shape_str(const BatchNormShape& s) {
  return "(pixels " + std::to_string(s.pixels) + ", C " + std::to_string(s.C) + ")";
}

// min_pixels is 2 for training (unbiased running variance), 1 otherwise.
inline void check_shape(const char* op, const BatchNormShape& s, int64_t min_pixels) {
  if (s.C < 1 || s.pixels < min_pixels) {
    throw std::invalid_argument(
        std::string(op) + ": shape " + shape_str(s) +
        " needs C >= 1 and pixels >= " + std::to_string(min_pixels) +
        (min_pixels > 1 ? " (training needs more than one value per channel; use eval mode)" : ""));
  }
}

inline void check_eps(const char* op, const BatchNormShape& s, double eps) {
  if (!(eps > 0.0) || !std::isfinite(eps)) {
    throw std::invalid_argument(std::string(op) + ": eps must be finite and > 0, got " +
                                std::to_string(eps) + " for shape " + shape_str(s) +
                                " (PyTorch's default is 1e-5)");
  }
}

inline void check_momentum(const char* op, const BatchNormShape& s, double momentum) {
  if (!(momentum >= 0.0 && momentum <= 1.0)) {
    throw std::invalid_argument(std::string(op) + ": momentum must be in [0, 1], got " +
                                std::to_string(momentum) + " for shape " + shape_str(s) +
                                " (PyTorch's default is 0.1)");
  }
}

inline void check_ptr(const char* op, const BatchNormShape& s, const char* name, const void* p) {
  if (p == nullptr) {
    throw std::invalid_argument(std::string(op) + ": " + name + " must not be null (shape " +
                                shape_str(s) + ")");
  }
}

// Training keeps running statistics either both or neither.
inline void check_running(const char* op, const BatchNormShape& s, const void* rm, const void* rv) {
  if ((rm == nullptr) != (rv == nullptr)) {
    throw std::invalid_argument(std::string(op) +
                                ": running_mean and running_var must both be given or both be null"
                                " (shape " +
                                shape_str(s) + ")");
  }
}

// The complete argument check of each entry point, shared by the reference, the OpenMP path and
// CUDA so every backend rejects the same inputs with the same message.
inline void check_forward_train_args(const char* op, const BatchNormShape& s, double eps,
                                     double momentum, const void* x, const void* gamma,
                                     const void* beta, const void* running_mean,
                                     const void* running_var, const void* save_mean,
                                     const void* save_invstd, const void* y) {
  check_shape(op, s, 2);
  check_eps(op, s, eps);
  check_momentum(op, s, momentum);
  for (const auto& [name, p] : {std::pair<const char*, const void*>{"x", x},
                                {"gamma", gamma},
                                {"beta", beta},
                                {"save_mean", save_mean},
                                {"save_invstd", save_invstd},
                                {"y", y}}) {
    check_ptr(op, s, name, p);
  }
  check_running(op, s, running_mean, running_var);
}

inline void check_forward_eval_args(const char* op, const BatchNormShape& s, double eps,
                                    const void* x, const void* gamma, const void* beta,
                                    const void* running_mean, const void* running_var,
                                    const void* y) {
  check_shape(op, s, 1);
  check_eps(op, s, eps);
  for (const auto& [name, p] : {std::pair<const char*, const void*>{"x", x},
                                {"gamma", gamma},
                                {"beta", beta},
                                {"running_mean", running_mean},
                                {"running_var", running_var},
                                {"y", y}}) {
    check_ptr(op, s, name, p);
  }
}

inline void check_backward_args(const char* op, const BatchNormShape& s, const void* x,
                                const void* dy, const void* gamma, const void* save_mean,
                                const void* save_invstd, const void* dx, const void* dgamma,
                                const void* dbeta) {
  check_shape(op, s, 1);
  for (const auto& [name, p] : {std::pair<const char*, const void*>{"x", x},
                                {"dy", dy},
                                {"gamma", gamma},
                                {"save_mean", save_mean},
                                {"save_invstd", save_invstd},
                                {"dx", dx},
                                {"dgamma", dgamma},
                                {"dbeta", dbeta}}) {
    check_ptr(op, s, name, p);
  }
}

}  // namespace unet::kernels::bn_detail
