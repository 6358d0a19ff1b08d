// concat CUDA variants (channel concat in NHWC; see concat.h).
//
// Bytes (fp32): 8*pixels*(C1+C2) per pass. Pure data movement, so the target is DRAM bandwidth.
//
// v1: one thread per output element; the thread's channel decides whether it reads a or b.
// v2: one thread per 4 output channels with float4 loads/stores; needs C1%4==0 and C2%4==0 (a
//     group of 4 never straddles the a/b boundary) and 16-byte aligned pointers, otherwise v1 runs.

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check.h"
#include "kernels/concat/concat.h"
#include "kernels/concat/concat_check.h"

namespace unet::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1 << 16;  // grid-stride loops cover the rest

int blocks_for(int64_t work) {
  return int(std::max<int64_t>(1, std::min<int64_t>((work + kThreads - 1) / kThreads, kMaxBlocks)));
}

// T = float (v1) or float4 (v2); C1, C2 are in units of T.
template <typename T>
__global__ void concat_forward_kernel(int64_t total, int C1, int C2, const T* __restrict__ a,
                                      const T* __restrict__ b, T* __restrict__ y) {
  const int C = C1 + C2;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = i / C;
    const int c = int(i - p * C);
    y[i] = c < C1 ? a[p * C1 + c] : b[p * C2 + (c - C1)];
  }
}

template <typename T>
__global__ void concat_backward_kernel(int64_t total, int C1, int C2, const T* __restrict__ dy,
                                       T* __restrict__ da, T* __restrict__ db) {
  const int C = C1 + C2;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = i / C;
    const int c = int(i - p * C);
    if (c < C1) {
      da[p * C1 + c] = dy[i];
    } else {
      db[p * C2 + (c - C1)] = dy[i];
    }
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

void check_variant(const char* op, ConcatVariant v) { kConcatVariants.at(v, op); }

}  // namespace

void concat_forward_cuda(ConcatVariant v, const ConcatShape& s, const float* a, const float* b,
                         float* y, Stream stream) {
  detail::concat_check_args("concat_forward_cuda", s, {{"a", a}, {"b", b}, {"y", y}});
  check_variant("concat_forward_cuda", v);
  if (s.pixels == 0) return;
  const int64_t total = s.pixels * (s.C1 + s.C2);
  if (v == ConcatVariant::kV2Vectorized && s.C1 % 4 == 0 && s.C2 % 4 == 0 && aligned16(a) &&
      aligned16(b) && aligned16(y)) {
    concat_forward_kernel<float4><<<blocks_for(total / 4), kThreads, 0, stream>>>(
        total / 4, s.C1 / 4, s.C2 / 4, reinterpret_cast<const float4*>(a),
        reinterpret_cast<const float4*>(b), reinterpret_cast<float4*>(y));
    UNET_CUDA_CHECK_LAUNCH("concat forward v2");
  } else {
    concat_forward_kernel<float>
        <<<blocks_for(total), kThreads, 0, stream>>>(total, s.C1, s.C2, a, b, y);
    UNET_CUDA_CHECK_LAUNCH("concat forward v1");
  }
}

void concat_backward_cuda(ConcatVariant v, const ConcatShape& s, const float* dy, float* da,
                          float* db, Stream stream) {
  detail::concat_check_args("concat_backward_cuda", s, {{"dy", dy}, {"da", da}, {"db", db}});
  check_variant("concat_backward_cuda", v);
  if (s.pixels == 0) return;
  const int64_t total = s.pixels * (s.C1 + s.C2);
  if (v == ConcatVariant::kV2Vectorized && s.C1 % 4 == 0 && s.C2 % 4 == 0 && aligned16(dy) &&
      aligned16(da) && aligned16(db)) {
    concat_backward_kernel<float4><<<blocks_for(total / 4), kThreads, 0, stream>>>(
        total / 4, s.C1 / 4, s.C2 / 4, reinterpret_cast<const float4*>(dy),
        reinterpret_cast<float4*>(da), reinterpret_cast<float4*>(db));
    UNET_CUDA_CHECK_LAUNCH("concat backward v2");
  } else {
    concat_backward_kernel<float>
        <<<blocks_for(total), kThreads, 0, stream>>>(total, s.C1, s.C2, dy, da, db);
    UNET_CUDA_CHECK_LAUNCH("concat backward v1");
  }
}

}  // namespace unet::kernels
