// conv2d CPU variant 3: direct NHWC convolution with packed filters and AVX2/FMA register
// blocking, all three passes, no im2col buffer. kernels/conv2d/README.md has the arithmetic.
//
// Why: im2col (variant 1) copies every input pixel R*S times into a column matrix and hands
// OpenBLAS one GEMM. At the U-Net's wide, shallow layers (16 or 32 channels at 128x128 or 256x256)
// that matrix is tens of MiB written and read back per pass, and the GEMM is thin (16 or 32
// output columns), so those layers ran at 25-45 GFLOP/s where the deep ones reach 150-190. Here
// the input is read where it lies.
//
// Forward. One micro-tile is kMR consecutive output pixels of one output row times kNR = 16 output
// channels, kMR x 2 vectors of 8 floats held in registers. For every tap (r, s) and input channel
// c it loads the 16 filter values of that (r, s, c) (2 vector loads: the filter is packed as
// [K/16][R][S][C][16], so they are contiguous and the next c follows) and broadcasts the kMR input
// values x[pixel_i + (r, s)][c] (scalar broadcasts straight from the NHWC input). With kMR = 6
// (16 registers, plain AVX2) that is 8 loads for 12 FMAs (192 flops); with kMR = 12 (32
// registers, where AVX-512VL is on) 14 loads for 24 FMAs. Pixels whose tap falls into the padding
// read a row of zeros, so the inner loop has no branches. Bias and ReLU are applied to the
// registers before the store.
//
// Backward-data (stride 1) is the forward conv of the masked dy with the filter rotated by 180
// degrees and its channel axes swapped, w'[c][r][s][k] = w[k][R-1-r][S-1-s][c], and padding
// R-1-pad: the same micro-tile with C outputs and K inputs per pixel.
//
// Backward-weight. dw[k][r][s][c] = sum over output pixels of g[pixel][k] * x[pixel + (r, s)][c]
// (g: dy masked by relu_y > 0). One micro-tile holds dw for 16 output channels (2 vectors) times
// kCB input channels of one tap (kCB = 8 with 32 registers, 4 with 16); per output pixel it loads
// 2 vectors of g and broadcasts kCB values of x: 10 loads for 16 FMAs at kCB = 8. The tile is
// loaded from and stored to a partial sum once per output row, so those memory operations are
// spread over Q pixels.
//
// Determinism: every forward and backward-data output element is computed by one micro-tile. The
// backward-weight partial sums are over a fixed partition of the output rows that depends on the
// shape alone, summed in partition order; dbias sums in double, in the same partitions. So results
// do not depend on the thread count.
//
// Built only where the compiler targets AVX2 and FMA (UNET_NATIVE on such a CPU);
// conv2d_direct_available() says whether it was, and the engine falls back to im2col otherwise.

#include "kernels/conv2d/conv2d_cpu_direct.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/common/scratch_cpu.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_check.h"

#if defined(__AVX2__) && defined(__FMA__)
#define UNET_CONV2D_DIRECT 1
#include <immintrin.h>
#else
#define UNET_CONV2D_DIRECT 0
#endif

