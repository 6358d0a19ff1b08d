// elementwise CPU naive references: one plain loop per op, the spec for the fast CPU path and
// the CUDA kernels. Templated (float, double) so gradient checks can run in double.
// Bytes: 4 per fp32 tensor element read or written (see elementwise.h); FLOPs ~1 per element.

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/elementwise_check.h"

namespace unet::kernels {
namespace detail {

void elementwise_check_args(const char* op, int64_t n,
                            std::initializer_list<std::pair<const char*, const void*>> ptrs) {
  if (n < 0) {
    throw std::invalid_argument(std::string(op) + ": element count n=" + std::to_string(n) +
                                " is negative; pass n >= 0");
  }
  if (n == 0) return;
  for (const auto& [name, ptr] : ptrs) {
    if (ptr == nullptr) {
      throw std::invalid_argument(std::string(op) + ": " + name + " is null with n=" +
                                  std::to_string(n) + "; pass a buffer of n elements");
    }
  }
}

void bias_add_check_args(const char* op, int64_t pixels, int C, const void* bias, const void* y) {
  std::ostringstream where;
  where << " (pixels=" << pixels << " C=" << C << ")";
  if (pixels < 0)
    throw std::invalid_argument(std::string(op) + ": pixels must be >= 0" + where.str());
  if (C < 1) throw std::invalid_argument(std::string(op) + ": C must be >= 1" + where.str());
  if (pixels == 0) return;
  if (bias == nullptr)
    throw std::invalid_argument(std::string(op) + ": bias is null; pass C values" + where.str());
  if (y == nullptr)
    throw std::invalid_argument(std::string(op) + ": y is null; pass pixels*C values" +
                                where.str());
}

}  // namespace detail

template <typename T>
void relu_forward_ref(int64_t n, const T* x, T* y) {
  detail::elementwise_check_args("relu_forward_ref", n, {{"x", x}, {"y", y}});
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
}

template <typename T>
void relu_backward_ref(int64_t n, const T* y, const T* dy, T* dx) {
  detail::elementwise_check_args("relu_backward_ref", n, {{"y", y}, {"dy", dy}, {"dx", dx}});
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

template <typename T>
void leaky_relu_forward_ref(int64_t n, T slope, const T* x, T* y) {
  detail::elementwise_check_args("leaky_relu_forward_ref", n, {{"x", x}, {"y", y}});
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : slope * x[i];
}

template <typename T>
void leaky_relu_backward_ref(int64_t n, T slope, const T* x, const T* dy, T* dx) {
  detail::elementwise_check_args("leaky_relu_backward_ref", n, {{"x", x}, {"dy", dy}, {"dx", dx}});
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : slope * dy[i];
}

template <typename T>
void sigmoid_forward_ref(int64_t n, const T* x, T* y) {
  detail::elementwise_check_args("sigmoid_forward_ref", n, {{"x", x}, {"y", y}});
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] >= T(0)) {
      y[i] = T(1) / (T(1) + std::exp(-x[i]));
    } else {
      const T e = std::exp(x[i]);  // < 1, cannot overflow
      y[i] = e / (T(1) + e);
    }
  }
}

template <typename T>
void sigmoid_backward_ref(int64_t n, const T* y, const T* dy, T* dx) {
  detail::elementwise_check_args("sigmoid_backward_ref", n, {{"y", y}, {"dy", dy}, {"dx", dx}});
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}

template <typename T>
void add_ref(int64_t n, const T* a, const T* b, T* y) {
  detail::elementwise_check_args("add_ref", n, {{"a", a}, {"b", b}, {"y", y}});
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

template <typename T>
void mul_ref(int64_t n, const T* a, const T* b, T* y) {
  detail::elementwise_check_args("mul_ref", n, {{"a", a}, {"b", b}, {"y", y}});
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

template <typename T>
void scale_ref(int64_t n, T alpha, const T* x, T* y) {
  detail::elementwise_check_args("scale_ref", n, {{"x", x}, {"y", y}});
  for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}

template <typename T>
void accumulate_ref(int64_t n, const T* x, T* y) {
  detail::elementwise_check_args("accumulate_ref", n, {{"x", x}, {"y", y}});
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

template <typename T>
void bias_add_ref(int64_t pixels, int C, const T* bias, T* y) {
  detail::bias_add_check_args("bias_add_ref", pixels, C, bias, y);
  for (int64_t p = 0; p < pixels; ++p)
    for (int c = 0; c < C; ++c) y[p * C + c] += bias[c];
}

template <typename T>
void fill_ref(int64_t n, T value, T* y) {
  detail::elementwise_check_args("fill_ref", n, {{"y", y}});
  for (int64_t i = 0; i < n; ++i) y[i] = value;
}

#define UNET_INSTANTIATE_ELEMENTWISE_REF(T)                                     \
  template void relu_forward_ref<T>(int64_t, const T*, T*);                     \
  template void relu_backward_ref<T>(int64_t, const T*, const T*, T*);          \
  template void leaky_relu_forward_ref<T>(int64_t, T, const T*, T*);            \
  template void leaky_relu_backward_ref<T>(int64_t, T, const T*, const T*, T*); \
  template void sigmoid_forward_ref<T>(int64_t, const T*, T*);                  \
  template void sigmoid_backward_ref<T>(int64_t, const T*, const T*, T*);       \
  template void add_ref<T>(int64_t, const T*, const T*, T*);                    \
  template void mul_ref<T>(int64_t, const T*, const T*, T*);                    \
  template void scale_ref<T>(int64_t, T, const T*, T*);                         \
  template void accumulate_ref<T>(int64_t, const T*, T*);                       \
  template void bias_add_ref<T>(int64_t, int, const T*, T*);                    \
  template void fill_ref<T>(int64_t, T, T*);

UNET_INSTANTIATE_ELEMENTWISE_REF(float)
UNET_INSTANTIATE_ELEMENTWISE_REF(double)
#undef UNET_INSTANTIATE_ELEMENTWISE_REF

}  // namespace unet::kernels
