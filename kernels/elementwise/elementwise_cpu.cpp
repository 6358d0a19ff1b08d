// elementwise CPU fast path: OpenMP-parallel SIMD loops. Each is memory bound (bytes per element
// in elementwise.h); below kParallelMin elements the thread fork costs more than the work, so those
// run on the calling thread. Results equal the reference bit for bit except sigmoid (the compiler
// may pick a different exp implementation when it vectorises: within a few ulp).

#include <cmath>

#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/elementwise_check.h"

namespace unet::kernels {
namespace {
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

void relu_forward_cpu(int64_t n, const float* x, float* y) {
  detail::elementwise_check_args("relu_forward_cpu", n, {{"x", x}, {"y", y}});
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void relu_backward_cpu(int64_t n, const float* y, const float* dy, float* dx) {
  detail::elementwise_check_args("relu_backward_cpu", n, {{"y", y}, {"dy", dy}, {"dx", dx}});
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void leaky_relu_forward_cpu(int64_t n, float slope, const float* x, float* y) {
  detail::elementwise_check_args("leaky_relu_forward_cpu", n, {{"x", x}, {"y", y}});
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

void leaky_relu_backward_cpu(int64_t n, float slope, const float* x, const float* dy, float* dx) {
  detail::elementwise_check_args("leaky_relu_backward_cpu", n, {{"x", x}, {"dy", dy}, {"dx", dx}});
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : slope * dy[i];
}

void sigmoid_forward_cpu(int64_t n, const float* x, float* y) {
  detail::elementwise_check_args("sigmoid_forward_cpu", n, {{"x", x}, {"y", y}});
  // exp(-|x|) <= 1 never overflows; the two branches are the two signs of the stable formula.
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float e = std::exp(-std::fabs(x[i]));
    y[i] = x[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
  }
}

void sigmoid_backward_cpu(int64_t n, const float* y, const float* dy, float* dx) {
  detail::elementwise_check_args("sigmoid_backward_cpu", n, {{"y", y}, {"dy", dy}, {"dx", dx}});
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

void add_cpu(int64_t n, const float* a, const float* b, float* y) {
  detail::elementwise_check_args("add_cpu", n, {{"a", a}, {"b", b}, {"y", y}});
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void mul_cpu(int64_t n, const float* a, const float* b, float* y) {
  detail::elementwise_check_args("mul_cpu", n, {{"a", a}, {"b", b}, {"y", y}});
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void scale_cpu(int64_t n, float alpha, const float* x, float* y) {
  detail::elementwise_check_args("scale_cpu", n, {{"x", x}, {"y", y}});
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}

void accumulate_cpu(int64_t n, const float* x, float* y) {
  detail::elementwise_check_args("accumulate_cpu", n, {{"x", x}, {"y", y}});
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void bias_add_cpu(int64_t pixels, int C, const float* bias, float* y) {
  detail::bias_add_check_args("bias_add_cpu", pixels, C, bias, y);
#pragma omp parallel for schedule(static) if (pixels * C > kParallelMin)
  for (int64_t p = 0; p < pixels; ++p) {
    float* yp = y + p * C;
#pragma omp simd
    for (int c = 0; c < C; ++c) yp[c] += bias[c];
  }
}

void fill_cpu(int64_t n, float value, float* y) {
  detail::elementwise_check_args("fill_cpu", n, {{"y", y}});
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = value;
}

}  // namespace unet::kernels
