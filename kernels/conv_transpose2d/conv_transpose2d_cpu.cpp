// conv_transpose2d CPU fast path: GEMM (sgemm_cpu, OpenBLAS) + scatter/gather, OpenMP.
//
// With x NHWC (M = N*H*W rows of C) and w CRSK (C rows of R*S*K), one GEMM does all the products:
//   forward          col[M x RSK] = x[M x C] * w[C x RSK], then scatter col into y (+ bias)
//   backward-data    dcol[M x RSK] = gather of dy, then dx[M x C] = dcol * w^T[RSK x C]
//   backward-weight  dw[C x RSK] = x^T[C x M] * dcol[M x RSK],  dbias = column sums of dy
// Each pass is 2*M*C*RSK FLOPs; the scatter/gather moves M*RSK floats (= the size of y when
// R == stride, the U-Net's 2x2 stride-2 case). The gather of dcol is R memcpys of S*K contiguous
// floats per input pixel, since the S columns a pixel feeds are adjacent in y.
//
// When R == stride_h and S == stride_w the output blocks tile y exactly (no overlap, no gaps), so
// forward writes y directly from col (one pass); otherwise y is set to the bias and the chunks
// gather-add into it (each y pixel sums its own contributions, so threads never collide).
// M is processed in chunks of whole input rows so col stays under 32 MiB at any batch size.

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/common/gemm_cpu.h"
#include "kernels/common/scratch_cpu.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"
#include "kernels/conv_transpose2d/conv_transpose2d_check.h"
#include "kernels/conv_transpose2d/conv_transpose2d_cpu_common.h"

namespace unet::kernels {
namespace {

constexpr int64_t kChunkBudgetBytes = int64_t(32) << 20;
constexpr int64_t kBiasBlockRows = 256;  // fixed blocks: dbias summation order set by shape only

bool tiles_exactly(const ConvTranspose2dShape& s) { return s.R == s.stride_h && s.S == s.stride_w; }

// Input pixels per chunk: whole input rows (W pixels), at least one, RSK floats each.
int64_t chunk_pixels(const ConvTranspose2dShape& s) {
  const int64_t total = int64_t(s.N) * s.H * s.W;
  const int64_t per_pixel = int64_t(s.R) * s.S * s.K * 4;
  const int64_t rows = std::max<int64_t>(kChunkBudgetBytes / per_pixel / s.W, 1);
  return std::min(total, rows * s.W);
}

// y rows (n, h*stride+r) for the chunk's input rows, written straight from col (exact tiling).
void write_tiled(const ConvTranspose2dShape& s, const float* col, int64_t m0, int64_t rows,
                 const float* bias, float* y) {
  const int P = s.P(), Q = s.Q(), K = s.K;
  const int64_t rsk = int64_t(s.R) * s.S * K, sk = int64_t(s.S) * K;
  const int64_t in_rows = rows / s.W, g0 = m0 / s.W;  // global input rows g = n*H + h
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t gi = 0; gi < in_rows; ++gi)
    for (int r = 0; r < s.R; ++r) {
      const int64_t g = g0 + gi, n = g / s.H, h = g % s.H;
      float* yrow = y + ((n * P) + h * s.stride_h + r) * Q * K;  // W*S*K == Q*K floats
      const float* crow = col + gi * s.W * rsk + r * sk;
      for (int w = 0; w < s.W; ++w) {
        float* dst = yrow + w * sk;
        const float* src = crow + w * rsk;
        if (bias) {
          for (int64_t j = 0; j < sk; ++j) dst[j] = src[j] + bias[j % K];
        } else {
          std::memcpy(dst, src, sizeof(float) * sk);
        }
      }
    }
}

// y[n,p,q,:] += every col entry of this chunk that lands on (n,p,q), as a gather over y pixels.
void gather_add(const ConvTranspose2dShape& s, const float* col, int64_t m0, int64_t rows,
                float* y) {
  const int P = s.P(), Q = s.Q(), K = s.K;
  const int64_t rsk = int64_t(s.R) * s.S * K;
  const int64_t g0 = m0 / s.W, g1 = (m0 + rows) / s.W - 1;
  struct Task {
    int n, p, h_lo, h_hi;
  };
  std::vector<Task> tasks;
  for (int64_t n = g0 / s.H; n <= g1 / s.H; ++n) {
    const int h_lo = int(std::max<int64_t>(g0 - n * s.H, 0));
    const int h_hi = int(std::min<int64_t>(g1 - n * s.H, s.H - 1));
    const int p_hi = std::min(h_hi * s.stride_h + s.R - 1, P - 1);
    for (int p = h_lo * s.stride_h; p <= p_hi; ++p) tasks.push_back({int(n), p, h_lo, h_hi});
  }
#pragma omp parallel for schedule(static)
  for (int64_t ti = 0; ti < int64_t(tasks.size()); ++ti) {
    const Task tk = tasks[ti];
    for (int q = 0; q < Q; ++q) {
      float* yp = y + ((int64_t(tk.n) * P + tk.p) * Q + q) * K;
      for (int r = 0; r < s.R; ++r) {
        const int hr = tk.p - r;
        if (hr < 0 || hr % s.stride_h != 0) continue;
        const int h = hr / s.stride_h;
        if (h < tk.h_lo || h > tk.h_hi) continue;
        for (int t = 0; t < s.S; ++t) {
          const int wt = q - t;
          if (wt < 0 || wt % s.stride_w != 0) continue;
          const int w = wt / s.stride_w;
          if (w >= s.W) continue;
          const int64_t i = (int64_t(tk.n) * s.H + h) * s.W + w - m0;
          const float* src = col + i * rsk + (int64_t(r) * s.S + t) * K;
          for (int k = 0; k < K; ++k) yp[k] += src[k];
        }
      }
    }
  }
}

// dcol[i][(r,s,k)] = dy[n, h*stride_h + r, w*stride_w + s, k] for the chunk's input pixels.
void gather_dcol(const ConvTranspose2dShape& s, const float* dy, int64_t m0, int64_t rows,
                 float* dcol) {
  const int P = s.P(), Q = s.Q(), K = s.K;
  const int64_t rsk = int64_t(s.R) * s.S * K, sk = int64_t(s.S) * K;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t m = m0 + i, n = m / (int64_t(s.H) * s.W);
    const int h = int(m / s.W % s.H), w = int(m % s.W);
    for (int r = 0; r < s.R; ++r) {
      const float* src = dy + ((n * P + h * s.stride_h + r) * Q + int64_t(w) * s.stride_w) * K;
      std::memcpy(dcol + i * rsk + r * sk, src, sizeof(float) * sk);
    }
  }
}

}  // namespace

