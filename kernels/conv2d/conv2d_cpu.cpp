// conv2d CPU fast path: im2col + sgemm_cpu (OpenBLAS) + OpenMP, same semantics as the reference.
//
// With NHWC activations and KRSC weights, the im2col matrix has one row per output pixel
// (M = N*P*Q rows) and R*S*C columns in (r, s, c) order, which is exactly the row layout of w:
//   forward          y[M x K]     = col[M x RSC] * w^T[RSC x K]          (+ bias, ReLU epilogue)
//   backward-data    dcol[M x RSC] = g[M x K] * w[K x RSC], then col2im (gather-add into dx)
//   backward-weight  dw[K x RSC]  = g^T[K x M] * col[M x RSC],  dbias = column sums of g
// where g = dy masked by (relu_y > 0). Each pass is 2*M*K*RSC FLOPs; the im2col buffer costs
// R*S extra reads of x per pass. For 1x1 / stride 1 / pad 0 convs x itself is the im2col matrix.
//
// M is processed in chunks of whole output rows so the scratch buffers stay under
// kChunkBudgetBytes (32 MiB) whatever the batch: batch 10 at 256x256 with C=32 would otherwise need
// a 755 MB im2col matrix. OpenMP parallelises the packing loops; the GEMM is called outside any
// parallel region so OpenBLAS can use its own threads. Reductions (dbias, dw over chunks) run in
// an order fixed by the shape alone, so results do not depend on the thread count.

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/common/gemm_cpu.h"
#include "kernels/common/scratch_cpu.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_check.h"

