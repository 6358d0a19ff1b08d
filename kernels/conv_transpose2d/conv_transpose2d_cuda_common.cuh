// Shared pieces of the CUDA conv_transpose2d variants (conv_transpose2d_cuda_*.cu): the device
// geometry, the three passes written as GEMM operand/epilogue functors for v2/v3, the
// deterministic split-K plan for backward-weight and the fixed-order reductions.
//
// The passes as GEMMs (Mg x Ng result, inner dimension Kg), m = input pixel (n,h,w),
// j = (r,s,k) column of the R*S*K block a pixel feeds:
//   forward          Mg = N*H*W  Ng = RSK  Kg = C        A = x[m][c]          B = w[c][j]
//                    epilogue scatters C[m][j] + bias[k] to y[n, h*R + r, w*S + s, k]
//   backward-data    Mg = N*H*W  Ng = C    Kg = RSK      A = dy gathered      B = w[c][j]^T
//   backward-weight  Mg = C      Ng = RSK  Kg = N*H*W    A = x^T              B = dy gathered
//                    (split-K over pixels: partial dw tiles in the workspace, summed in order)
// v2/v3 need R == stride_h and S == stride_w: then y address = ybase(m) + yoff(j), separable, and
// every y element is produced exactly once, so the scatter needs no atomics and no zero-fill.
// Each pass is 2*N*H*W*C*R*S*K FLOPs; a 64x64 tile re-reads A Ng/64 times and B Mg/64 times.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"

