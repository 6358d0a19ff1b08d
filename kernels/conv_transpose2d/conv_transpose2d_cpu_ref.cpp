// conv_transpose2d CPU naive reference: plain loops over the formulas in conv_transpose2d.h, the
// executable spec for the fast CPU path and the CUDA variants. Templated (float, double) so the
// finite-difference checks can run it in double. Any R, S, stride (overlapping or with gaps).
//
// Cost: 2*N*H*W*C*R*S*K FLOPs per pass with no blocking (~1 GFLOP/s); tests and small benches only.

#include <sstream>
#include <stdexcept>
#include <string>

#include "kernels/conv_transpose2d/conv_transpose2d.h"
#include "kernels/conv_transpose2d/conv_transpose2d_check.h"

namespace unet::kernels {
namespace detail {

std::string conv_transpose2d_shape_string(const ConvTranspose2dShape& s) {
  std::ostringstream o;
  o << "N=" << s.N << " H=" << s.H << " W=" << s.W << " C=" << s.C << " K=" << s.K << " R=" << s.R
    << " S=" << s.S << " stride=" << s.stride_h << "," << s.stride_w;
  return o.str();
}

void conv_transpose2d_check_args(const char* op, const ConvTranspose2dShape& s,
                                 std::initializer_list<std::pair<const char*, const void*>> ptrs) {
  auto fail = [&](const std::string& what) {
    throw std::invalid_argument(std::string(op) + ": " + what + " (shape " +
                                conv_transpose2d_shape_string(s) + ")");
  };
  if (s.N < 1 || s.H < 1 || s.W < 1 || s.C < 1)
    fail("input dims N,H,W,C must all be >= 1; pass a non-empty input");
  if (s.K < 1 || s.R < 1 || s.S < 1) fail("filter dims K,R,S must all be >= 1");
  if (s.stride_h < 1 || s.stride_w < 1) fail("stride must be >= 1");
  for (const auto& [name, p] : ptrs) {
    if (p == nullptr) fail(std::string(name) + " is null");
  }
}

}  // namespace detail

template <typename T>
void conv_transpose2d_forward_ref(const ConvTranspose2dShape& s, const T* x, const T* w,
                                  const T* bias, T* y) {
  detail::conv_transpose2d_check_args("conv_transpose2d_forward_ref", s,
                                      {{"x", x}, {"w", w}, {"y", y}});
  const int P = s.P(), Q = s.Q();
  for (int64_t i = 0; i < s.y_size(); ++i) y[i] = bias ? bias[i % s.K] : T(0);
  // Scatter: each input pixel adds its R x S x K block (blocks overlap when R > stride).
  for (int n = 0; n < s.N; ++n)
    for (int h = 0; h < s.H; ++h)
      for (int wi = 0; wi < s.W; ++wi)
        for (int c = 0; c < s.C; ++c) {
          const T xv = x[((int64_t(n) * s.H + h) * s.W + wi) * s.C + c];
          for (int r = 0; r < s.R; ++r)
            for (int t = 0; t < s.S; ++t) {
              const int p = h * s.stride_h + r, q = wi * s.stride_w + t;
              T* yp = y + ((int64_t(n) * P + p) * Q + q) * s.K;
              const T* wp = w + ((int64_t(c) * s.R + r) * s.S + t) * s.K;
              for (int k = 0; k < s.K; ++k) yp[k] += xv * wp[k];
            }
        }
}

template <typename T>
void conv_transpose2d_backward_data_ref(const ConvTranspose2dShape& s, const T* dy, const T* w,
                                        T* dx) {
  detail::conv_transpose2d_check_args("conv_transpose2d_backward_data_ref", s,
                                      {{"dy", dy}, {"w", w}, {"dx", dx}});
  const int P = s.P(), Q = s.Q();
  for (int n = 0; n < s.N; ++n)
    for (int h = 0; h < s.H; ++h)
      for (int wi = 0; wi < s.W; ++wi)
        for (int c = 0; c < s.C; ++c) {
          T acc = T(0);
          for (int r = 0; r < s.R; ++r)
            for (int t = 0; t < s.S; ++t) {
              const int p = h * s.stride_h + r, q = wi * s.stride_w + t;
              const T* dyp = dy + ((int64_t(n) * P + p) * Q + q) * s.K;
              const T* wp = w + ((int64_t(c) * s.R + r) * s.S + t) * s.K;
              for (int k = 0; k < s.K; ++k) acc += dyp[k] * wp[k];
            }
          dx[((int64_t(n) * s.H + h) * s.W + wi) * s.C + c] = acc;
        }
}

template <typename T>
void conv_transpose2d_backward_weight_ref(const ConvTranspose2dShape& s, const T* x, const T* dy,
                                          T* dw, T* dbias) {
  detail::conv_transpose2d_check_args("conv_transpose2d_backward_weight_ref", s,
                                      {{"x", x}, {"dy", dy}, {"dw", dw}});
  const int P = s.P(), Q = s.Q();
  for (int64_t i = 0; i < s.w_size(); ++i) dw[i] = T(0);
  for (int n = 0; n < s.N; ++n)
    for (int h = 0; h < s.H; ++h)
      for (int wi = 0; wi < s.W; ++wi)
        for (int c = 0; c < s.C; ++c) {
          const T xv = x[((int64_t(n) * s.H + h) * s.W + wi) * s.C + c];
          for (int r = 0; r < s.R; ++r)
            for (int t = 0; t < s.S; ++t) {
              const int p = h * s.stride_h + r, q = wi * s.stride_w + t;
              const T* dyp = dy + ((int64_t(n) * P + p) * Q + q) * s.K;
              T* dwp = dw + ((int64_t(c) * s.R + r) * s.S + t) * s.K;
              for (int k = 0; k < s.K; ++k) dwp[k] += xv * dyp[k];
            }
        }
  // The bias is added to every output pixel, including any that no input reaches (R < stride).
  if (dbias) {
    for (int k = 0; k < s.K; ++k) dbias[k] = T(0);
    for (int64_t i = 0; i < s.y_size(); ++i) dbias[i % s.K] += dy[i];
  }
}

#define UNET_INSTANTIATE_CONV_TRANSPOSE2D_REF(T)                                                 \
  template void conv_transpose2d_forward_ref<T>(const ConvTranspose2dShape&, const T*, const T*, \
                                                const T*, T*);                                   \
  template void conv_transpose2d_backward_data_ref<T>(const ConvTranspose2dShape&, const T*,     \
                                                      const T*, T*);                             \
  template void conv_transpose2d_backward_weight_ref<T>(const ConvTranspose2dShape&, const T*,   \
                                                        const T*, T*, T*);
UNET_INSTANTIATE_CONV_TRANSPOSE2D_REF(float)
UNET_INSTANTIATE_CONV_TRANSPOSE2D_REF(double)
#undef UNET_INSTANTIATE_CONV_TRANSPOSE2D_REF

}  // namespace unet::kernels