namespace unet::kernels {
namespace {

constexpr int64_t kChunkBudgetBytes = int64_t(32) << 20;
// cpu_scratch slots: the im2col (or dcol) columns, and the ReLU-masked upstream gradient.
constexpr int kColSlot = 0, kMaskSlot = 1;
// Rows per block of the dbias column sums: fixed, so the summation order is too.
constexpr int64_t kBiasBlockRows = 256;

bool is_pointwise(const Conv2dShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// Output pixels per chunk: a whole number of output rows (Q pixels), at least one row, such that
// `floats_per_pixel` floats of scratch per pixel fit the budget.
int64_t chunk_pixels(const Conv2dShape& s, int64_t floats_per_pixel) {
  const int64_t total = int64_t(s.N) * s.P() * s.Q();
  const int64_t fit = kChunkBudgetBytes / (4 * std::max<int64_t>(floats_per_pixel, 1));
  const int64_t rows = std::max<int64_t>(fit / s.Q(), 1);
  return std::min(total, rows * s.Q());
}

// col[i][(r,s,c)] for output pixels m0 .. m0+rows-1 (zeros where the window leaves the input).
void im2col(const Conv2dShape& s, const float* x, int64_t m0, int64_t rows, float* col) {
  const int P = s.P(), Q = s.Q();
  const int64_t rsc = int64_t(s.R) * s.S * s.C;
  const size_t c_bytes = sizeof(float) * s.C;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t m = m0 + i;
    const int n = int(m / (int64_t(P) * Q));
    const int p = int(m / Q % P), q = int(m % Q);
    float* dst = col + i * rsc;
    for (int r = 0; r < s.R; ++r) {
      const int h = p * s.stride_h - s.pad_h + r;
      for (int t = 0; t < s.S; ++t, dst += s.C) {
        const int w = q * s.stride_w - s.pad_w + t;
        if (h < 0 || h >= s.H || w < 0 || w >= s.W) {
          std::memset(dst, 0, c_bytes);
        } else {
          std::memcpy(dst, x + ((int64_t(n) * s.H + h) * s.W + w) * s.C, c_bytes);
        }
      }
    }
  }
}

// dx[n,h,w,:] += the dcol entries of this chunk that came from x[n,h,w,:]. Written as a gather
// (each dx pixel sums its own contributions) so threads never write the same element.
void col2im_add(const Conv2dShape& s, const float* dcol, int64_t m0, int64_t rows, float* dx) {
  const int P = s.P(), Q = s.Q();
  const int64_t rsc = int64_t(s.R) * s.S * s.C;
  // Chunks hold whole output rows: global output rows g0..g1 (g = n*P + p).
  const int64_t g0 = m0 / Q, g1 = (m0 + rows) / Q - 1;
  struct Task {
    int n, h, p_lo, p_hi;
  };
  std::vector<Task> tasks;
  for (int64_t n = g0 / P; n <= g1 / P; ++n) {
    const int p_lo = int(std::max<int64_t>(g0 - n * P, 0));
    const int p_hi = int(std::min<int64_t>(g1 - n * P, P - 1));
    const int h_lo = std::max(p_lo * s.stride_h - s.pad_h, 0);
    const int h_hi = std::min(p_hi * s.stride_h - s.pad_h + s.R - 1, s.H - 1);
    for (int h = h_lo; h <= h_hi; ++h) tasks.push_back({int(n), h, p_lo, p_hi});
  }
#pragma omp parallel for schedule(static)
  for (int64_t ti = 0; ti < int64_t(tasks.size()); ++ti) {
    const Task tk = tasks[ti];
    for (int w = 0; w < s.W; ++w) {
      float* dxp = dx + ((int64_t(tk.n) * s.H + tk.h) * s.W + w) * s.C;
      for (int r = 0; r < s.R; ++r) {
        const int hp = tk.h + s.pad_h - r;
        if (hp < 0 || hp % s.stride_h != 0) continue;
        const int p = hp / s.stride_h;
        if (p < tk.p_lo || p > tk.p_hi) continue;
        for (int t = 0; t < s.S; ++t) {
          const int wq = w + s.pad_w - t;
          if (wq < 0 || wq % s.stride_w != 0) continue;
          const int q = wq / s.stride_w;
          if (q >= Q) continue;
          const int64_t i = (int64_t(tk.n) * P + p) * Q + q - m0;
          const float* src = dcol + i * rsc + (int64_t(r) * s.S + t) * s.C;
          for (int c = 0; c < s.C; ++c) dxp[c] += src[c];
        }
      }
    }
  }
}

// The chunk's upstream gradient: dy itself, or dy masked by (relu_y > 0) copied into `buf`.
const float* masked_rows(const float* dy, const float* relu_y, int64_t m0, int64_t rows, int K) {
  const float* src = dy + m0 * K;
  if (!relu_y) return src;
  const float* ry = relu_y + m0 * K;
  const int64_t n = rows * K;
  float* dst = cpu_scratch(kMaskSlot, n);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) dst[i] = ry[i] > 0.0f ? src[i] : 0.0f;
  return dst;
}

// acc[k] += sum over the chunk's rows of g[., k], in fixed blocks of kBiasBlockRows.
void add_column_sums(const float* g, int64_t rows, int K, std::vector<double>& acc) {
  const int64_t blocks = (rows + kBiasBlockRows - 1) / kBiasBlockRows;
  std::vector<double> partial(blocks * K, 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    double* out = partial.data() + b * K;
    const int64_t end = std::min(rows, (b + 1) * kBiasBlockRows);
    for (int64_t i = b * kBiasBlockRows; i < end; ++i)
      for (int k = 0; k < K; ++k) out[k] += g[i * K + k];
  }
  for (int64_t b = 0; b < blocks; ++b)
    for (int k = 0; k < K; ++k) acc[k] += partial[b * K + k];
}

}  // namespace

