// batch_norm2d: batch normalisation over NHWC activations, statistics per channel over the
// pixels = N*H*W positions (channels innermost). PyTorch's BatchNorm2d semantics:
//
// training (M = pixels, sums over the pixels p of channel c):
//   mean_c       = sum_p x[p,c] / M
//   var_c        = sum_p (x[p,c] - mean_c)^2 / M                                    (biased)
//   invstd_c     = 1 / sqrt(var_c + eps)
//   y[p,c]       = gamma_c * (x[p,c] - mean_c) * invstd_c + beta_c
//   running_mean = (1 - momentum) * running_mean + momentum * mean_c
//   running_var  = (1 - momentum) * running_var  + momentum * var_c * M / (M - 1)   (unbiased)
//   save_mean / save_invstd keep mean_c / invstd_c for the backward pass.
//
// evaluation:
//   y[p,c]       = gamma_c * (x[p,c] - running_mean_c) / sqrt(running_var_c + eps) + beta_c
//
// backward (xhat = (x - mean_c) * invstd_c):
//   dbeta_c      = sum_p dy
//   dgamma_c     = sum_p dy * xhat
//   dx           = gamma_c * invstd_c / M * (M * dy - dbeta_c - xhat * dgamma_c)
//
// Bytes: training forward reads x twice (statistics, normalise) and writes y: 12 bytes/element on
// the GPU; backward reads x and dy twice and writes dx: 20 bytes/element. Statistics accumulate in
// double in a fixed order that depends only on the shape (deterministic). running_mean/running_var
// may be null in training (no running statistics are tracked then). Training needs pixels >= 2
// (the unbiased variance), as in PyTorch. See README.md, which also shows how eval-mode BN folds
// into the preceding convolution.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/stream.h"

namespace unet::kernels {

struct BatchNormShape {
  int64_t pixels = 1;  // N*H*W
  int C = 1;
};

// ---- CPU naive reference (plain loops, double accumulation). Instantiated for float and double.
template <typename T>
void batch_norm2d_forward_train_ref(const BatchNormShape& s, const T* x, const T* gamma,
                                    const T* beta, T eps, T momentum, T* running_mean,
                                    T* running_var, T* save_mean, T* save_invstd, T* y);
template <typename T>
void batch_norm2d_forward_eval_ref(const BatchNormShape& s, const T* x, const T* gamma,
                                   const T* beta, const T* running_mean, const T* running_var,
                                   T eps, T* y);
// dgamma/dbeta are overwritten (not accumulated).
template <typename T>
void batch_norm2d_backward_ref(const BatchNormShape& s, const T* x, const T* dy, const T* gamma,
                               const T* save_mean, const T* save_invstd, T* dx, T* dgamma,
                               T* dbeta);

// Folds eval-mode BN into the preceding convolution with weights KRSC (K = C output channels,
// `per_out` = R*S*Cin weights each) and bias (nullable: treated as 0):
//   istd_k    = 1 / sqrt(running_var_k + eps)
//   w'[k,...] = w[k,...] * gamma_k * istd_k
//   b'_k      = (b_k - running_mean_k) * gamma_k * istd_k + beta_k
// w_out / b_out may alias w / bias.
template <typename T>
void batch_norm2d_fold_ref(int C, int64_t per_out, const T* w, const T* bias, const T* gamma,
                           const T* beta, const T* running_mean, const T* running_var, T eps,
                           T* w_out, T* b_out);

// ---- CPU fast path (OpenMP over fixed pixel chunks; same semantics, same determinism).
void batch_norm2d_forward_train_cpu(const BatchNormShape& s, const float* x, const float* gamma,
                                    const float* beta, float eps, float momentum,
                                    float* running_mean, float* running_var, float* save_mean,
                                    float* save_invstd, float* y);
void batch_norm2d_forward_eval_cpu(const BatchNormShape& s, const float* x, const float* gamma,
                                   const float* beta, const float* running_mean,
                                   const float* running_var, float eps, float* y);
void batch_norm2d_backward_cpu(const BatchNormShape& s, const float* x, const float* dy,
                               const float* gamma, const float* save_mean, const float* save_invstd,
                               float* dx, float* dgamma, float* dbeta);

// ---- CUDA (device pointers). The workspace serves both training forward and backward.
size_t batch_norm2d_cuda_workspace_bytes(const BatchNormShape& s);
void batch_norm2d_forward_train_cuda(const BatchNormShape& s, const float* x, const float* gamma,
                                     const float* beta, float eps, float momentum,
                                     float* running_mean, float* running_var, float* save_mean,
                                     float* save_invstd, float* y, void* workspace, Stream stream);
void batch_norm2d_forward_eval_cuda(const BatchNormShape& s, const float* x, const float* gamma,
                                    const float* beta, const float* running_mean,
                                    const float* running_var, float eps, float* y, Stream stream);
void batch_norm2d_backward_cuda(const BatchNormShape& s, const float* x, const float* dy,
                                const float* gamma, const float* save_mean,
                                const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                                void* workspace, Stream stream);

}  // namespace unet::kernels