namespace unet::kernels::detail::conv_transpose2d_cuda {

// Plain copy of the shape with P, Q precomputed, passed by value to kernels.
struct Geom {
  int N, H, W, C, K, R, S, stride_h, stride_w, P, Q;
};

inline Geom make_geom(const ConvTranspose2dShape& s) {
  return Geom{s.N, s.H, s.W, s.C, s.K, s.R, s.S, s.stride_h, s.stride_w, s.P(), s.Q()};
}

inline unsigned ceil_div(int64_t a, int64_t b) { return static_cast<unsigned>((a + b - 1) / b); }

// Offset in y (or dy) of input pixel m's block corner, and of column j = (r,s,k) inside it.
// Valid for any stride (the block corner is (h*stride_h, w*stride_w)).
__device__ __forceinline__ int64_t y_base(const Geom& g, int64_t m) {
  // The dispatcher rejects N*H*W >= 2^31, so 32-bit division suffices (int64 division is a long
  // instruction sequence, and this runs once per operand element).
  const int mi = int(m), hw = g.H * g.W;
  const int n = mi / hw, rem = mi - n * hw, h = rem / g.W, w = rem - h * g.W;
  return ((int64_t(n) * g.P + int64_t(h) * g.stride_h) * g.Q + int64_t(w) * g.stride_w) * g.K;
}
__device__ __forceinline__ int64_t y_off(const Geom& g, int j) {
  const int k = j % g.K, rs = j / g.K, s = rs % g.S, r = rs / g.S;
  return (int64_t(r) * g.Q + s) * g.K + k;
}

// ---- GEMM operand/epilogue functors. a(m, kk) / b(kk, n) read operands (callers bounds-check);
// store(split, m, n, v) writes one result. kAKFast / kBNFast say which index is contiguous in
// memory so the tile loaders can order their reads for coalescing.

struct ForwardOp {
  Geom g;
  const float *x, *w, *bias;
  float* y;
  static constexpr bool kAKFast = true;  // x[m][c]: c contiguous
  static constexpr bool kBNFast = true;  // w[c][j]: j contiguous
  __device__ float a(int64_t m, int64_t kk) const { return x[m * g.C + kk]; }
  __device__ float b(int64_t kk, int64_t n) const { return w[kk * (int64_t(g.R) * g.S * g.K) + n]; }
  __device__ void store(int, int64_t m, int64_t n, float v) const {
    y[y_base(g, m) + y_off(g, int(n))] = bias ? v + bias[n % g.K] : v;
  }
};

struct BackwardDataOp {
  Geom g;
  const float *dy, *w;
  float* dx;
  static constexpr bool kAKFast = true;   // dy gathered: j (hence k) contiguous
  static constexpr bool kBNFast = false;  // w[c][j] read as B[j][c]: j (the K dim) contiguous
  __device__ float a(int64_t m, int64_t kk) const { return dy[y_base(g, m) + y_off(g, int(kk))]; }
  __device__ float b(int64_t kk, int64_t n) const { return w[n * (int64_t(g.R) * g.S * g.K) + kk]; }
  __device__ void store(int, int64_t m, int64_t n, float v) const { dx[m * g.C + n] = v; }
};

struct BackwardWeightOp {
  Geom g;
  const float *x, *dy;
  float* partial;                         // [split][C][RSK]
  static constexpr bool kAKFast = false;  // x[m][c] read as A[c][m]: c (the M dim) contiguous
  static constexpr bool kBNFast = true;   // dy gathered: j contiguous
  __device__ float a(int64_t m, int64_t kk) const { return x[kk * g.C + m]; }
  __device__ float b(int64_t kk, int64_t n) const { return dy[y_base(g, kk) + y_off(g, int(n))]; }
  __device__ void store(int split, int64_t m, int64_t n, float v) const {
    const int64_t rsk = int64_t(g.R) * g.S * g.K;
    partial[(int64_t(split) * g.C + m) * rsk + n] = v;
  }
};

// ---- Deterministic split-K plan for backward-weight: a function of the shape only. ----
struct SplitPlan {
  int splits;            // partial dw copies in the workspace
  int64_t split_len;     // input pixels per split
  int64_t dbias_blocks;  // row blocks of the dbias first pass
};
constexpr int64_t kMinSplitLen = 1024;  // enough work per split to amortise the partial write
constexpr int kMaxSplits = 512;
constexpr int64_t kDbiasBlockRows = 256;

inline SplitPlan plan_splits(const ConvTranspose2dShape& s) {
  const int64_t pixels = int64_t(s.N) * s.H * s.W;
  int64_t len = std::max<int64_t>(kMinSplitLen, (pixels + kMaxSplits - 1) / kMaxSplits);
  SplitPlan p;
  p.splits = int((pixels + len - 1) / len);
  p.split_len = len;
  p.dbias_blocks = (int64_t(s.N) * s.P() * s.Q() + kDbiasBlockRows - 1) / kDbiasBlockRows;
  return p;
}
inline size_t workspace_floats(const ConvTranspose2dShape& s) {
  const SplitPlan p = plan_splits(s);
  return size_t(p.splits) * s.w_size() + size_t(p.dbias_blocks) * s.K;
}

// dw[i] = sum over splits, in split order, of partial[split][i]; then, when dbias is given,
// dbias = dy's column sums (fixed 256-row blocks, then blocks in order). Defined in
// conv_transpose2d_cuda_dispatch.cu.
void finish_backward_weight(const ConvTranspose2dShape& s, const float* partial, const float* dy,
                            float* dw, float* dbias, float* workspace_dbias, Stream stream);

// Per-variant entry points (shape and pointers already validated).
void v1_forward(const ConvTranspose2dShape& s, const float* x, const float* w, const float* bias,
                float* y, Stream stream);
void v1_backward_data(const ConvTranspose2dShape& s, const float* dy, const float* w, float* dx,
                      Stream stream);
void v1_backward_weight_partials(const ConvTranspose2dShape& s, const float* x, const float* dy,
                                 float* partial, Stream stream);
// v2: fp32 tiled GEMM on CUDA cores (conv_transpose2d_cuda_v2_gemm.cu).
void v2_forward(const ConvTranspose2dShape& s, const float* x, const float* w, const float* bias,
                float* y, Stream stream);
void v2_backward_data(const ConvTranspose2dShape& s, const float* dy, const float* w, float* dx,
                      Stream stream);
void v2_backward_weight_partials(const ConvTranspose2dShape& s, const float* x, const float* dy,
                                 float* partial, Stream stream);
// v3: the same GEMM on TF32 tensor cores (conv_transpose2d_cuda_v3_tf32.cu).
void v3_forward(const ConvTranspose2dShape& s, const float* x, const float* w, const float* bias,
                float* y, Stream stream);
void v3_backward_data(const ConvTranspose2dShape& s, const float* dy, const float* w, float* dx,
                      Stream stream);
void v3_backward_weight_partials(const ConvTranspose2dShape& s, const float* x, const float* dy,
                                 float* partial, Stream stream);

}  // namespace unet::kernels::detail::conv_transpose2d_cuda
