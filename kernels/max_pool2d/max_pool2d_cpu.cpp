// max_pool2d CPU fast path: OpenMP over output rows, channel-innermost loops so the compiler
// vectorises the comparisons over C (NHWC keeps a pixel's channels contiguous).
//
// Bytes (fp32): forward 4*(x_size + y_size), backward 4*(2*x_size + y_size); both are memory
// bound. The comparisons and the summation order match the reference exactly, so results are
// bitwise equal to max_pool2d_*_ref (the tests check that).

#include <algorithm>
#include <vector>

#include "kernels/max_pool2d/max_pool2d.h"
#include "kernels/max_pool2d/max_pool2d_check.h"

namespace unet::kernels {

void max_pool2d_forward_cpu(const MaxPool2dShape& s, const float* x, float* y) {
  detail::max_pool2d_check_args("max_pool2d_forward_cpu", s, {{"x", x}, {"y", y}});
  const int P = s.P(), Q = s.Q(), C = s.C;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < s.N; ++n) {
    for (int p = 0; p < P; ++p) {
      for (int q = 0; q < Q; ++q) {
        float* yp = y + ((int64_t(n) * P + p) * Q + q) * C;
        const float* x0 =
            x + ((int64_t(n) * s.H + int64_t(p) * s.stride_h) * s.W + int64_t(q) * s.stride_w) * C;
        std::copy(x0, x0 + C, yp);
        for (int r = 0; r < s.R; ++r) {
          for (int t = 0; t < s.S; ++t) {
            if (r == 0 && t == 0) continue;
            const float* xr = x0 + (int64_t(r) * s.W + t) * C;
            // v != v is isnan without the libm call, so the loop stays vectorisable.
            for (int c = 0; c < C; ++c) {
              const float v = xr[c];
              yp[c] = (v > yp[c] || v != v) ? v : yp[c];
            }
          }
        }
      }
    }
  }
}

namespace {

// Scatters dy for output row (n, p) into dx. `best`/`arg` are per-thread scratch of size C.
void backward_row(const MaxPool2dShape& s, const float* x, const float* dy, float* dx, int n, int p,
                  std::vector<float>& best, std::vector<int64_t>& arg) {
  const int Q = s.Q(), C = s.C;
  for (int q = 0; q < Q; ++q) {
    const int64_t base =
        ((int64_t(n) * s.H + int64_t(p) * s.stride_h) * s.W + int64_t(q) * s.stride_w) * C;
    for (int c = 0; c < C; ++c) {
      best[c] = x[base + c];
      arg[c] = base + c;
    }
    for (int r = 0; r < s.R; ++r) {
      for (int t = 0; t < s.S; ++t) {
        if (r == 0 && t == 0) continue;
        const int64_t off = base + (int64_t(r) * s.W + t) * C;
        for (int c = 0; c < C; ++c) {
          const float v = x[off + c];
          const bool take = v > best[c] || v != v;
          best[c] = take ? v : best[c];
          arg[c] = take ? off + c : arg[c];
        }
      }
    }
    const float* dyp = dy + ((int64_t(n) * s.P() + p) * Q + q) * C;
    for (int c = 0; c < C; ++c) dx[arg[c]] += dyp[c];
  }
}

}  // namespace

void max_pool2d_backward_cpu(const MaxPool2dShape& s, const float* x, const float* dy, float* dx) {
  detail::max_pool2d_check_args("max_pool2d_backward_cpu", s, {{"x", x}, {"dy", dy}, {"dx", dx}});
  const int64_t xs = s.x_size();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < xs; ++i) dx[i] = 0.0f;
  const int P = s.P();
  // When windows do not overlap vertically, output rows p scatter into disjoint input rows, so
  // (n, p) rows run in parallel; otherwise only images run in parallel. Either way each dx element
  // receives its contributions in the reference's (p, q) order, so sums are bitwise equal.
  const bool rows_disjoint = s.stride_h >= s.R;
  const int64_t tasks = rows_disjoint ? int64_t(s.N) * P : s.N;
#pragma omp parallel
  {
    std::vector<float> best(s.C);
    std::vector<int64_t> arg(s.C);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      if (rows_disjoint) {
        backward_row(s, x, dy, dx, int(task / P), int(task % P), best, arg);
      } else {
        for (int p = 0; p < P; ++p) backward_row(s, x, dy, dx, int(task), p, best, arg);
      }
    }
  }
}

}  // namespace unet::kernels
