// max_pool2d CUDA variants (NHWC, no padding, floor output size; see max_pool2d.h for the math).
//
// Bytes (fp32): forward 4*(x_size + y_size) (x read once: windows do not overlap at stride 2),
// backward 4*(2*x_size + y_size) from DRAM; the backward gather re-reads each window's x once per
// covered input element, which the L1/L2 caches absorb.
//
// v1: one thread per output element (forward) / per input element (backward), scalar loads.
// v2: the same mapping over groups of 4 channels with float4 loads and stores (4x fewer memory
//     instructions); used when C % 4 == 0 and x, y/dy, dx are 16-byte aligned, otherwise v1 runs.
//
// Backward is a GATHER: the thread for input element (n,h,w,c) visits every window that covers
// (h,w), recomputes that window's argmax and adds dy when the argmax is (h,w). No atomics, every
// dx element written exactly once (zeros included), overlapping windows handled, and the windows
// are visited in the reference's (p, q) order, so results equal the CPU reference bit for bit.

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check.h"
#include "kernels/max_pool2d/max_pool2d.h"
#include "kernels/max_pool2d/max_pool2d_check.h"

namespace unet::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1 << 16;  // grid-stride loops cover the rest

int blocks_for(int64_t work) {
  return int(std::max<int64_t>(1, std::min<int64_t>((work + kThreads - 1) / kThreads, kMaxBlocks)));
}

// Plain-old-data copy of the shape for the kernels (MaxPool2dShape's methods are host-only).
struct Dims {
  int N, H, W, C, R, S, sh, sw, P, Q;
};

Dims make_dims(const MaxPool2dShape& s) {
  return Dims{s.N, s.H, s.W, s.C, s.R, s.S, s.stride_h, s.stride_w, s.P(), s.Q()};
}

__device__ __forceinline__ bool takes(float v, float best) { return v > best || isnan(v); }

// Offset (in elements, relative to the window's first element) of the first max, NaN winning.
__device__ __forceinline__ int64_t argmax_scalar(const float* xw, const Dims& d) {
  float best = xw[0];
  int64_t arg = 0;
  for (int r = 0; r < d.R; ++r) {
    for (int t = 0; t < d.S; ++t) {
      const int64_t off = (int64_t(r) * d.W + t) * d.C;
      const float v = xw[off];
      if ((r | t) && takes(v, best)) {
        best = v;
        arg = off;
      }
    }
  }
  return arg;
}

__global__ void forward_v1(Dims d, const float* __restrict__ x, float* __restrict__ y,
                           int64_t total) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(i % d.C);
    int64_t t = i / d.C;
    const int q = int(t % d.Q);
    t /= d.Q;
    const int p = int(t % d.P);
    const int n = int(t / d.P);
    const float* xw =
        x + ((int64_t(n) * d.H + int64_t(p) * d.sh) * d.W + int64_t(q) * d.sw) * d.C + c;
    y[i] = xw[argmax_scalar(xw, d)];
  }
}

// First and last window index (inclusive) whose window [k*stride, k*stride + size) covers `pos`.
__device__ __forceinline__ void covering(int pos, int size, int stride, int count, int& lo,
                                         int& hi) {
  lo = pos - size + 1 <= 0 ? 0 : (pos - size + stride) / stride;
  hi = min(pos / stride, count - 1);
}

__global__ void backward_v1(Dims d, const float* __restrict__ x, const float* __restrict__ dy,
                            float* __restrict__ dx, int64_t total) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(i % d.C);
    int64_t t = i / d.C;
    const int w = int(t % d.W);
    t /= d.W;
    const int h = int(t % d.H);
    const int n = int(t / d.H);
    int p_lo, p_hi, q_lo, q_hi;
    covering(h, d.R, d.sh, d.P, p_lo, p_hi);
    covering(w, d.S, d.sw, d.Q, q_lo, q_hi);
    float acc = 0.0f;
    for (int p = p_lo; p <= p_hi; ++p) {
      for (int q = q_lo; q <= q_hi; ++q) {
        const int64_t base =
            ((int64_t(n) * d.H + int64_t(p) * d.sh) * d.W + int64_t(q) * d.sw) * d.C + c;
        if (base + argmax_scalar(x + base, d) == i)
          acc += dy[((int64_t(n) * d.P + p) * d.Q + q) * d.C + c];
      }
    }
    dx[i] = acc;
  }
}

// ---- v2: float4 over channels. Pixel stride is C4 = C/4 float4s. ----
__device__ __forceinline__ float lane(const float4& v, int k) {
  return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w;
}

