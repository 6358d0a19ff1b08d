// batch_norm2d naive CPU reference: plain loops over channels and pixels, every statistic in
// double (the executable spec). Reads x twice for the two-pass mean/variance; ~8 FLOPs per element.
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/batch_norm2d/batch_norm2d.h"
#include "kernels/batch_norm2d/batch_norm2d_check.h"

namespace unet::kernels {
namespace detail {
namespace {

std::string batch_norm2d_shape_str(const BatchNormShape& s) {
  return "(pixels " + std::to_string(s.pixels) + ", C " + std::to_string(s.C) + ")";
}

void batch_norm2d_check_eps(const char* op, const BatchNormShape& s, double eps) {
  if (!(eps > 0.0) || !std::isfinite(eps)) {
    throw std::invalid_argument(std::string(op) + ": eps must be finite and > 0, got " +
                                std::to_string(eps) + " for shape " + batch_norm2d_shape_str(s) +
                                " (PyTorch's default is 1e-5)");
  }
}

void batch_norm2d_check_momentum(const char* op, const BatchNormShape& s, double momentum) {
  if (!(momentum >= 0.0 && momentum <= 1.0)) {
    throw std::invalid_argument(std::string(op) + ": momentum must be in [0, 1], got " +
                                std::to_string(momentum) + " for shape " +
                                batch_norm2d_shape_str(s) + " (PyTorch's default is 0.1)");
  }
}

// Training keeps running statistics either both or neither.
void batch_norm2d_check_running(const char* op, const BatchNormShape& s, const void* rm,
                                const void* rv) {
  if ((rm == nullptr) != (rv == nullptr)) {
    throw std::invalid_argument(std::string(op) +
                                ": running_mean and running_var must both be given or both be null"
                                " (shape " +
                                batch_norm2d_shape_str(s) + ")");
  }
}

// The fold's own check (the reference is its only implementation).
void batch_norm2d_check_fold_args(const char* op, const BatchNormShape& s, double eps,
                                  const void* w, const void* gamma, const void* beta,
                                  const void* running_mean, const void* running_var,
                                  const void* w_out, const void* b_out) {
  batch_norm2d_check_shape(op, s, 1);
  batch_norm2d_check_eps(op, s, eps);
  for (const auto& [name, p] : {std::pair<const char*, const void*>{"w", w},
                                {"gamma", gamma},
                                {"beta", beta},
                                {"running_mean", running_mean},
                                {"running_var", running_var},
                                {"w_out", w_out},
                                {"b_out", b_out}}) {
    batch_norm2d_check_ptr(op, s, name, p);
  }
}

}  // namespace

void batch_norm2d_check_shape(const char* op, const BatchNormShape& s, int64_t min_pixels) {
  if (s.C < 1 || s.pixels < min_pixels) {
    throw std::invalid_argument(
        std::string(op) + ": shape " + batch_norm2d_shape_str(s) +
        " needs C >= 1 and pixels >= " + std::to_string(min_pixels) +
        (min_pixels > 1 ? " (training needs more than one value per channel; use eval mode)" : ""));
  }
}

void batch_norm2d_check_ptr(const char* op, const BatchNormShape& s, const char* name,
                            const void* p) {
  if (p == nullptr) {
    throw std::invalid_argument(std::string(op) + ": " + name + " must not be null (shape " +
                                batch_norm2d_shape_str(s) + ")");
  }
}

void batch_norm2d_check_forward_train_args(const char* op, const BatchNormShape& s, double eps,
                                           double momentum, const void* x, const void* gamma,
                                           const void* beta, const void* running_mean,
                                           const void* running_var, const void* save_mean,
                                           const void* save_invstd, const void* y) {
  batch_norm2d_check_shape(op, s, 2);
  batch_norm2d_check_eps(op, s, eps);
  batch_norm2d_check_momentum(op, s, momentum);
  for (const auto& [name, p] : {std::pair<const char*, const void*>{"x", x},
                                {"gamma", gamma},
                                {"beta", beta},
                                {"save_mean", save_mean},
                                {"save_invstd", save_invstd},
                                {"y", y}}) {
    batch_norm2d_check_ptr(op, s, name, p);
  }
  batch_norm2d_check_running(op, s, running_mean, running_var);
}

void batch_norm2d_check_forward_eval_args(const char* op, const BatchNormShape& s, double eps,
                                          const void* x, const void* gamma, const void* beta,
                                          const void* running_mean, const void* running_var,
                                          const void* y) {
  batch_norm2d_check_shape(op, s, 1);
  batch_norm2d_check_eps(op, s, eps);
  for (const auto& [name, p] : {std::pair<const char*, const void*>{"x", x},
                                {"gamma", gamma},
                                {"beta", beta},
                                {"running_mean", running_mean},
                                {"running_var", running_var},
                                {"y", y}}) {
    batch_norm2d_check_ptr(op, s, name, p);
  }
}

void batch_norm2d_check_backward_args(const char* op, const BatchNormShape& s, const void* x,
                                      const void* dy, const void* gamma, const void* save_mean,
                                      const void* save_invstd, const void* dx, const void* dgamma,
                                      const void* dbeta) {
  batch_norm2d_check_shape(op, s, 1);
  for (const auto& [name, p] : {std::pair<const char*, const void*>{"x", x},
                                {"dy", dy},
                                {"gamma", gamma},
                                {"save_mean", save_mean},
                                {"save_invstd", save_invstd},
                                {"dx", dx},
                                {"dgamma", dgamma},
                                {"dbeta", dbeta}}) {
    batch_norm2d_check_ptr(op, s, name, p);
  }
}

}  // namespace detail

template <typename T>
void batch_norm2d_forward_train_ref(const BatchNormShape& s, const T* x, const T* gamma,
                                    const T* beta, T eps, T momentum, T* running_mean,
                                    T* running_var, T* save_mean, T* save_invstd, T* y) {
  const char* op = "batch_norm2d_forward_train_ref";
  detail::batch_norm2d_check_forward_train_args(op, s, double(eps), double(momentum), x, gamma,
                                                beta, running_mean, running_var, save_mean,
                                                save_invstd, y);
  const int64_t M = s.pixels;
  const int C = s.C;
  for (int c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t p = 0; p < M; ++p) sum += double(x[p * C + c]);
    const double mean = sum / double(M);
    double sq = 0;
    for (int64_t p = 0; p < M; ++p) {
      const double d = double(x[p * C + c]) - mean;
      sq += d * d;
    }
    const double var = sq / double(M);
    const double invstd = 1.0 / std::sqrt(var + double(eps));
    for (int64_t p = 0; p < M; ++p) {
      y[p * C + c] = T(double(gamma[c]) * (double(x[p * C + c]) - mean) * invstd + double(beta[c]));
    }
    save_mean[c] = T(mean);
    save_invstd[c] = T(invstd);
    if (running_mean) {
      const double mom = double(momentum);
      const double unbiased = var * double(M) / double(M - 1);
      running_mean[c] = T((1.0 - mom) * double(running_mean[c]) + mom * mean);
      running_var[c] = T((1.0 - mom) * double(running_var[c]) + mom * unbiased);
    }
  }
}

