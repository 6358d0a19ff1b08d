// elementwise CUDA kernels (math and bytes per element in elementwise.h). All are memory bound,
// so the only optimisation is wide memory access: one grid-stride kernel per op that, when every
// pointer is 16-byte aligned, processes n/4 float4 groups and then the n%4 tail with scalars (the
// same thread mapping handles both, so any n and any alignment work). Each element is read and
// written by the same thread, which makes in-place calls (y == x) safe.
//
// The per-op functors below hold the pointers and say what one element (and one float4) does; the
// shared kernel template instantiates one kernel per op.

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/elementwise_check.h"

namespace unet::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1 << 16;  // grid-stride loops cover the rest

int blocks_for(int64_t work) {
  return int(std::max<int64_t>(1, std::min<int64_t>((work + kThreads - 1) / kThreads, kMaxBlocks)));
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Applies f to the four lanes of a float4.
template <typename F>
__device__ __forceinline__ float4 map4(const float4& a, F f) {
  return make_float4(f(a.x), f(a.y), f(a.z), f(a.w));
}
template <typename F>
__device__ __forceinline__ float4 map4(const float4& a, const float4& b, F f) {
  return make_float4(f(a.x, b.x), f(a.y, b.y), f(a.z, b.z), f(a.w, b.w));
}

// y = f() (kArity 0), f(a) (1) or f(a, b) (2) over flat arrays; unused inputs are null.
template <typename F, int kArity>
struct MapOp {
  const float* a;
  const float* b;
  float* y;
  F f;
  __device__ void one(int64_t i) const {
    if constexpr (kArity == 0) {
      y[i] = f();
    } else if constexpr (kArity == 1) {
      y[i] = f(a[i]);
    } else {
      y[i] = f(a[i], b[i]);
    }
  }
  __device__ void four(int64_t i4) const {
    float4 r;
    if constexpr (kArity == 0) {
      const float v = f();
      r = make_float4(v, v, v, v);
    } else if constexpr (kArity == 1) {
      r = map4(reinterpret_cast<const float4*>(a)[i4], f);
    } else {
      r = map4(reinterpret_cast<const float4*>(a)[i4], reinterpret_cast<const float4*>(b)[i4], f);
    }
    reinterpret_cast<float4*>(y)[i4] = r;
  }
};

// Note: no __restrict__ on the functor pointers, because in-place calls alias them.
template <typename Op>
__global__ void map_kernel(int64_t n, Op op, bool vec) {
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t i = first; i < n4; i += stride) op.four(i);
    done = n4 * 4;
  }
  for (int64_t i = done + first; i < n; i += stride) op.one(i);
}

template <int kArity, typename F>
void launch_map(const char* name, int64_t n, const float* a, const float* b, float* y, F f,
                Stream stream) {
  if (n == 0) return;
  const bool vec = aligned16(y) && (kArity < 1 || aligned16(a)) && (kArity < 2 || aligned16(b));
  const int64_t work = vec ? std::max<int64_t>(n / 4, n % 4) : n;
  map_kernel<<<blocks_for(work), kThreads, 0, stream>>>(n, MapOp<F, kArity>{a, b, y, f}, vec);
  cuda_check(cudaGetLastError(), name, __FILE__, __LINE__);
}

// ---- per-element math; must match elementwise_cpu_ref.cpp ----
struct Relu {
  __device__ float operator()(float x) const { return x < 0.0f ? 0.0f : x; }
};
struct ReluBackward {  // (y, dy)
  __device__ float operator()(float y, float dy) const { return y > 0.0f ? dy : 0.0f; }
};
struct LeakyRelu {
  float slope;
  __device__ float operator()(float x) const { return x > 0.0f ? x : slope * x; }
};
struct LeakyReluBackward {  // (x, dy)
  float slope;
  __device__ float operator()(float x, float dy) const { return x > 0.0f ? dy : slope * dy; }
};
struct Sigmoid {
  // expf (not __expf) keeps the result within a few ulp of the CPU reference.
  __device__ float operator()(float x) const {
    const float e = expf(-fabsf(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
  }
};
struct SigmoidBackward {  // (y, dy)
  __device__ float operator()(float y, float dy) const { return dy * y * (1.0f - y); }
};
struct Add {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Mul {
  __device__ float operator()(float a, float b) const { return a * b; }
};
struct Scale {
  float alpha;
  __device__ float operator()(float x) const { return alpha * x; }
};
struct Fill {
  float value;
  __device__ float operator()() const { return value; }
};

// y[p, c] += bias[c]; v4 handles 4 channels at once (C % 4 == 0).
__global__ void bias_add_kernel(int64_t total, int C, const float* __restrict__ bias,
                                float* __restrict__ y) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    y[i] += bias[i % C];
  }
}
__global__ void bias_add_kernel4(int64_t total4, int C4, const float4* __restrict__ bias,
                                 float4* __restrict__ y) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total4;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float4 b = bias[i % C4];
    float4 v = y[i];
    v.x += b.x;
    v.y += b.y;
    v.z += b.z;
    v.w += b.w;
    y[i] = v;
  }
}

}  // namespace

