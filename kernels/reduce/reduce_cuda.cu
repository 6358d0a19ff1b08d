// reduce CUDA: deterministic two-level tree sums (see reduce.h). No atomics: level 1 writes one
// double partial per block into the workspace, level 2 (one block) reduces the partials. The grid
// size and every thread's element set depend only on n (or pixels, C), never on the device, so a
// given input sums in the same order on every run and every GPU.
//
// Bytes (fp32): 4*n read + 8 bytes per partial. Accumulating in double costs nothing visible here
// (the kernels are DRAM bound) and removes the fp32 rounding error of long sums.
//
// sum:          level 1 = up to kSumMaxBlocks blocks of kThreads; thread t of the grid adds the
//               groups of 4 consecutive elements g = t, t + G, t + 2G, ... (G = grid threads), with
//               a float4 load when x is 16-byte aligned and scalar loads otherwise: same elements,
//               same order, so alignment does not change the result. Then a shared-memory tree.
// channel_sum:  level 1 = blocks of 32 channels x 8 pixel lanes over a chunk of kChannelChunk
//               pixels: coalesced along C, one double partial per (chunk, channel); level 2 = one
//               block per channel reduces its chunk partials with a tree. C == 1 reuses sum.

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check.h"
#include "kernels/reduce/reduce.h"
#include "kernels/reduce/reduce_check.h"

namespace unet::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kSumMaxBlocks = 1024;
constexpr int64_t kSumGroupsPerThread = 4;  // groups of 4 elements per thread before more blocks
constexpr int kChannelLanes = 32;           // channels per channel_sum block (blockDim.x)
constexpr int kPixelLanes = 8;              // pixel rows per channel_sum block (blockDim.y)
constexpr int64_t kChannelChunk = 512;      // pixels per channel_sum partial

int64_t sum_blocks(int64_t n) {
  const int64_t groups = (n + 3) / 4;
  const int64_t per_block = int64_t(kThreads) * kSumGroupsPerThread;
  return std::max<int64_t>(1, std::min(kSumMaxBlocks, (groups + per_block - 1) / per_block));
}

int64_t channel_chunks(int64_t pixels) {
  return std::max<int64_t>(1, (pixels + kChannelChunk - 1) / kChannelChunk);
}

// Tree over kThreads doubles in shared memory; returns the total in thread 0.
__device__ double block_tree(double v, double* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half >>= 1) {
    if (threadIdx.x < half) sh[threadIdx.x] += sh[threadIdx.x + half];
    __syncthreads();
  }
  return sh[0];
}

