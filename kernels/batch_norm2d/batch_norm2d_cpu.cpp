// batch_norm2d CPU fast path: OpenMP over fixed chunks of pixels; each chunk writes its own row of
// per-channel double partials, rows are summed in chunk order (deterministic for any thread count).
// The inner loop runs over the contiguous channels, so it vectorises. Training forward reads x
// twice for the statistics (two-pass variance) and once to normalise: 12 bytes read + 4 written per
// element; backward reads x, dy twice and writes dx: 20 bytes per element.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/batch_norm2d/batch_norm2d.h"
#include "kernels/batch_norm2d/batch_norm2d_check.h"

namespace unet::kernels {
namespace {

constexpr int64_t kChunkPixels = 2048;  // fixed: the summation order depends only on the shape

// out[c] = sum over pixels of f(p, c), chunked and combined in order.
template <typename F>
std::vector<double> channel_sums(const BatchNormShape& s, F f) {
  const int C = s.C;
  const int64_t chunks = (s.pixels + kChunkPixels - 1) / kChunkPixels;
  std::vector<double> partial(size_t(chunks) * C, 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    double* row = partial.data() + size_t(k) * C;
    const int64_t end = std::min(s.pixels, (k + 1) * kChunkPixels);
    for (int64_t p = k * kChunkPixels; p < end; ++p) {
      for (int c = 0; c < C; ++c) row[c] += f(p, c);
    }
  }
  std::vector<double> out(size_t(C), 0.0);
  for (int64_t k = 0; k < chunks; ++k) {
    for (int c = 0; c < C; ++c) out[size_t(c)] += partial[size_t(k) * C + c];
  }
  return out;
}

}  // namespace

void batch_norm2d_forward_train_cpu(const BatchNormShape& s, const float* x, const float* gamma,
                                    const float* beta, float eps, float momentum,
                                    float* running_mean, float* running_var, float* save_mean,
                                    float* save_invstd, float* y) {
  const char* op = "batch_norm2d_forward_train_cpu";
  detail::batch_norm2d_check_forward_train_args(op, s, double(eps), double(momentum), x, gamma,
                                                beta, running_mean, running_var, save_mean,
                                                save_invstd, y);
  const int C = s.C;
  const double M = double(s.pixels);
  std::vector<double> mean =
      channel_sums(s, [&](int64_t p, int c) { return double(x[p * C + c]); });
  for (double& m : mean) m /= M;
  const std::vector<double> sq = channel_sums(s, [&](int64_t p, int c) {
    const double d = double(x[p * C + c]) - mean[size_t(c)];
    return d * d;
  });
  std::vector<float> scale(static_cast<size_t>(C)), meanf(static_cast<size_t>(C));
  for (int c = 0; c < C; ++c) {
    const double var = sq[size_t(c)] / M;
    const double invstd = 1.0 / std::sqrt(var + double(eps));
    save_mean[c] = meanf[size_t(c)] = float(mean[size_t(c)]);
    save_invstd[c] = float(invstd);
    scale[size_t(c)] = float(double(gamma[c]) * invstd);
    if (running_mean) {
      const double mom = double(momentum);
      running_mean[c] = float((1.0 - mom) * double(running_mean[c]) + mom * mean[size_t(c)]);
      running_var[c] = float((1.0 - mom) * double(running_var[c]) + mom * var * M / (M - 1.0));
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.pixels; ++p) {
    for (int c = 0; c < C; ++c) {
      y[p * C + c] = (x[p * C + c] - meanf[size_t(c)]) * scale[size_t(c)] + beta[c];
    }
  }
}

void batch_norm2d_forward_eval_cpu(const BatchNormShape& s, const float* x, const float* gamma,
                                   const float* beta, const float* running_mean,
                                   const float* running_var, float eps, float* y) {
  const char* op = "batch_norm2d_forward_eval_cpu";
  detail::batch_norm2d_check_forward_eval_args(op, s, double(eps), x, gamma, beta, running_mean,
                                               running_var, y);
  const int C = s.C;
  std::vector<float> scale(static_cast<size_t>(C));
  for (int c = 0; c < C; ++c)
    scale[size_t(c)] = gamma[c] * (1.0f / std::sqrt(running_var[c] + eps));
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.pixels; ++p) {
    for (int c = 0; c < C; ++c) {
      y[p * C + c] = (x[p * C + c] - running_mean[c]) * scale[size_t(c)] + beta[c];
    }
  }
}

void batch_norm2d_backward_cpu(const BatchNormShape& s, const float* x, const float* dy,
                               const float* gamma, const float* save_mean, const float* save_invstd,
                               float* dx, float* dgamma, float* dbeta) {
  const char* op = "batch_norm2d_backward_cpu";
  detail::batch_norm2d_check_backward_args(op, s, x, dy, gamma, save_mean, save_invstd, dx, dgamma,
                                           dbeta);
  const int C = s.C;
  const double M = double(s.pixels);
  const std::vector<double> sum_dy =
      channel_sums(s, [&](int64_t p, int c) { return double(dy[p * C + c]); });
  const std::vector<double> sum_dy_xc = channel_sums(s, [&](int64_t p, int c) {
    return double(dy[p * C + c]) * (double(x[p * C + c]) - double(save_mean[c]));
  });
  // dx = a * (dy - k1 - (x - mean) * k2) with a = gamma*invstd, k1 = dbeta/M, k2 = dgamma*invstd/M.
  const size_t nc = static_cast<size_t>(C);
  std::vector<float> a(nc), k1(nc), k2(nc);
  for (int c = 0; c < C; ++c) {
    const double invstd = double(save_invstd[c]);
    const double dg = sum_dy_xc[size_t(c)] * invstd;
    dgamma[c] = float(dg);
    dbeta[c] = float(sum_dy[size_t(c)]);
    a[size_t(c)] = float(double(gamma[c]) * invstd);
    k1[size_t(c)] = float(sum_dy[size_t(c)] / M);
    k2[size_t(c)] = float(dg * invstd / M);
  }
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.pixels; ++p) {
    for (int c = 0; c < C; ++c) {
      const float xc = x[p * C + c] - save_mean[c];
      dx[p * C + c] = a[size_t(c)] * (dy[p * C + c] - k1[size_t(c)] - xc * k2[size_t(c)]);
    }
  }
}

}  // namespace unet::kernels
