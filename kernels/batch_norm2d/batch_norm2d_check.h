// Argument checks shared by the batch_norm2d backends (internal; not part of the contract; defined
// in batch_norm2d_cpu_ref.cpp). Each throws std::invalid_argument naming `op`, the shape and what to
// change.
#pragma once

#include <cstdint>

#include "kernels/batch_norm2d/batch_norm2d.h"

namespace unet::kernels::detail {

// min_pixels is 2 for training (unbiased running variance), 1 otherwise.
void batch_norm2d_check_shape(const char* op, const BatchNormShape& s, int64_t min_pixels);

// `name` must not be null (the pointer checks of every entry point, and the CUDA workspace).
void batch_norm2d_check_ptr(const char* op, const BatchNormShape& s, const char* name,
                            const void* p);

// The complete argument check of each entry point, shared by the reference, the OpenMP path and
// CUDA so every backend rejects the same inputs with the same message.
void batch_norm2d_check_forward_train_args(const char* op, const BatchNormShape& s, double eps,
                                           double momentum, const void* x, const void* gamma,
                                           const void* beta, const void* running_mean,
                                           const void* running_var, const void* save_mean,
                                           const void* save_invstd, const void* y);
void batch_norm2d_check_forward_eval_args(const char* op, const BatchNormShape& s, double eps,
                                          const void* x, const void* gamma, const void* beta,
                                          const void* running_mean, const void* running_var,
                                          const void* y);
void batch_norm2d_check_backward_args(const char* op, const BatchNormShape& s, const void* x,
                                      const void* dy, const void* gamma, const void* save_mean,
                                      const void* save_invstd, const void* dx, const void* dgamma,
                                      const void* dbeta);

}  // namespace unet::kernels::detail