__global__ void forward_v2(Dims d, const float4* __restrict__ x, float4* __restrict__ y,
                           int64_t total) {
  const int C4 = d.C / 4;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c4 = int(i % C4);
    int64_t t = i / C4;
    const int q = int(t % d.Q);
    t /= d.Q;
    const int p = int(t % d.P);
    const int n = int(t / d.P);
    const float4* xw =
        x + ((int64_t(n) * d.H + int64_t(p) * d.sh) * d.W + int64_t(q) * d.sw) * C4 + c4;
    float4 best = xw[0];
    for (int r = 0; r < d.R; ++r) {
      for (int s = 0; s < d.S; ++s) {
        if (!(r | s)) continue;
        const float4 v = xw[(int64_t(r) * d.W + s) * C4];
        best.x = takes(v.x, best.x) ? v.x : best.x;
        best.y = takes(v.y, best.y) ? v.y : best.y;
        best.z = takes(v.z, best.z) ? v.z : best.z;
        best.w = takes(v.w, best.w) ? v.w : best.w;
      }
    }
    y[i] = best;
  }
}

__global__ void backward_v2(Dims d, const float4* __restrict__ x, const float4* __restrict__ dy,
                            float4* __restrict__ dx, int64_t total) {
  const int C4 = d.C / 4;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c4 = int(i % C4);
    int64_t t = i / C4;
    const int w = int(t % d.W);
    t /= d.W;
    const int h = int(t % d.H);
    const int n = int(t / d.H);
    int p_lo, p_hi, q_lo, q_hi;
    covering(h, d.R, d.sh, d.P, p_lo, p_hi);
    covering(w, d.S, d.sw, d.Q, q_lo, q_hi);
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int p = p_lo; p <= p_hi; ++p) {
      for (int q = q_lo; q <= q_hi; ++q) {
        const float4* xw =
            x + ((int64_t(n) * d.H + int64_t(p) * d.sh) * d.W + int64_t(q) * d.sw) * C4 + c4;
        // Per lane: the first max's window position (r, s) as r*S + s.
        float best[4];
        int arg[4] = {0, 0, 0, 0};
        const float4 v0 = xw[0];
        for (int k = 0; k < 4; ++k) best[k] = lane(v0, k);
        for (int r = 0; r < d.R; ++r) {
          for (int s = 0; s < d.S; ++s) {
            if (!(r | s)) continue;
            const float4 v = xw[(int64_t(r) * d.W + s) * C4];
            for (int k = 0; k < 4; ++k) {
              const float vk = lane(v, k);
              if (takes(vk, best[k])) {
                best[k] = vk;
                arg[k] = r * d.S + s;
              }
            }
          }
        }
        // This thread's element sits at window position (h - p*sh, w - q*sw).
        const int mine = (h - p * d.sh) * d.S + (w - q * d.sw);
        const float4 g = dy[((int64_t(n) * d.P + p) * d.Q + q) * C4 + c4];
        for (int k = 0; k < 4; ++k) {
          if (arg[k] == mine) acc[k] += lane(g, k);
        }
      }
    }
    dx[i] = make_float4(acc[0], acc[1], acc[2], acc[3]);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

void check_variant(const char* op, MaxPool2dVariant v) { kMaxPool2dVariants.at(v, op); }

}  // namespace

void max_pool2d_forward_cuda(MaxPool2dVariant v, const MaxPool2dShape& s, const float* x, float* y,
                             Stream stream) {
  detail::max_pool2d_check_args("max_pool2d_forward_cuda", s, {{"x", x}, {"y", y}});
  check_variant("max_pool2d_forward_cuda", v);
  const Dims d = make_dims(s);
  if (v == MaxPool2dVariant::kV2Vectorized && s.C % 4 == 0 && aligned16(x) && aligned16(y)) {
    const int64_t total = s.y_size() / 4;
    forward_v2<<<blocks_for(total), kThreads, 0, stream>>>(d, reinterpret_cast<const float4*>(x),
                                                           reinterpret_cast<float4*>(y), total);
    UNET_CUDA_CHECK_LAUNCH("max_pool2d forward_v2");
  } else {
    const int64_t total = s.y_size();
    forward_v1<<<blocks_for(total), kThreads, 0, stream>>>(d, x, y, total);
    UNET_CUDA_CHECK_LAUNCH("max_pool2d forward_v1");
  }
}

void max_pool2d_backward_cuda(MaxPool2dVariant v, const MaxPool2dShape& s, const float* x,
                              const float* dy, float* dx, Stream stream) {
  detail::max_pool2d_check_args("max_pool2d_backward_cuda", s, {{"x", x}, {"dy", dy}, {"dx", dx}});
  check_variant("max_pool2d_backward_cuda", v);
  const Dims d = make_dims(s);
  if (v == MaxPool2dVariant::kV2Vectorized && s.C % 4 == 0 && aligned16(x) && aligned16(dy) &&
      aligned16(dx)) {
    const int64_t total = s.x_size() / 4;
    backward_v2<<<blocks_for(total), kThreads, 0, stream>>>(d, reinterpret_cast<const float4*>(x),
                                                            reinterpret_cast<const float4*>(dy),
                                                            reinterpret_cast<float4*>(dx), total);
    UNET_CUDA_CHECK_LAUNCH("max_pool2d backward_v2");
  } else {
    const int64_t total = s.x_size();
    backward_v1<<<blocks_for(total), kThreads, 0, stream>>>(d, x, dy, dx, total);
    UNET_CUDA_CHECK_LAUNCH("max_pool2d backward_v1");
  }
}

}  // namespace unet::kernels