void relu_forward_cuda(int64_t n, const float* x, float* y, Stream stream) {
  detail::elementwise_check_args("relu_forward_cuda", n, {{"x", x}, {"y", y}});
  launch_map<1>("launch of relu_forward", n, x, nullptr, y, Relu{}, stream);
}

void relu_backward_cuda(int64_t n, const float* y, const float* dy, float* dx, Stream stream) {
  detail::elementwise_check_args("relu_backward_cuda", n, {{"y", y}, {"dy", dy}, {"dx", dx}});
  launch_map<2>("launch of relu_backward", n, y, dy, dx, ReluBackward{}, stream);
}

void leaky_relu_forward_cuda(int64_t n, float slope, const float* x, float* y, Stream stream) {
  detail::elementwise_check_args("leaky_relu_forward_cuda", n, {{"x", x}, {"y", y}});
  launch_map<1>("launch of leaky_relu_forward", n, x, nullptr, y, LeakyRelu{slope}, stream);
}

void leaky_relu_backward_cuda(int64_t n, float slope, const float* x, const float* dy, float* dx,
                              Stream stream) {
  detail::elementwise_check_args("leaky_relu_backward_cuda", n, {{"x", x}, {"dy", dy}, {"dx", dx}});
  launch_map<2>("launch of leaky_relu_backward", n, x, dy, dx, LeakyReluBackward{slope}, stream);
}

void sigmoid_forward_cuda(int64_t n, const float* x, float* y, Stream stream) {
  detail::elementwise_check_args("sigmoid_forward_cuda", n, {{"x", x}, {"y", y}});
  launch_map<1>("launch of sigmoid_forward", n, x, nullptr, y, Sigmoid{}, stream);
}

void sigmoid_backward_cuda(int64_t n, const float* y, const float* dy, float* dx, Stream stream) {
  detail::elementwise_check_args("sigmoid_backward_cuda", n, {{"y", y}, {"dy", dy}, {"dx", dx}});
  launch_map<2>("launch of sigmoid_backward", n, y, dy, dx, SigmoidBackward{}, stream);
}

void add_cuda(int64_t n, const float* a, const float* b, float* y, Stream stream) {
  detail::elementwise_check_args("add_cuda", n, {{"a", a}, {"b", b}, {"y", y}});
  launch_map<2>("launch of add", n, a, b, y, Add{}, stream);
}

void mul_cuda(int64_t n, const float* a, const float* b, float* y, Stream stream) {
  detail::elementwise_check_args("mul_cuda", n, {{"a", a}, {"b", b}, {"y", y}});
  launch_map<2>("launch of mul", n, a, b, y, Mul{}, stream);
}

void scale_cuda(int64_t n, float alpha, const float* x, float* y, Stream stream) {
  detail::elementwise_check_args("scale_cuda", n, {{"x", x}, {"y", y}});
  launch_map<1>("launch of scale", n, x, nullptr, y, Scale{alpha}, stream);
}

void accumulate_cuda(int64_t n, const float* x, float* y, Stream stream) {
  detail::elementwise_check_args("accumulate_cuda", n, {{"x", x}, {"y", y}});
  // y = y + x as a binary map with a = y (reads y, then writes it in the same thread).
  launch_map<2>("launch of accumulate", n, y, x, y, Add{}, stream);
}

void bias_add_cuda(int64_t pixels, int C, const float* bias, float* y, Stream stream) {
  detail::bias_add_check_args("bias_add_cuda", pixels, C, bias, y);
  if (pixels == 0) return;
  const int64_t total = pixels * C;
  if (C % 4 == 0 && aligned16(bias) && aligned16(y)) {
    bias_add_kernel4<<<blocks_for(total / 4), kThreads, 0, stream>>>(
        total / 4, C / 4, reinterpret_cast<const float4*>(bias), reinterpret_cast<float4*>(y));
    UNET_CUDA_CHECK_LAUNCH("bias_add_kernel4");
  } else {
    bias_add_kernel<<<blocks_for(total), kThreads, 0, stream>>>(total, C, bias, y);
    UNET_CUDA_CHECK_LAUNCH("bias_add_kernel");
  }
}

void fill_cuda(int64_t n, float value, float* y, Stream stream) {
  detail::elementwise_check_args("fill_cuda", n, {{"y", y}});
  launch_map<0>("launch of fill", n, nullptr, nullptr, y, Fill{value}, stream);
}

}  // namespace unet::kernels