namespace unet::kernels {

bool conv2d_direct_available() { return UNET_CONV2D_DIRECT != 0; }

bool conv2d_direct_applies(const Conv2dShape& s, Conv2dCpuPass pass) {
  if (!conv2d_direct_available()) return false;
  if (pass != Conv2dCpuPass::kBackwardData) return true;
  // Backward-data runs as a stride-1 forward conv with padding R-1-pad, which must be >= 0.
  return s.stride_h == 1 && s.stride_w == 1 && s.pad_h <= s.R - 1 && s.pad_w <= s.S - 1;
}

namespace detail {
void conv2d_check_direct(const char* op, const Conv2dShape& s, Conv2dCpuPass pass) {
  if (!conv2d_direct_available()) {
    throw std::invalid_argument(std::string(op) +
                                ": the direct conv was not built (it needs a compiler target with "
                                "AVX2 and FMA: configure with UNET_NATIVE=ON on such a CPU)");
  }
  if (!conv2d_direct_applies(s, pass)) {
    throw std::invalid_argument(std::string(op) +
                                ": the direct backward-data needs stride 1 and pad <= kernel size "
                                "- 1 (shape " +
                                conv2d_shape_string(s) + "); use conv2d_backward_data_cpu");
  }
}
}  // namespace detail

#if UNET_CONV2D_DIRECT
namespace {

constexpr int kNR = 16;  // output channels per micro-tile: two 8-float vectors
constexpr int kMR = 12;  // output pixels per forward micro-tile
constexpr int kCB = 8;   // input channels per backward-weight micro-tile
// cpu_scratch slots: the backward-weight partial sums, the masked (and padded) dy, the packed filter.
constexpr int kPartialSlot = 0, kGradSlot = 1, kPackSlot = 2;
// Backward-weight: at most this many partitions of the output rows, and partial sums of at most
// kPartialBudgetFloats floats in all (fewer partitions for big filters).
constexpr int64_t kMaxPartitions = 16;
constexpr int64_t kPartialBudgetFloats = int64_t(8) << 20;

int round_up(int v, int m) { return (v + m - 1) / m * m; }

// A convolution as the forward micro-tile sees it: `in` is [N][H][W][C], `out` [N][P][Q][K], the
// filter packed as [ceil(K/16)][R][S][C][16] (zeros past K), `bias` padded to a multiple of 16.
// Output pixel (n, p, q) starts at out + n*out_image + p*out_row + q*out_pixel; the strides are
// those of a dense [N][P][Q][K] tensor unless given (a transposed conv's tap writes every other
// pixel of every other row).
struct DirectConv {
  int N, H, W, C, K, R, S, pad_h, pad_w, stride_h, stride_w, P, Q;
  const float* in;
  const float* packed;
  const float* bias;  // nullable
  bool relu;
  float* out;
  int64_t out_image = 0, out_row = 0, out_pixel = 0;  // 0: dense
};

// packed[kb][r][s][c][j] = filter(kb*16 + j, r, s, c), 0 for kb*16 + j >= K.
template <typename Filter>
void pack_filter(int K, int R, int S, int C, Filter filter, float* packed) {
  const int blocks = (K + kNR - 1) / kNR;
  const int64_t per_block = int64_t(R) * S * C * kNR;
#pragma omp parallel for schedule(static)
  for (int kb = 0; kb < blocks; ++kb) {
    float* dst = packed + kb * per_block;
    for (int r = 0; r < R; ++r)
      for (int s = 0; s < S; ++s)
        for (int c = 0; c < C; ++c, dst += kNR)
          for (int j = 0; j < kNR; ++j) {
            const int k = kb * kNR + j;
            dst[j] = k < K ? filter(k, r, s, c) : 0.0f;
          }
  }
}

// Output pixels q0 .. q0+kMR-1 of output row (n, p), output channels kb*16 .. kb*16+15. Pixels past
// Q repeat pixel Q-1 (valid reads) and are not stored; channels past K are not stored.
void forward_tile(const DirectConv& d, const float* zeros, int n, int p, int kb, int q0) {
  __m256 acc[kMR][2];
#pragma GCC unroll 16
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  const int64_t tap_floats = int64_t(d.C) * kNR;
  const float* block = d.packed + int64_t(kb) * d.R * d.S * tap_floats;
  const bool interior = q0 + kMR <= d.Q;  // no pixel past the row's end
  for (int r = 0; r < d.R; ++r) {
    const int h = p * d.stride_h - d.pad_h + r;
    if (h < 0 || h >= d.H) continue;  // the whole tap row is padding: contributes 0
    const float* in_row = d.in + (int64_t(n) * d.H + h) * d.W * d.C;
    for (int s = 0; s < d.S; ++s) {
      const float* x[kMR];
      const int w_first = q0 * d.stride_w - d.pad_w + s;
      if (interior && w_first >= 0 && w_first + (kMR - 1) * d.stride_w < d.W) {
        // Every pixel's tap is inside the row: evenly spaced pointers, no clamping or padding.
        const float* base = in_row + int64_t(w_first) * d.C;
        const int64_t step = int64_t(d.stride_w) * d.C;
#pragma GCC unroll 16
        for (int i = 0; i < kMR; ++i) x[i] = base + i * step;
      } else {
#pragma GCC unroll 16
        for (int i = 0; i < kMR; ++i) {
          const int q = std::min(q0 + i, d.Q - 1);
          const int w = q * d.stride_w - d.pad_w + s;
          x[i] = (w >= 0 && w < d.W) ? in_row + int64_t(w) * d.C : zeros;
        }
      }
      const float* wt = block + (int64_t(r) * d.S + s) * tap_floats;
      for (int c = 0; c < d.C; ++c, wt += kNR) {
        const __m256 w0 = _mm256_loadu_ps(wt), w1 = _mm256_loadu_ps(wt + 8);
#pragma GCC unroll 16
        for (int i = 0; i < kMR; ++i) {
          const __m256 b = _mm256_broadcast_ss(x[i] + c);
          acc[i][0] = _mm256_fmadd_ps(b, w0, acc[i][0]);
          acc[i][1] = _mm256_fmadd_ps(b, w1, acc[i][1]);
        }
      }
    }
  }
  const int k0 = kb * kNR, k_count = std::min(kNR, d.K - k0);
  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 16
  for (int i = 0; i < kMR; ++i) {
    if (q0 + i >= d.Q) continue;  // a constant trip count, so acc stays in registers
    __m256 v0 = acc[i][0], v1 = acc[i][1];
    if (d.bias) {
      v0 = _mm256_add_ps(v0, _mm256_loadu_ps(d.bias + k0));
      v1 = _mm256_add_ps(v1, _mm256_loadu_ps(d.bias + k0 + 8));
    }
    if (d.relu) {  // max(v, 0) returns its second operand, 0, for NaN: as the reference's !(v > 0)
      v0 = _mm256_max_ps(v0, zero);
      v1 = _mm256_max_ps(v1, zero);
    }
    float* dst = d.out + n * d.out_image + p * d.out_row + (q0 + i) * d.out_pixel + k0;
    if (k_count == kNR) {
      _mm256_storeu_ps(dst, v0);
      _mm256_storeu_ps(dst + 8, v1);
    } else {
      alignas(32) float tmp[kNR];
      _mm256_store_ps(tmp, v0);
      _mm256_store_ps(tmp + 8, v1);
      std::memcpy(dst, tmp, sizeof(float) * k_count);
    }
  }
}

// Every micro-tile of the output, parallel over (output row, channel block).
void run_forward_tiles(DirectConv d) {
  if (d.out_pixel == 0) {
    d.out_pixel = d.K;
    d.out_row = int64_t(d.Q) * d.K;
    d.out_image = int64_t(d.P) * d.Q * d.K;
  }
  const int blocks = (d.K + kNR - 1) / kNR;
  const std::vector<float> zeros(d.C, 0.0f);
  const int64_t tasks = int64_t(d.N) * d.P * blocks;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tasks; ++t) {
    const int kb = int(t % blocks);
    const int64_t row = t / blocks;
    const int n = int(row / d.P), p = int(row % d.P);
    for (int q0 = 0; q0 < d.Q; q0 += kMR) forward_tile(d, zeros.data(), n, p, kb, q0);
  }
}

// dy masked by (relu_y > 0), with its channel stride padded from K to `ld` (zeros in the padding),
// into `g` ([pixels][ld]); or dy itself when there is nothing to mask or pad.
const float* masked_padded_grad(const float* dy, const float* relu_y, int64_t pixels, int K, int ld,
                                float* g) {
  if (!relu_y && ld == K) return dy;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < pixels; ++i) {
    const float* src = dy + i * K;
    const float* mask = relu_y ? relu_y + i * K : nullptr;
    float* dst = g + i * ld;
    for (int k = 0; k < K; ++k) dst[k] = (mask && !(mask[k] > 0.0f)) ? 0.0f : src[k];
    for (int k = K; k < ld; ++k) dst[k] = 0.0f;
  }
  return g;
}

