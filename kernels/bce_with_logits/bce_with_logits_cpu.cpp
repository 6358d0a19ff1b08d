// bce_with_logits CPU backends: the naive reference and the OpenMP fast path. ~10 FLOPs plus one exp and
// one log1p per element; 8 bytes read forward, 12 bytes moved backward.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/bce_with_logits/bce_with_logits.h"
#include "kernels/bce_with_logits/bce_with_logits_check.h"

namespace unet::kernels {
namespace {

// max(x,0) - x*t + log1p(exp(-|x|)): never exponentiates a positive number.
template <typename T>
T bce_term(T x, T t) {
  return std::max(x, T(0)) - x * t + std::log1p(std::exp(-std::abs(x)));
}

template <typename T>
T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

constexpr int64_t kChunk = 1 << 16;  // fixed, so the summation order depends only on n

}  // namespace

template <typename T>
T bce_with_logits_forward_ref(int64_t n, const T* logits, const T* target) {
  bce_detail::check_args("bce_with_logits_forward_ref", n, logits, target);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(bce_term(logits[i], target[i]));
  return T(sum / double(n));
}

template <typename T>
void bce_with_logits_backward_ref(int64_t n, const T* logits, const T* target, T dloss,
                                  T* dlogits) {
  bce_detail::check_args("bce_with_logits_backward_ref", n, logits, target);
  bce_detail::check_output("bce_with_logits_backward_ref", "dlogits", dlogits);
  const T scale = dloss / T(n);
  for (int64_t i = 0; i < n; ++i) dlogits[i] = scale * (sigmoid(logits[i]) - target[i]);
}

template float bce_with_logits_forward_ref<float>(int64_t, const float*, const float*);
template double bce_with_logits_forward_ref<double>(int64_t, const double*, const double*);
template void bce_with_logits_backward_ref<float>(int64_t, const float*, const float*, float,
                                                  float*);
template void bce_with_logits_backward_ref<double>(int64_t, const double*, const double*, double,
                                                   double*);

float bce_with_logits_forward_cpu(int64_t n, const float* logits, const float* target) {
  bce_detail::check_args("bce_with_logits_forward_cpu", n, logits, target);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(size_t(chunks), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t end = std::min(n, (k + 1) * kChunk);
    double s = 0;
    for (int64_t i = k * kChunk; i < end; ++i) s += double(bce_term(logits[i], target[i]));
    partial[size_t(k)] = s;
  }
  double sum = 0;
  for (int64_t k = 0; k < chunks; ++k) sum += partial[size_t(k)];  // fixed order
  return float(sum / double(n));
}

void bce_with_logits_backward_cpu(int64_t n, const float* logits, const float* target, float dloss,
                                  float* dlogits) {
  bce_detail::check_args("bce_with_logits_backward_cpu", n, logits, target);
  bce_detail::check_output("bce_with_logits_backward_cpu", "dlogits", dlogits);
  const float scale = dloss / float(n);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) dlogits[i] = scale * (sigmoid(logits[i]) - target[i]);
}

}  // namespace unet::kernels