__global__ void sum_level1(int64_t n, const float* __restrict__ x, bool vec,
                           double* __restrict__ partial) {
  __shared__ double sh[kThreads];
  const int64_t groups = (n + 3) / 4;
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  double acc = 0.0;
  for (int64_t g = int64_t(blockIdx.x) * kThreads + threadIdx.x; g < groups; g += stride) {
    const int64_t i = 4 * g;
    if (vec && i + 4 <= n) {
      const float4 v = reinterpret_cast<const float4*>(x)[g];
      acc += double(v.x);
      acc += double(v.y);
      acc += double(v.z);
      acc += double(v.w);
    } else {
      for (int64_t k = i; k < min(i + 4, n); ++k) acc += double(x[k]);
    }
  }
  const double total = block_tree(acc, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// One block: thread t adds partials t, t + kThreads, ...; then the tree. Writes fp32 result.
__global__ void sum_level2(int64_t count, const double* __restrict__ partial,
                           float* __restrict__ out) {
  __shared__ double sh[kThreads];
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) acc += partial[i];
  const double total = block_tree(acc, sh);
  if (threadIdx.x == 0) out[0] = float(total);
}

// grid (chunks, ceil(C/32)); block (32, 8).
__global__ void channel_sum_level1(int64_t pixels, int C, const float* __restrict__ x,
                                   double* __restrict__ partial) {
  __shared__ double sh[kPixelLanes][kChannelLanes];
  const int c = blockIdx.y * kChannelLanes + threadIdx.x;
  const int64_t chunk = blockIdx.x;
  const int64_t end = min(pixels, (chunk + 1) * kChannelChunk);
  double acc = 0.0;
  if (c < C) {
    for (int64_t p = chunk * kChannelChunk + threadIdx.y; p < end; p += kPixelLanes)
      acc += double(x[p * C + c]);
  }
  sh[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  for (int half = kPixelLanes / 2; half > 0; half >>= 1) {
    if (threadIdx.y < half) sh[threadIdx.y][threadIdx.x] += sh[threadIdx.y + half][threadIdx.x];
    __syncthreads();
  }
  if (threadIdx.y == 0 && c < C) partial[chunk * C + c] = sh[0][threadIdx.x];
}

// grid C blocks of kThreads: block c reduces partial[0..chunks)[c].
__global__ void channel_sum_level2(int64_t chunks, int C, const double* __restrict__ partial,
                                   float* __restrict__ out) {
  __shared__ double sh[kThreads];
  const int c = blockIdx.x;
  double acc = 0.0;
  for (int64_t k = threadIdx.x; k < chunks; k += kThreads) acc += partial[k * C + c];
  const double total = block_tree(acc, sh);
  if (threadIdx.x == 0) out[c] = float(total);
}

void check_workspace(const char* op, const void* workspace) {
  if (workspace == nullptr) {
    throw std::invalid_argument(std::string(op) +
                                ": workspace is null; pass a device buffer of the size the "
                                "matching *_workspace_bytes() returns");
  }
}

}  // namespace

size_t sum_cuda_workspace_bytes(int64_t n) {
  return size_t(sum_blocks(std::max<int64_t>(n, 0))) * sizeof(double);
}

void sum_cuda(int64_t n, const float* x, float* out, void* workspace, Stream stream) {
  detail::sum_check_args("sum_cuda", n, x, out);
  check_workspace("sum_cuda", workspace);
  const int64_t blocks = sum_blocks(n);
  double* partial = static_cast<double*>(workspace);
  const bool vec = reinterpret_cast<uintptr_t>(x) % 16 == 0;
  sum_level1<<<int(blocks), kThreads, 0, stream>>>(n, x, vec, partial);
  UNET_CUDA_CHECK_LAUNCH("sum_level1");
  sum_level2<<<1, kThreads, 0, stream>>>(blocks, partial, out);
  UNET_CUDA_CHECK_LAUNCH("sum_level2");
}

size_t channel_sum_cuda_workspace_bytes(int64_t pixels, int C) {
  pixels = std::max<int64_t>(pixels, 0);
  if (C == 1) return sum_cuda_workspace_bytes(pixels);
  return size_t(channel_chunks(pixels)) * size_t(std::max(C, 1)) * sizeof(double);
}

void channel_sum_cuda(int64_t pixels, int C, const float* x, float* out, void* workspace,
                      Stream stream) {
  detail::channel_sum_check_args("channel_sum_cuda", pixels, C, x, out);
  check_workspace("channel_sum_cuda", workspace);
  if (C == 1) {  // one channel is a plain sum; the 32-channel blocks would idle 31 of 32 lanes
    sum_cuda(pixels, x, out, workspace, stream);
    return;
  }
  const int64_t chunks = channel_chunks(pixels);
  double* partial = static_cast<double*>(workspace);
  const dim3 grid(unsigned(chunks), unsigned((C + kChannelLanes - 1) / kChannelLanes));
  channel_sum_level1<<<grid, dim3(kChannelLanes, kPixelLanes), 0, stream>>>(pixels, C, x, partial);
  UNET_CUDA_CHECK_LAUNCH("channel_sum_level1");
  channel_sum_level2<<<C, kThreads, 0, stream>>>(chunks, C, partial, out);
  UNET_CUDA_CHECK_LAUNCH("channel_sum_level2");
}

}  // namespace unet::kernels