template <typename T>
void batch_norm2d_forward_eval_ref(const BatchNormShape& s, const T* x, const T* gamma,
                                   const T* beta, const T* running_mean, const T* running_var,
                                   T eps, T* y) {
  const char* op = "batch_norm2d_forward_eval_ref";
  detail::batch_norm2d_check_forward_eval_args(op, s, double(eps), x, gamma, beta, running_mean,
                                               running_var, y);
  const int C = s.C;
  for (int64_t p = 0; p < s.pixels; ++p) {
    for (int c = 0; c < C; ++c) {
      const T invstd = T(1) / std::sqrt(running_var[c] + eps);
      y[p * C + c] = gamma[c] * (x[p * C + c] - running_mean[c]) * invstd + beta[c];
    }
  }
}

template <typename T>
void batch_norm2d_backward_ref(const BatchNormShape& s, const T* x, const T* dy, const T* gamma,
                               const T* save_mean, const T* save_invstd, T* dx, T* dgamma,
                               T* dbeta) {
  const char* op = "batch_norm2d_backward_ref";
  detail::batch_norm2d_check_backward_args(op, s, x, dy, gamma, save_mean, save_invstd, dx, dgamma,
                                           dbeta);
  const int64_t M = s.pixels;
  const int C = s.C;
  for (int c = 0; c < C; ++c) {
    const double mean = double(save_mean[c]);
    const double invstd = double(save_invstd[c]);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t p = 0; p < M; ++p) {
      const double g = double(dy[p * C + c]);
      sum_dy += g;
      sum_dy_xhat += g * (double(x[p * C + c]) - mean) * invstd;
    }
    const double scale = double(gamma[c]) * invstd / double(M);
    for (int64_t p = 0; p < M; ++p) {
      const double xhat = (double(x[p * C + c]) - mean) * invstd;
      dx[p * C + c] = T(scale * (double(M) * double(dy[p * C + c]) - sum_dy - xhat * sum_dy_xhat));
    }
    dgamma[c] = T(sum_dy_xhat);
    dbeta[c] = T(sum_dy);
  }
}

template <typename T>
void batch_norm2d_fold_ref(int C, int64_t per_out, const T* w, const T* bias, const T* gamma,
                           const T* beta, const T* running_mean, const T* running_var, T eps,
                           T* w_out, T* b_out) {
  const BatchNormShape s{per_out, C};
  const char* op = "batch_norm2d_fold_ref";
  detail::batch_norm2d_check_fold_args(op, s, double(eps), w, gamma, beta, running_mean,
                                       running_var, w_out, b_out);
  for (int k = 0; k < C; ++k) {
    const double a = double(gamma[k]) / std::sqrt(double(running_var[k]) + double(eps));
    for (int64_t i = 0; i < per_out; ++i)
      w_out[k * per_out + i] = T(double(w[k * per_out + i]) * a);
    const double b = bias ? double(bias[k]) : 0.0;
    b_out[k] = T((b - double(running_mean[k])) * a + double(beta[k]));
  }
}

#define UNET_BN_INSTANTIATE(T)                                                                    \
  template void batch_norm2d_forward_train_ref<T>(const BatchNormShape&, const T*, const T*,      \
                                                  const T*, T, T, T*, T*, T*, T*, T*);            \
  template void batch_norm2d_forward_eval_ref<T>(const BatchNormShape&, const T*, const T*,       \
                                                 const T*, const T*, const T*, T, T*);            \
  template void batch_norm2d_backward_ref<T>(const BatchNormShape&, const T*, const T*, const T*, \
                                             const T*, const T*, T*, T*, T*);                     \
  template void batch_norm2d_fold_ref<T>(int, int64_t, const T*, const T*, const T*, const T*,    \
                                         const T*, const T*, T, T*, T*);
UNET_BN_INSTANTIATE(float)
UNET_BN_INSTANTIATE(double)
#undef UNET_BN_INSTANTIATE

}  // namespace unet::kernels
