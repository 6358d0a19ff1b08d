// conv2d CPU naive reference: plain loops over the formulas in conv2d.h, the executable spec that
// the fast CPU path and every CUDA variant are tested against. Templated (float, double) so the
// finite-difference gradient checks can run it in double.
//
// Cost: each pass does 2*N*P*Q*K*R*S*C FLOPs with no reuse beyond what the compiler finds; it
// reads x (N*H*W*C), w (K*R*S*C) and writes y (N*P*Q*K) once per output element's inner loop,
// so it is memory-latency bound and slow (~1 GFLOP/s). Use it only for tests and small benches.
//
// Argument checks live here too (conv2d_check_args, declared in conv2d_check.h) and are shared with
// conv2d_cpu.cpp, so both paths reject the same inputs with the same messages.

#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_check.h"

namespace unet::kernels {
namespace detail {

std::string conv2d_shape_string(const Conv2dShape& s) {
  std::ostringstream o;
  o << "N=" << s.N << " H=" << s.H << " W=" << s.W << " C=" << s.C << " K=" << s.K << " R=" << s.R
    << " S=" << s.S << " pad=" << s.pad_h << "," << s.pad_w << " stride=" << s.stride_h << ","
    << s.stride_w;
  return o.str();
}

void conv2d_check_args(const char* op, const Conv2dShape& s,
                       std::initializer_list<std::pair<const char*, const void*>> ptrs) {
  auto fail = [&](const std::string& what) {
    throw std::invalid_argument(std::string(op) + ": " + what + " (shape " +
                                conv2d_shape_string(s) + ")");
  };
  if (s.N < 1 || s.H < 1 || s.W < 1 || s.C < 1)
    fail("input dims N,H,W,C must all be >= 1; pass a non-empty input");
  if (s.K < 1 || s.R < 1 || s.S < 1) fail("filter dims K,R,S must all be >= 1");
  if (s.pad_h < 0 || s.pad_w < 0) fail("padding must be >= 0");
  if (s.stride_h < 1 || s.stride_w < 1) fail("stride must be >= 1");
  if (s.H + 2 * s.pad_h < s.R || s.W + 2 * s.pad_w < s.S)
    fail(
        "kernel larger than the padded input, output would be empty; use more padding or a "
        "smaller kernel");
  for (const auto& [name, p] : ptrs) {
    if (p == nullptr) fail(std::string(name) + " is null");
  }
}

}  // namespace detail

template <typename T>
void conv2d_forward_ref(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y,
                        bool relu) {
  detail::conv2d_check_args("conv2d_forward_ref", s, {{"x", x}, {"w", w}, {"y", y}});
  const int P = s.P(), Q = s.Q();
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q)
        for (int k = 0; k < s.K; ++k) {
          T acc = bias ? bias[k] : T(0);
          for (int r = 0; r < s.R; ++r) {
            const int h = p * s.stride_h - s.pad_h + r;
            if (h < 0 || h >= s.H) continue;
            for (int t = 0; t < s.S; ++t) {
              const int wi = q * s.stride_w - s.pad_w + t;
              if (wi < 0 || wi >= s.W) continue;
              const T* xp = x + ((int64_t(n) * s.H + h) * s.W + wi) * s.C;
              const T* wp = w + ((int64_t(k) * s.R + r) * s.S + t) * s.C;
              for (int c = 0; c < s.C; ++c) acc += xp[c] * wp[c];
            }
          }
          if (relu && !(acc > T(0))) acc = T(0);
          y[((int64_t(n) * P + p) * Q + q) * s.K + k] = acc;
        }
}

// The upstream gradient as the conv sees it: dy masked by the fused ReLU's derivative.
template <typename T>
static T masked_dy(const T* dy, const T* relu_y, int64_t i) {
  return (relu_y && !(relu_y[i] > T(0))) ? T(0) : dy[i];
}

template <typename T>
void conv2d_backward_data_ref(const Conv2dShape& s, const T* dy, const T* w, const T* relu_y,
                              T* dx) {
  detail::conv2d_check_args("conv2d_backward_data_ref", s, {{"dy", dy}, {"w", w}, {"dx", dx}});
  const int P = s.P(), Q = s.Q();
  for (int64_t i = 0; i < s.x_size(); ++i) dx[i] = T(0);
  // The literal transpose of the forward: every product x*w that fed y[n,p,q,k] sends g*w back.
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q)
        for (int k = 0; k < s.K; ++k) {
          const T g = masked_dy(dy, relu_y, ((int64_t(n) * P + p) * Q + q) * s.K + k);
          for (int r = 0; r < s.R; ++r) {
            const int h = p * s.stride_h - s.pad_h + r;
            if (h < 0 || h >= s.H) continue;
            for (int t = 0; t < s.S; ++t) {
              const int wi = q * s.stride_w - s.pad_w + t;
              if (wi < 0 || wi >= s.W) continue;
              T* dxp = dx + ((int64_t(n) * s.H + h) * s.W + wi) * s.C;
              const T* wp = w + ((int64_t(k) * s.R + r) * s.S + t) * s.C;
              for (int c = 0; c < s.C; ++c) dxp[c] += g * wp[c];
            }
          }
        }
}

template <typename T>
void conv2d_backward_weight_ref(const Conv2dShape& s, const T* x, const T* dy, const T* relu_y,
                                T* dw, T* dbias) {
  detail::conv2d_check_args("conv2d_backward_weight_ref", s, {{"x", x}, {"dy", dy}, {"dw", dw}});
  const int P = s.P(), Q = s.Q();
  for (int64_t i = 0; i < s.w_size(); ++i) dw[i] = T(0);
  if (dbias)
    for (int k = 0; k < s.K; ++k) dbias[k] = T(0);
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q)
        for (int k = 0; k < s.K; ++k) {
          const T g = masked_dy(dy, relu_y, ((int64_t(n) * P + p) * Q + q) * s.K + k);
          if (dbias) dbias[k] += g;
          for (int r = 0; r < s.R; ++r) {
            const int h = p * s.stride_h - s.pad_h + r;
            if (h < 0 || h >= s.H) continue;
            for (int t = 0; t < s.S; ++t) {
              const int wi = q * s.stride_w - s.pad_w + t;
              if (wi < 0 || wi >= s.W) continue;
              const T* xp = x + ((int64_t(n) * s.H + h) * s.W + wi) * s.C;
              T* dwp = dw + ((int64_t(k) * s.R + r) * s.S + t) * s.C;
              for (int c = 0; c < s.C; ++c) dwp[c] += g * xp[c];
            }
          }
        }
}

#define UNET_INSTANTIATE_CONV2D_REF(T)                                                             \
  template void conv2d_forward_ref<T>(const Conv2dShape&, const T*, const T*, const T*, T*, bool); \
  template void conv2d_backward_data_ref<T>(const Conv2dShape&, const T*, const T*, const T*, T*); \
  template void conv2d_backward_weight_ref<T>(const Conv2dShape&, const T*, const T*, const T*,    \
                                              T*, T*);
UNET_INSTANTIATE_CONV2D_REF(float)
UNET_INSTANTIATE_CONV2D_REF(double)
#undef UNET_INSTANTIATE_CONV2D_REF

}  // namespace unet::kernels