// tile (the partial dw of channels kb*16.., tap (r, s), input channels c0..c0+kCB-1, layout
// [kCB][16]) += sum over q in [q_lo, q_hi] of g_row[q][0..15] (x) x_row[q*stride + offset][c0..]. A tail
// block (kFull false, fewer than kCB channels left) repeats its last channel, c_last, in the extra
// lanes, whose sums land in the padding of the partial sums and are never read.
template <bool kFull>
void weight_tile(const float* g_row, int ld, const float* x_row, int C, int c_last, int stride,
                 int offset, int q_lo, int q_hi, float* tile) {
  __m256 acc[kCB][2];
#pragma GCC unroll 16
  for (int i = 0; i < kCB; ++i) {
    acc[i][0] = _mm256_loadu_ps(tile + i * kNR);
    acc[i][1] = _mm256_loadu_ps(tile + i * kNR + 8);
  }
  int ci[kCB];
#pragma GCC unroll 16
  for (int i = 0; i < kCB; ++i) ci[i] = kFull ? i : std::min(i, c_last);
  for (int q = q_lo; q <= q_hi; ++q) {
    const __m256 g0 = _mm256_loadu_ps(g_row + int64_t(q) * ld);
    const __m256 g1 = _mm256_loadu_ps(g_row + int64_t(q) * ld + 8);
    const float* xp = x_row + int64_t(q * stride + offset) * C;
#pragma GCC unroll 16
    for (int i = 0; i < kCB; ++i) {
      const __m256 b = _mm256_broadcast_ss(xp + (kFull ? i : ci[i]));
      acc[i][0] = _mm256_fmadd_ps(b, g0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(b, g1, acc[i][1]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < kCB; ++i) {
    _mm256_storeu_ps(tile + i * kNR, acc[i][0]);
    _mm256_storeu_ps(tile + i * kNR + 8, acc[i][1]);
  }
}

}  // namespace

namespace detail {
void conv2d_direct_pointwise_strided(const PointwiseStrided& p) {
  const int Kp = round_up(p.K, kNR);
  float* packed = cpu_scratch(kPackSlot, size_t(Kp) * p.C);
  pack_filter(
      p.K, 1, 1, p.C, [&](int k, int, int, int c) { return p.w[c * p.w_c_stride + k]; }, packed);
  std::vector<float> bias_padded;
  if (p.bias) {
    bias_padded.assign(Kp, 0.0f);
    std::copy(p.bias, p.bias + p.K, bias_padded.begin());
  }
  DirectConv d{p.N,   p.H, p.W, p.C, p.K, 1,   1,      0,
               0,     1,   1,   p.H, p.W, p.x, packed, p.bias ? bias_padded.data() : nullptr,
               false, p.y};
  d.out_image = p.out_image, d.out_row = p.out_row, d.out_pixel = p.out_pixel;
  run_forward_tiles(d);
}
}  // namespace detail
#endif  // UNET_CONV2D_DIRECT

void conv2d_forward_cpu_direct(const Conv2dShape& s, const float* x, const float* w,
                               const float* bias, float* y, bool relu) {
  detail::conv2d_check_args("conv2d_forward_cpu_direct", s, {{"x", x}, {"w", w}, {"y", y}});
  detail::conv2d_check_direct("conv2d_forward_cpu_direct", s, Conv2dCpuPass::kForward);
#if UNET_CONV2D_DIRECT
  const int C = s.C, R = s.R, S = s.S, Kp = round_up(s.K, kNR);
  float* packed = cpu_scratch(kPackSlot, size_t(Kp) * R * S * C);
  pack_filter(
      s.K, R, S, C,
      [&](int k, int r, int t, int c) { return w[((int64_t(k) * R + r) * S + t) * C + c]; },
      packed);
  std::vector<float> bias_padded;
  if (bias) {
    bias_padded.assign(Kp, 0.0f);
    std::copy(bias, bias + s.K, bias_padded.begin());
  }
  run_forward_tiles({s.N, s.H, s.W, C, s.K, R, S, s.pad_h, s.pad_w, s.stride_h, s.stride_w, s.P(),
                     s.Q(), x, packed, bias ? bias_padded.data() : nullptr, relu, y});
#else
  (void)bias, (void)relu;     // unreachable: conv2d_check_direct threw
#endif
}

void conv2d_backward_data_cpu_direct(const Conv2dShape& s, const float* dy, const float* w,
                                     const float* relu_y, float* dx) {
  detail::conv2d_check_args("conv2d_backward_data_cpu_direct", s,
                            {{"dy", dy}, {"w", w}, {"dx", dx}});
  detail::conv2d_check_direct("conv2d_backward_data_cpu_direct", s, Conv2dCpuPass::kBackwardData);
#if UNET_CONV2D_DIRECT
  const int C = s.C, K = s.K, R = s.R, S = s.S, P = s.P(), Q = s.Q();
  const int64_t pixels = int64_t(s.N) * P * Q;
  const float* g = masked_padded_grad(dy, relu_y, pixels, K, K,
                                      relu_y ? cpu_scratch(kGradSlot, pixels * K) : nullptr);
  // The forward conv of g (K channels, P x Q) to dx (C channels, H x W) with the rotated filter.
  float* packed = cpu_scratch(kPackSlot, size_t(round_up(C, kNR)) * R * S * K);
  pack_filter(
      C, R, S, K,
      [&](int c, int r, int t, int k) {
        return w[((int64_t(k) * R + (R - 1 - r)) * S + (S - 1 - t)) * C + c];
      },
      packed);
  run_forward_tiles({s.N, P, Q, K, C, R, S, R - 1 - s.pad_h, S - 1 - s.pad_w, 1, 1, s.H, s.W, g,
                     packed, nullptr, false, dx});
#else
  (void)relu_y;               // unreachable: conv2d_check_direct threw
#endif
}

void conv2d_backward_weight_cpu_direct(const Conv2dShape& s, const float* x, const float* dy,
                                       const float* relu_y, float* dw, float* dbias) {
  detail::conv2d_check_args("conv2d_backward_weight_cpu_direct", s,
                            {{"x", x}, {"dy", dy}, {"dw", dw}});
  detail::conv2d_check_direct("conv2d_backward_weight_cpu_direct", s,
                              Conv2dCpuPass::kBackwardWeight);
#if UNET_CONV2D_DIRECT
  const int C = s.C, K = s.K, R = s.R, S = s.S, P = s.P(), Q = s.Q();
  const int Kp = round_up(K, kNR), Cp = round_up(C, kCB), k_blocks = Kp / kNR;
  const int64_t rows = int64_t(s.N) * P, pixels = rows * Q;
  const float* g =
      masked_padded_grad(dy, relu_y, pixels, K, Kp,
                         (relu_y || Kp != K) ? cpu_scratch(kGradSlot, pixels * Kp) : nullptr);

  // Partial sums per partition of the output rows, layout [kb][r][s][Cp][16].
  const int64_t partial_floats = int64_t(k_blocks) * R * S * Cp * kNR;
  const int64_t parts =
      std::clamp<int64_t>(kPartialBudgetFloats / partial_floats, 1, std::min(kMaxPartitions, rows));
  float* partials = cpu_scratch(kPartialSlot, parts * partial_floats);
  std::vector<double> bias_parts(dbias ? parts * K : 0, 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t part = 0; part < parts; ++part) {
    float* partial = partials + part * partial_floats;
    std::fill(partial, partial + partial_floats, 0.0f);
    for (int64_t row = part * rows / parts; row < (part + 1) * rows / parts; ++row) {
      const int n = int(row / P), p = int(row % P);
      const float* g_row = g + row * Q * Kp;
      for (int r = 0; r < R; ++r) {
        const int h = p * s.stride_h - s.pad_h + r;
        if (h < 0 || h >= s.H) continue;
        const float* x_row = x + (int64_t(n) * s.H + h) * s.W * C;
        for (int t = 0; t < S; ++t) {
          // Output columns q whose input column q*stride - pad + t lies inside 0 .. W-1.
          const int offset = t - s.pad_w;
          const int q_lo = std::max(0, (-offset + s.stride_w - 1) / s.stride_w);
          const int q_hi = std::min(Q - 1, (s.W - 1 - offset) / s.stride_w);
          if (s.W - 1 - offset < 0 || q_lo > q_hi) continue;
          for (int c0 = 0; c0 < C; c0 += kCB) {
            const int c_last = std::min(kCB, C - c0) - 1;
            for (int kb = 0; kb < k_blocks; ++kb) {
              float* tile = partial + ((int64_t(kb) * R + r) * S + t) * Cp * kNR + c0 * kNR;
              const float* gk = g_row + kb * kNR;
              if (c_last == kCB - 1) {
                weight_tile<true>(gk, Kp, x_row + c0, C, c_last, s.stride_w, offset, q_lo, q_hi,
                                  tile);
              } else {
                weight_tile<false>(gk, Kp, x_row + c0, C, c_last, s.stride_w, offset, q_lo, q_hi,
                                   tile);
              }
            }
          }
        }
      }
      if (dbias) {
        double* acc = bias_parts.data() + part * K;
        for (int q = 0; q < Q; ++q)
          for (int k = 0; k < K; ++k) acc[k] += g_row[int64_t(q) * Kp + k];
      }
    }
  }
  // dw[k][r][s][c] = the partitions' sums, in partition order.
  const int64_t taps = int64_t(R) * S;
#pragma omp parallel for schedule(static)
  for (int64_t krs = 0; krs < int64_t(K) * taps; ++krs) {
    const int k = int(krs / taps);
    const int64_t tap = krs % taps;
    const int64_t base = ((k / kNR) * taps + tap) * Cp * kNR + k % kNR;
    for (int c = 0; c < C; ++c) {
      float sum = 0.0f;
      for (int64_t part = 0; part < parts; ++part)
        sum += partials[part * partial_floats + base + int64_t(c) * kNR];
      dw[krs * C + c] = sum;
    }
  }
  if (dbias) {
    for (int k = 0; k < K; ++k) {
      double sum = 0.0;
      for (int64_t part = 0; part < parts; ++part) sum += bias_parts[part * K + k];
      dbias[k] = float(sum);
    }
  }
#else
  (void)relu_y, (void)dbias;  // unreachable: conv2d_check_direct threw
#endif
}

}  // namespace unet::kernels