void conv_transpose2d_forward_cpu(const ConvTranspose2dShape& s, const float* x, const float* w,
                                  const float* bias, float* y) {
  detail::conv_transpose2d_check_args("conv_transpose2d_forward_cpu", s,
                                      {{"x", x}, {"w", w}, {"y", y}});
  const int64_t M = int64_t(s.N) * s.H * s.W, chunk = chunk_pixels(s);
  const int rsk = s.R * s.S * s.K;
  const bool tiled = tiles_exactly(s);
  if (!tiled) {
    const int64_t n = s.y_size();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) y[i] = bias ? bias[i % s.K] : 0.0f;
  }
  // Reused per-thread scratch (kernels/common/scratch_cpu.h): no zero fill per call.
  float* col = cpu_scratch(0, chunk * rsk);
  for (int64_t m0 = 0; m0 < M; m0 += chunk) {
    const int64_t rows = std::min(chunk, M - m0);
    sgemm_cpu(false, false, int(rows), rsk, s.C, 1.0f, x + m0 * s.C, s.C, w, rsk, 0.0f, col, rsk);
    if (tiled) {
      write_tiled(s, col, m0, rows, bias, y);
    } else {
      gather_add(s, col, m0, rows, y);
    }
  }
}

void conv_transpose2d_backward_data_cpu(const ConvTranspose2dShape& s, const float* dy,
                                        const float* w, float* dx) {
  detail::conv_transpose2d_check_args("conv_transpose2d_backward_data_cpu", s,
                                      {{"dy", dy}, {"w", w}, {"dx", dx}});
  const int64_t M = int64_t(s.N) * s.H * s.W, chunk = chunk_pixels(s);
  const int rsk = s.R * s.S * s.K;
  float* dcol = cpu_scratch(0, chunk * rsk);
  for (int64_t m0 = 0; m0 < M; m0 += chunk) {
    const int64_t rows = std::min(chunk, M - m0);
    gather_dcol(s, dy, m0, rows, dcol);
    sgemm_cpu(false, true, int(rows), s.C, rsk, 1.0f, dcol, rsk, w, rsk, 0.0f, dx + m0 * s.C, s.C);
  }
}

void conv_transpose2d_backward_weight_cpu(const ConvTranspose2dShape& s, const float* x,
                                          const float* dy, float* dw, float* dbias) {
  detail::conv_transpose2d_check_args("conv_transpose2d_backward_weight_cpu", s,
                                      {{"x", x}, {"dy", dy}, {"dw", dw}});
  const int64_t M = int64_t(s.N) * s.H * s.W, chunk = chunk_pixels(s);
  const int rsk = s.R * s.S * s.K;
  float* dcol = cpu_scratch(0, chunk * rsk);
  for (int64_t m0 = 0; m0 < M; m0 += chunk) {
    const int64_t rows = std::min(chunk, M - m0);
    gather_dcol(s, dy, m0, rows, dcol);
    // First chunk overwrites dw (beta 0), later ones accumulate in chunk order.
    sgemm_cpu(true, false, s.C, rsk, int(rows), 1.0f, x + m0 * s.C, s.C, dcol, rsk,
              m0 == 0 ? 0.0f : 1.0f, dw, rsk);
  }
  if (dbias) detail::conv_transpose2d_bias_grad_cpu(s, dy, dbias);
}

namespace detail {
void conv_transpose2d_bias_grad_cpu(const ConvTranspose2dShape& s, const float* dy, float* dbias) {
  const int K = s.K;
  const int64_t pixels = int64_t(s.N) * s.P() * s.Q();
  const int64_t blocks = (pixels + kBiasBlockRows - 1) / kBiasBlockRows;
  std::vector<double> partial(blocks * K, 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    double* out = partial.data() + b * K;
    const int64_t end = std::min(pixels, (b + 1) * kBiasBlockRows);
    for (int64_t i = b * kBiasBlockRows; i < end; ++i)
      for (int k = 0; k < K; ++k) out[k] += dy[i * K + k];
  }
  for (int k = 0; k < K; ++k) {
    double acc = 0.0;
    for (int64_t b = 0; b < blocks; ++b) acc += partial[b * K + k];
    dbias[k] = float(acc);
  }
}
}  // namespace detail

}  // namespace unet::kernels