void conv2d_forward_cpu(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                        float* y, bool relu) {
  detail::conv2d_check_args("conv2d_forward_cpu", s, {{"x", x}, {"w", w}, {"y", y}});
  const int64_t M = int64_t(s.N) * s.P() * s.Q();
  const int rsc = s.R * s.S * s.C, K = s.K;
  // Pointwise needs no scratch; chunk anyway so GEMM row counts stay well inside int.
  const int64_t chunk = chunk_pixels(s, is_pointwise(s) ? 1 : rsc);
  float* col = is_pointwise(s) ? nullptr : cpu_scratch(kColSlot, chunk * rsc);
  for (int64_t m0 = 0; m0 < M; m0 += chunk) {
    const int64_t rows = std::min(chunk, M - m0);
    const float* a = x + m0 * s.C;  // pointwise: x rows are the im2col rows
    if (!is_pointwise(s)) {
      im2col(s, x, m0, rows, col);
      a = col;
    }
    float* yc = y + m0 * K;
    sgemm_cpu(false, true, int(rows), K, rsc, 1.0f, a, rsc, w, rsc, 0.0f, yc, K);
    if (bias || relu) {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < rows; ++i) {
        float* yr = yc + i * K;
        for (int k = 0; k < K; ++k) {
          const float v = bias ? yr[k] + bias[k] : yr[k];
          yr[k] = (relu && !(v > 0.0f)) ? 0.0f : v;
        }
      }
    }
  }
}

void conv2d_backward_data_cpu(const Conv2dShape& s, const float* dy, const float* w,
                              const float* relu_y, float* dx) {
  detail::conv2d_check_args("conv2d_backward_data_cpu", s, {{"dy", dy}, {"w", w}, {"dx", dx}});
  const int64_t M = int64_t(s.N) * s.P() * s.Q();
  const int rsc = s.R * s.S * s.C, K = s.K;
  const bool pointwise = is_pointwise(s);
  const int64_t chunk =
      pointwise ? chunk_pixels(s, relu_y ? K : 1) : chunk_pixels(s, rsc + (relu_y ? K : 0));
  float* dcol = pointwise ? nullptr : cpu_scratch(kColSlot, chunk * rsc);
  if (!pointwise) std::fill(dx, dx + s.x_size(), 0.0f);
  for (int64_t m0 = 0; m0 < M; m0 += chunk) {
    const int64_t rows = std::min(chunk, M - m0);
    const float* g = masked_rows(dy, relu_y, m0, rows, K);
    if (pointwise) {  // dx rows are the dcol rows: write them directly
      sgemm_cpu(false, false, int(rows), s.C, K, 1.0f, g, K, w, s.C, 0.0f, dx + m0 * s.C, s.C);
    } else {
      sgemm_cpu(false, false, int(rows), rsc, K, 1.0f, g, K, w, rsc, 0.0f, dcol, rsc);
      col2im_add(s, dcol, m0, rows, dx);
    }
  }
}

void conv2d_backward_weight_cpu(const Conv2dShape& s, const float* x, const float* dy,
                                const float* relu_y, float* dw, float* dbias) {
  detail::conv2d_check_args("conv2d_backward_weight_cpu", s, {{"x", x}, {"dy", dy}, {"dw", dw}});
  const int64_t M = int64_t(s.N) * s.P() * s.Q();
  const int rsc = s.R * s.S * s.C, K = s.K;
  const bool pointwise = is_pointwise(s);
  const int64_t chunk =
      pointwise ? chunk_pixels(s, relu_y ? K : 1) : chunk_pixels(s, rsc + (relu_y ? K : 0));
  float* col = pointwise ? nullptr : cpu_scratch(kColSlot, chunk * rsc);
  std::vector<double> bias_acc(dbias ? K : 0, 0.0);
  for (int64_t m0 = 0; m0 < M; m0 += chunk) {
    const int64_t rows = std::min(chunk, M - m0);
    const float* g = masked_rows(dy, relu_y, m0, rows, K);
    const float* b = x + m0 * s.C;
    if (!pointwise) {
      im2col(s, x, m0, rows, col);
      b = col;
    }
    // First chunk overwrites dw (beta 0), later ones accumulate in chunk order.
    sgemm_cpu(true, false, K, rsc, int(rows), 1.0f, g, K, b, rsc, m0 == 0 ? 0.0f : 1.0f, dw, rsc);
    if (dbias) add_column_sums(g, rows, K, bias_acc);
  }
  if (dbias)
    for (int k = 0; k < K; ++k) dbias[k] = float(bias_acc[k]);
}

}  // namespace unet::kernels
