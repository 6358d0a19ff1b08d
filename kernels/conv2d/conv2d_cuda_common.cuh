// Shared pieces of the CUDA conv2d variants (conv2d_cuda_v*.cu): the device-side geometry, the
// implicit-GEMM operand gathers used by v2 and v3, the deterministic split-K bookkeeping for
// backward-weight and the fixed-order reduction kernels.
//
// The three passes as GEMMs (NHWC activations, KRSC weights, rows of the output are M, columns N;
// "gathered" = read on the fly through the convolution's index map, no im2col buffer):
//
//   pass             M      N  Kg     A [M x Kg]                B [Kg x N]
//   forward          N*P*Q  K  R*S*C  A[m][kk]  = x  gathered   B[kk][k] = w[k][kk]
//   backward-data    N*H*W  C  R*S*K  A[m][kk]  = dy gathered   B[kk][c] = w[k][r][s][c]
//   backward-weight  R*S*C  K  N*P*Q  A[rsc][j] = x  gathered   B[j][k]  = dy[j][k]
//
// (backward-weight is computed as dw^T so the narrow K side picks the tile width like the others.)
// Each pass is 2*N*P*Q*K*R*S*C FLOPs; the operands are read once per tile pass, so the bytes moved
// are |x| + |w| + |y| times the re-read factor of the tiling (Kg/BK tiles, M/BM x N/BN blocks).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/conv2d/conv2d.h"

