// max_pool2d CPU naive reference: plain loops over the formulas in max_pool2d.h, the executable
// spec for the fast CPU path and every CUDA variant. Templated (float, double) so the
// finite-difference gradient checks can run it in double.
//
// Cost: forward N*P*Q*C*(R*S-1) comparisons, reading x once per window (R*S*C*4 bytes per output
// pixel) and writing y; backward the same comparisons again plus one scatter-add per output.

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "kernels/max_pool2d/max_pool2d.h"
#include "kernels/max_pool2d/max_pool2d_check.h"

namespace unet::kernels {
namespace detail {

void max_pool2d_check_args(const char* op, const MaxPool2dShape& s,
                           std::initializer_list<std::pair<const char*, const void*>> ptrs) {
  auto fail = [&](const std::string& what) {
    std::ostringstream o;
    o << op << ": " << what << " (shape N=" << s.N << " H=" << s.H << " W=" << s.W << " C=" << s.C
      << " window=" << s.R << "x" << s.S << " stride=" << s.stride_h << "," << s.stride_w << ")";
    throw std::invalid_argument(o.str());
  };
  if (s.N < 1 || s.H < 1 || s.W < 1 || s.C < 1)
    fail("input dims N,H,W,C must all be >= 1; pass a non-empty input");
  if (s.R < 1 || s.S < 1) fail("window R,S must be >= 1");
  if (s.stride_h < 1 || s.stride_w < 1) fail("strides must be >= 1");
  if (s.R > s.H || s.S > s.W)
    fail("window is larger than the input; pool a larger input or use a smaller window");
  for (const auto& [name, ptr] : ptrs) {
    if (ptr == nullptr) fail(std::string(name) + " is null; pass a buffer of the shape's size");
  }
}

}  // namespace detail

namespace {

// Index into the window of the first maximum (row-major), NaN winning, for channel c.
template <typename T>
int64_t window_argmax(const MaxPool2dShape& s, const T* x, int n, int p, int q, int c) {
  int64_t best =
      ((int64_t(n) * s.H + int64_t(p) * s.stride_h) * s.W + int64_t(q) * s.stride_w) * s.C + c;
  for (int r = 0; r < s.R; ++r) {
    for (int t = 0; t < s.S; ++t) {
      const int64_t idx =
          ((int64_t(n) * s.H + int64_t(p) * s.stride_h + r) * s.W + int64_t(q) * s.stride_w + t) *
              s.C +
          c;
      if (x[idx] > x[best] || (std::isnan(x[idx]) && idx != best)) best = idx;
    }
  }
  return best;
}

}  // namespace

template <typename T>
void max_pool2d_forward_ref(const MaxPool2dShape& s, const T* x, T* y) {
  detail::max_pool2d_check_args("max_pool2d_forward_ref", s, {{"x", x}, {"y", y}});
  const int P = s.P(), Q = s.Q();
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q)
        for (int c = 0; c < s.C; ++c)
          y[((int64_t(n) * P + p) * Q + q) * s.C + c] = x[window_argmax(s, x, n, p, q, c)];
}

template <typename T>
void max_pool2d_backward_ref(const MaxPool2dShape& s, const T* x, const T* dy, T* dx) {
  detail::max_pool2d_check_args("max_pool2d_backward_ref", s, {{"x", x}, {"dy", dy}, {"dx", dx}});
  const int P = s.P(), Q = s.Q();
  for (int64_t i = 0; i < s.x_size(); ++i) dx[i] = T(0);
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q)
        for (int c = 0; c < s.C; ++c)
          dx[window_argmax(s, x, n, p, q, c)] += dy[((int64_t(n) * P + p) * Q + q) * s.C + c];
}

template void max_pool2d_forward_ref<float>(const MaxPool2dShape&, const float*, float*);
template void max_pool2d_forward_ref<double>(const MaxPool2dShape&, const double*, double*);
template void max_pool2d_backward_ref<float>(const MaxPool2dShape&, const float*, const float*,
                                             float*);
template void max_pool2d_backward_ref<double>(const MaxPool2dShape&, const double*, const double*,
                                              double*);

}  // namespace unet::kernels