namespace unet::kernels::detail::conv2d_cuda {

// Plain-old-data copy of the shape with P and Q precomputed, passed by value to kernels.
struct Geom {
  int N, H, W, C, K, R, S, pad_h, pad_w, stride_h, stride_w, P, Q;
};

inline Geom make_geom(const Conv2dShape& s) {
  return Geom{s.N,     s.H,     s.W,        s.C,        s.K,   s.R,  s.S,
              s.pad_h, s.pad_w, s.stride_h, s.stride_w, s.P(), s.Q()};
}

inline Conv2dShape to_shape(const Geom& g) {
  Conv2dShape s;
  s.N = g.N, s.H = g.H, s.W = g.W, s.C = g.C, s.K = g.K, s.R = g.R, s.S = g.S;
  s.pad_h = g.pad_h, s.pad_w = g.pad_w, s.stride_h = g.stride_h, s.stride_w = g.stride_w;
  return s;
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

inline unsigned ceil_div(int64_t a, int64_t b) { return static_cast<unsigned>((a + b - 1) / b); }

// ---- Deterministic split-K plan for backward-weight (shape and tile only, never the device). ----
struct SplitK {
  int chunks;     // number of partial dw tiles written to the workspace
  int chunk_len;  // rows of the N*P*Q reduction per chunk, a multiple of the k-tile depth
};

// Aims at ~2048 blocks in total so even the 3-tile layers (K=32, RSC=288) fill the device, while
// every chunk keeps at least 16 k-tiles of work; at most 1024 chunks bounds the workspace.
inline SplitK plan_split_k(int64_t m, int64_t n, int64_t kg, int bm, int bn, int bk) {
  const int64_t tiles = ((m + bm - 1) / bm) * ((n + bn - 1) / bn);
  int64_t chunks = (2048 + tiles - 1) / tiles;
  const int64_t by_len = (kg + 16 * bk - 1) / (16 * bk);
  if (chunks > by_len) chunks = by_len;
  if (chunks > 1024) chunks = 1024;
  if (chunks < 1) chunks = 1;
  int64_t len = (kg + chunks - 1) / chunks;
  len = (len + bk - 1) / bk * bk;
  chunks = (kg + len - 1) / len;
  return SplitK{static_cast<int>(chunks), static_cast<int>(len)};
}

// dbias partials: one per block of 1024 rows of N*P*Q, at most 256 blocks.
inline SplitK plan_dbias(int64_t npq) {
  int64_t chunks = (npq + 1023) / 1024;
  if (chunks > 256) chunks = 256;
  if (chunks < 1) chunks = 1;
  const int64_t len = (npq + chunks - 1) / chunks;
  return SplitK{static_cast<int>((npq + len - 1) / len), static_cast<int>(len)};
}

// Workspace floats: chunks * K*R*S*C partial dw, then the dbias partials.
inline size_t bwd_weight_ws_bytes(const Conv2dShape& s, const SplitK& sk) {
  const SplitK db = plan_dbias(int64_t(s.N) * s.P() * s.Q());
  return (size_t(sk.chunks) * size_t(s.w_size()) + size_t(db.chunks) * size_t(s.K)) * sizeof(float);
}

// ---- Kernels shared by all variants (conv2d_cuda_dispatch.cu). ----
// out[i] = sum_{z < chunks} part[z * count + i], summed in increasing z.
void sum_partials(const float* part, int chunks, int64_t count, float* out, Stream stream);
// dbias[k] = sum over the N*P*Q rows of dy[j][k] * (relu_y[j][k] > 0), via fixed-order partials.
void dbias_reduce(const Geom& g, const float* dy, const float* relu_y, float* dbias,
                  float* workspace, Stream stream);

// ---- Variant entry points (arguments already validated by the dispatcher). ----
void forward_v1(const Geom& g, const float* x, const float* w, const float* bias, float* y,
                bool relu, Stream stream);
void backward_data_v1(const Geom& g, const float* dy, const float* w, const float* relu_y,
                      float* dx, Stream stream);
size_t backward_weight_v1_ws(const Conv2dShape& s);
void backward_weight_v1(const Geom& g, const float* x, const float* dy, const float* relu_y,
                        float* dw, float* dbias, float* workspace, Stream stream);

void forward_v2(const Geom& g, const float* x, const float* w, const float* bias, float* y,
                bool relu, Stream stream);
void backward_data_v2(const Geom& g, const float* dy, const float* w, const float* relu_y,
                      float* dx, Stream stream);
size_t backward_weight_v2_ws(const Conv2dShape& s);
void backward_weight_v2(const Geom& g, const float* x, const float* dy, const float* relu_y,
                        float* dw, float* dbias, float* workspace, Stream stream);

void forward_v3(const Geom& g, const float* x, const float* w, const float* bias, float* y,
                bool relu, Stream stream);
void backward_data_v3(const Geom& g, const float* dy, const float* w, const float* relu_y,
                      float* dx, Stream stream);
size_t backward_weight_v3_ws(const Conv2dShape& s);
void backward_weight_v3(const Geom& g, const float* x, const float* dy, const float* relu_y,
                        float* dw, float* dbias, float* workspace, Stream stream);

// ---- Implicit-GEMM operand gathers (v2 and v3). ----
// A "unit" is 4 consecutive elements along the operand's contiguous direction: along kk for a
// K-contiguous operand (kContigK), along m/n otherwise. `fix(mn)` precomputes what depends only on
// the row (or the first of the 4 rows), once per thread before the k loop; `load(f, kk)` gathers a
// unit, with zeros for anything outside the tensor or the GEMM. `vec` selects one 16-byte load and
// is only set when the contiguous channel count is a multiple of 4 and the pointer is aligned.

__device__ __forceinline__ float4 f4(float a, float b, float c, float d) {
  return make_float4(a, b, c, d);
}

__device__ __forceinline__ float relu_mask(float v, const float* relu_y, int64_t i) {
  return (relu_y == nullptr || relu_y[i] > 0.0f) ? v : 0.0f;
}

// Forward A: x[n, p*sh - ph + r, q*sw - pw + s, c], m = (n,p,q), kk = (r,s,c); contiguous in c.
struct FwdA {
  static constexpr bool kContigK = true;
  Geom g;
  const float* x;
  int M, Kg;
  bool vec;
  struct Fix {
    int64_t base;
    int h0, w0;
    bool ok;
  };
  __device__ Fix fix(int m) const {
    Fix f{0, 0, 0, m < M};
    if (f.ok) {
      const int q = m % g.Q, t = m / g.Q, p = t % g.P, n = t / g.P;
      f.base = int64_t(n) * g.H * g.W * g.C;
      f.h0 = p * g.stride_h - g.pad_h;
      f.w0 = q * g.stride_w - g.pad_w;
    }
    return f;
  }
  __device__ float one(const Fix& f, int kk) const {
    if (!f.ok || kk >= Kg) return 0.0f;
    const int c = kk % g.C, rs = kk / g.C, s = rs % g.S, r = rs / g.S;
    const int h = f.h0 + r, w = f.w0 + s;
    if (h < 0 || h >= g.H || w < 0 || w >= g.W) return 0.0f;
    return __ldg(x + f.base + (int64_t(h) * g.W + w) * g.C + c);
  }
  __device__ float4 load(const Fix& f, int kk) const {
    if (vec) {  // C % 4 == 0: the 4 kk share (r,s); Kg % 4 == 0 so all 4 are in range together
      if (!f.ok || kk >= Kg) return f4(0, 0, 0, 0);
      const int c = kk % g.C, rs = kk / g.C, s = rs % g.S, r = rs / g.S;
      const int h = f.h0 + r, w = f.w0 + s;
      if (h < 0 || h >= g.H || w < 0 || w >= g.W) return f4(0, 0, 0, 0);
      return __ldg(reinterpret_cast<const float4*>(x + f.base + (int64_t(h) * g.W + w) * g.C + c));
    }
    return f4(one(f, kk), one(f, kk + 1), one(f, kk + 2), one(f, kk + 3));
  }
};

// Forward B: w[n][kk] (KRSC rows are exactly the GEMM's k index); contiguous in kk.
struct FwdB {
  static constexpr bool kContigK = true;
  const float* w;
  int N, Kg;
  bool vec;
  struct Fix {
    const float* row;
    bool ok;
  };
  __device__ Fix fix(int n) const { return Fix{w + int64_t(n < N ? n : 0) * Kg, n < N}; }
  __device__ float4 load(const Fix& f, int kk) const {
    if (!f.ok || kk >= Kg) return f4(0, 0, 0, 0);
    if (vec) return __ldg(reinterpret_cast<const float4*>(f.row + kk));
    return f4(__ldg(f.row + kk), kk + 1 < Kg ? __ldg(f.row + kk + 1) : 0.0f,
              kk + 2 < Kg ? __ldg(f.row + kk + 2) : 0.0f,
              kk + 3 < Kg ? __ldg(f.row + kk + 3) : 0.0f);
  }
};

// Backward-data A: dy[n, p, q, k] * mask where h + ph - r = p*sh and w + pw - s = q*sw,
// m = (n,h,w), kk = (r,s,k); contiguous in k. Other (r,s) taps are zeros (stride 2: 3/4 of them).
struct BwdDataA {
  static constexpr bool kContigK = true;
  Geom g;
  const float* dy;
  const float* relu_y;
  int M, Kg;
  bool vec;
  struct Fix {
    int64_t base;
    int hh, ww;
    bool ok;
  };
  __device__ Fix fix(int m) const {
    Fix f{0, 0, 0, m < M};
    if (f.ok) {
      const int w = m % g.W, t = m / g.W, h = t % g.H, n = t / g.H;
      f.base = int64_t(n) * g.P * g.Q * g.K;
      f.hh = h + g.pad_h;
      f.ww = w + g.pad_w;
    }
    return f;
  }
  // Offset of dy[n,p,q,0] for tap (r,s), or -1 when no output position uses it.
  __device__ int64_t tap(const Fix& f, int r, int s) const {
    const int ph = f.hh - r, pw = f.ww - s;
    if (ph < 0 || pw < 0 || ph % g.stride_h || pw % g.stride_w) return -1;
    const int p = ph / g.stride_h, q = pw / g.stride_w;
    if (p >= g.P || q >= g.Q) return -1;
    return f.base + (int64_t(p) * g.Q + q) * g.K;
  }
  __device__ float one(const Fix& f, int kk) const {
    if (!f.ok || kk >= Kg) return 0.0f;
    const int k = kk % g.K, rs = kk / g.K, s = rs % g.S, r = rs / g.S;
    const int64_t o = tap(f, r, s);
    if (o < 0) return 0.0f;
    return relu_mask(__ldg(dy + o + k), relu_y, o + k);
  }
  __device__ float4 load(const Fix& f, int kk) const {
    if (vec) {  // K % 4 == 0: the 4 kk share (r,s)
      if (!f.ok || kk >= Kg) return f4(0, 0, 0, 0);
      const int k = kk % g.K, rs = kk / g.K, s = rs % g.S, r = rs / g.S;
      const int64_t o = tap(f, r, s);
      if (o < 0) return f4(0, 0, 0, 0);
      float4 v = __ldg(reinterpret_cast<const float4*>(dy + o + k));
      if (relu_y != nullptr) {
        const float4 y = __ldg(reinterpret_cast<const float4*>(relu_y + o + k));
        v = f4(y.x > 0.0f ? v.x : 0.0f, y.y > 0.0f ? v.y : 0.0f, y.z > 0.0f ? v.z : 0.0f,
               y.w > 0.0f ? v.w : 0.0f);
      }
      return v;
    }
    return f4(one(f, kk), one(f, kk + 1), one(f, kk + 2), one(f, kk + 3));
  }
};

// Backward-data B: w[k][r][s][c] at kk = (r,s,k), column c; contiguous in c (MN direction).
struct BwdDataB {
  static constexpr bool kContigK = false;
  Geom g;
  const float* w;
  int N, Kg;  // N = C
  bool vec;
  struct Fix {
    int c;
  };
  __device__ Fix fix(int c) const { return Fix{c}; }
  __device__ float4 load(const Fix& f, int kk) const {
    if (kk >= Kg || f.c >= N) return f4(0, 0, 0, 0);
    const int k = kk % g.K, rs = kk / g.K;
    const float* p = w + (int64_t(k) * g.R * g.S + rs) * g.C + f.c;
    if (vec) return __ldg(reinterpret_cast<const float4*>(p));
    return f4(__ldg(p), f.c + 1 < N ? __ldg(p + 1) : 0.0f, f.c + 2 < N ? __ldg(p + 2) : 0.0f,
              f.c + 3 < N ? __ldg(p + 3) : 0.0f);
  }
};

// Backward-weight A: dy[j][k] * mask, row k, reduction index j = (n,p,q); contiguous in k.
struct BwdWeightA {
  static constexpr bool kContigK = false;
  const float* dy;
  const float* relu_y;
  int M, Kg;  // M = K, Kg = N*P*Q
  bool vec;
  struct Fix {
    int k;
  };
  __device__ Fix fix(int k) const { return Fix{k}; }
  __device__ float4 load(const Fix& f, int j) const {
    if (j >= Kg || f.k >= M) return f4(0, 0, 0, 0);
    const int64_t o = int64_t(j) * M + f.k;
    if (vec) {
      float4 v = __ldg(reinterpret_cast<const float4*>(dy + o));
      if (relu_y != nullptr) {
        const float4 y = __ldg(reinterpret_cast<const float4*>(relu_y + o));
        v = f4(y.x > 0.0f ? v.x : 0.0f, y.y > 0.0f ? v.y : 0.0f, y.z > 0.0f ? v.z : 0.0f,
               y.w > 0.0f ? v.w : 0.0f);
      }
      return v;
    }
    float v[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      v[i] = f.k + i < M ? relu_mask(__ldg(dy + o + i), relu_y, o + i) : 0.0f;
    }
    return f4(v[0], v[1], v[2], v[3]);
  }
};

// Backward-weight B: x[n, p*sh - ph + r, q*sw - pw + s, c] at j = (n,p,q), column rsc = (r,s,c);
// contiguous in c (MN direction).
struct BwdWeightB {
  static constexpr bool kContigK = false;
  Geom g;
  const float* x;
  int N, Kg;  // N = R*S*C, Kg = N*P*Q
  bool vec;
  struct Fix {
    int rsc, r, s, c;
  };
  __device__ Fix fix(int rsc) const {
    const int c = rsc % g.C, t = rsc / g.C;
    return Fix{rsc, t / g.S, t % g.S, c};
  }
  __device__ float4 load(const Fix& f, int j) const {
    if (j >= Kg || f.rsc >= N) return f4(0, 0, 0, 0);
    const int q = j % g.Q, t = j / g.Q, p = t % g.P, n = t / g.P;
    const int h0 = p * g.stride_h - g.pad_h, w0 = q * g.stride_w - g.pad_w;
    const int64_t base = int64_t(n) * g.H * g.W * g.C;
    if (vec) {  // C % 4 == 0: the 4 columns share (r,s) and are all in range together
      const int h = h0 + f.r, w = w0 + f.s;
      if (h < 0 || h >= g.H || w < 0 || w >= g.W) return f4(0, 0, 0, 0);
      return __ldg(reinterpret_cast<const float4*>(x + base + (int64_t(h) * g.W + w) * g.C + f.c));
    }
    // Slow path (C % 4 != 0): the 4 columns may straddle (r,s) boundaries, so decompose each.
    float v[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int rsc = f.rsc + i, c = rsc % g.C, t2 = rsc / g.C;
      const int h = h0 + t2 / g.S, w = w0 + t2 % g.S;
      v[i] = (rsc < N && h >= 0 && h < g.H && w >= 0 && w < g.W)
                 ? __ldg(x + base + (int64_t(h) * g.W + w) * g.C + c)
                 : 0.0f;
    }
    return f4(v[0], v[1], v[2], v[3]);
  }
};

// ---- Epilogues: store(m, n, v, z) for an in-range (m, n); z is the split-K chunk. ----
struct FwdOut {  // y[m][n] = act(v + bias[n]): bias and ReLU fused
  float* y;
  const float* bias;
  int N;
  bool relu;
  __device__ void store(int m, int n, float v, int) const {
    if (bias != nullptr) v += __ldg(bias + n);
    if (relu) v = v > 0.0f ? v : 0.0f;  // as the reference: NaN and -0 become +0
    y[int64_t(m) * N + n] = v;
  }
};
struct PlainOut {  // out[m][n] = v (dx)
  float* out;
  int N;
  __device__ void store(int m, int n, float v, int) const { out[int64_t(m) * N + n] = v; }
};
// Backward-weight runs as dw^T (M = R*S*C rows, N = K columns) so the narrow side K picks the tile
// width like the other passes; chunk z's partial is stored untransposed: part[z][n][m] = v.
struct PartialOutT {
  float* part;
  int M, N;
  __device__ void store(int m, int n, float v, int z) const {
    part[(int64_t(z) * N + n) * M + m] = v;
  }
};

// Per-thread share of one operand tile: ROWS (m or n extent) x BK, split into 4-element units that
// thread `tid` loads (global -> registers) for every k-tile and then stores to shared memory, where
// element (row, k) lives at sm[row * RS + k * KS]. A unit becomes one 16-byte shared store when
// its 4 elements are adjacent there. TF32 rounds at the store, so each element converts once.
template <class Op, int ROWS, int BK, int THREADS>
struct TileLoader {
  static constexpr int kUnits = ROWS * BK / 4;
  static constexpr int kPer = (kUnits + THREADS - 1) / THREADS;
  typename Op::Fix fix[kPer];
  int row[kPer], koff[kPer];
  float4 reg[kPer];

  __device__ void init(const Op& op, int base, int tid) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int u = tid + i * THREADS;
      if (Op::kContigK) {
        row[i] = u / (BK / 4);
        koff[i] = (u % (BK / 4)) * 4;
      } else {
        koff[i] = u / (ROWS / 4);
        row[i] = (u % (ROWS / 4)) * 4;
      }
      if (u >= kUnits) row[i] = -1;
      fix[i] = op.fix(base + (row[i] < 0 ? 0 : row[i]));
    }
  }
  __device__ void load(const Op& op, int k0) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      if (row[i] >= 0) reg[i] = op.load(fix[i], k0 + koff[i]);
    }
  }
  template <int RS, int KS, bool TF32>
  __device__ void store(float* sm) const {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      if (row[i] < 0) continue;
      float4 v = reg[i];
      if (TF32) v = f4(tf32(v.x), tf32(v.y), tf32(v.z), tf32(v.w));
      if (Op::kContigK) {  // elements (row, koff + e)
        float* p = sm + row[i] * RS + koff[i] * KS;
        if (KS == 1) {
          *reinterpret_cast<float4*>(p) = v;
        } else {
          p[0] = v.x, p[KS] = v.y, p[2 * KS] = v.z, p[3 * KS] = v.w;
        }
      } else {  // elements (row + e, koff)
        float* p = sm + row[i] * RS + koff[i] * KS;
        if (RS == 1) {
          *reinterpret_cast<float4*>(p) = v;
        } else {
          p[0] = v.x, p[RS] = v.y, p[2 * RS] = v.z, p[3 * RS] = v.w;
        }
      }
    }
  }
  // Round-to-nearest to TF32 (10-bit mantissa), as cvt.rna.tf32.f32 does; the low 13 bits become 0.
  __device__ static float tf32(float x) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return __uint_as_float(r);
  }
};

// One implicit-GEMM problem: operands, sizes, epilogue and the k range of each split-K chunk.
template <class A, class B, class Out>
struct Problem {
  A a;
  B b;
  Out out;
  int M, N, Kg;
  int chunk_len;  // reduction rows per blockIdx.z (a multiple of BK); Kg when not split
};

}  // namespace unet::kernels::detail::conv2d_cuda
