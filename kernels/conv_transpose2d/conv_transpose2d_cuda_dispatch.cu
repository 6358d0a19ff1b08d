// conv_transpose2d CUDA front door: variant names and capabilities, argument checks, workspace
// sizing, dispatch to the numbered variants, and the fixed-order reductions that finish
// backward-weight (split-K partial dw tiles summed in split order; dbias as per-block column sums
// of dy summed in block order), so every variant is deterministic without float atomics.
//
// Reductions: reduce_splits reads splits * C*R*S*K floats and writes C*R*S*K; the dbias passes read
// N*P*Q*K floats once. Both are memory bound and small next to the GEMMs.

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/conv_transpose2d/conv_transpose2d.h"
#include "kernels/conv_transpose2d/conv_transpose2d_check.h"
#include "kernels/conv_transpose2d/conv_transpose2d_cuda_common.cuh"

namespace unet::kernels {
namespace detail::conv_transpose2d_cuda {
namespace {

__global__ void reduce_splits_kernel(const float* __restrict__ partial, int splits, int64_t n,
                                     float* __restrict__ dw) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float acc = 0.0f;
    for (int sp = 0; sp < splits; ++sp) acc += partial[sp * n + i];
    dw[i] = acc;
  }
}

// out[b][k] = sum of dy[row][k] over rows of block b, rows in order.
__global__ void dbias_partial_kernel(const float* __restrict__ dy, int64_t rows, int K,
                                     int64_t block_rows, float* __restrict__ out) {
  const int64_t b = blockIdx.x;
  const int64_t end = min(rows, (b + 1) * block_rows);
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
    float acc = 0.0f;
    for (int64_t row = b * block_rows; row < end; ++row) acc += dy[row * K + k];
    out[b * K + k] = acc;
  }
}

__global__ void dbias_final_kernel(const float* __restrict__ partial, int64_t blocks, int K,
                                   float* __restrict__ dbias) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= K) return;
  float acc = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) acc += partial[b * K + k];
  dbias[k] = acc;
}

}  // namespace

void finish_backward_weight(const ConvTranspose2dShape& s, const float* partial, const float* dy,
                            float* dw, float* dbias, float* workspace_dbias, Stream stream) {
  const SplitPlan plan = plan_splits(s);
  const int64_t n = s.w_size();
  const unsigned grid = std::min<unsigned>(ceil_div(n, 256), 4096u);
  reduce_splits_kernel<<<grid, 256, 0, stream>>>(partial, plan.splits, n, dw);
  UNET_CUDA_CHECK_LAUNCH("conv_transpose2d reduce_splits_kernel");
  if (!dbias) return;
  const int64_t rows = int64_t(s.N) * s.P() * s.Q();
  const int threads = std::min(256, ((s.K + 31) / 32) * 32);
  dbias_partial_kernel<<<unsigned(plan.dbias_blocks), threads, 0, stream>>>(
      dy, rows, s.K, kDbiasBlockRows, workspace_dbias);
  UNET_CUDA_CHECK_LAUNCH("conv_transpose2d dbias_partial_kernel");
  dbias_final_kernel<<<ceil_div(s.K, 128), 128, 0, stream>>>(workspace_dbias, plan.dbias_blocks,
                                                             s.K, dbias);
  UNET_CUDA_CHECK_LAUNCH("conv_transpose2d dbias_final_kernel");
}

}  // namespace detail::conv_transpose2d_cuda

namespace {

void check_variant(const char* op, ConvTranspose2dVariant v, const ConvTranspose2dShape& s) {
  kConvTranspose2dVariants.at(v, op);
  if (int64_t(s.N) * s.H * s.W > INT32_MAX) {
    throw std::invalid_argument(std::string(op) + ": N*H*W must be < 2^31 (shape " +
                                detail::conv_transpose2d_shape_string(s) +
                                "); split the batch into smaller calls");
  }
  if (!conv_transpose2d_variant_supports(v, s)) {
    throw std::invalid_argument(std::string(op) + ": variant " + kConvTranspose2dVariants.name(v) +
                                " needs R == stride_h and S == stride_w (shape " +
                                detail::conv_transpose2d_shape_string(s) +
                                "); use v1_naive for overlapping or gapped "
                                "kernels");
  }
}

}  // namespace

bool conv_transpose2d_variant_supports(ConvTranspose2dVariant v, const ConvTranspose2dShape& s) {
  if (v == ConvTranspose2dVariant::kV1Naive) return true;
  return s.R == s.stride_h && s.S == s.stride_w;
}

size_t conv_transpose2d_backward_weight_workspace_bytes(ConvTranspose2dVariant,
                                                        const ConvTranspose2dShape& s) {
  detail::conv_transpose2d_check_args("conv_transpose2d_backward_weight_workspace_bytes", s, {});
  return detail::conv_transpose2d_cuda::workspace_floats(s) * sizeof(float);
}

void conv_transpose2d_forward_cuda(ConvTranspose2dVariant v, const ConvTranspose2dShape& s,
                                   const float* x, const float* w, const float* bias, float* y,
                                   Stream stream) {
  const char* op = "conv_transpose2d_forward_cuda";
  detail::conv_transpose2d_check_args(op, s, {{"x", x}, {"w", w}, {"y", y}});
  check_variant(op, v, s);
  switch (v) {
    case ConvTranspose2dVariant::kV1Naive:
      return detail::conv_transpose2d_cuda::v1_forward(s, x, w, bias, y, stream);
    case ConvTranspose2dVariant::kV2GemmScatter:
      return detail::conv_transpose2d_cuda::v2_forward(s, x, w, bias, y, stream);
    case ConvTranspose2dVariant::kV3GemmTf32:
      return detail::conv_transpose2d_cuda::v3_forward(s, x, w, bias, y, stream);
  }
}

void conv_transpose2d_backward_data_cuda(ConvTranspose2dVariant v, const ConvTranspose2dShape& s,
                                         const float* dy, const float* w, float* dx,
                                         Stream stream) {
  const char* op = "conv_transpose2d_backward_data_cuda";
  detail::conv_transpose2d_check_args(op, s, {{"dy", dy}, {"w", w}, {"dx", dx}});
  check_variant(op, v, s);
  switch (v) {
    case ConvTranspose2dVariant::kV1Naive:
      return detail::conv_transpose2d_cuda::v1_backward_data(s, dy, w, dx, stream);
    case ConvTranspose2dVariant::kV2GemmScatter:
      return detail::conv_transpose2d_cuda::v2_backward_data(s, dy, w, dx, stream);
    case ConvTranspose2dVariant::kV3GemmTf32:
      return detail::conv_transpose2d_cuda::v3_backward_data(s, dy, w, dx, stream);
  }
}

void conv_transpose2d_backward_weight_cuda(ConvTranspose2dVariant v, const ConvTranspose2dShape& s,
                                           const float* x, const float* dy, float* dw, float* dbias,
                                           void* workspace, Stream stream) {
  const char* op = "conv_transpose2d_backward_weight_cuda";
  detail::conv_transpose2d_check_args(
      op, s, {{"x", x}, {"dy", dy}, {"dw", dw}, {"workspace (see *_workspace_bytes)", workspace}});
  check_variant(op, v, s);
  float* partial = static_cast<float*>(workspace);
  float* ws_dbias =
      partial + size_t(detail::conv_transpose2d_cuda::plan_splits(s).splits) * s.w_size();
  switch (v) {
    case ConvTranspose2dVariant::kV1Naive:
      detail::conv_transpose2d_cuda::v1_backward_weight_partials(s, x, dy, partial, stream);
      break;
    case ConvTranspose2dVariant::kV2GemmScatter:
      detail::conv_transpose2d_cuda::v2_backward_weight_partials(s, x, dy, partial, stream);
      break;
    case ConvTranspose2dVariant::kV3GemmTf32:
      detail::conv_transpose2d_cuda::v3_backward_weight_partials(s, x, dy, partial, stream);
      break;
  }
  detail::conv_transpose2d_cuda::finish_backward_weight(s, partial, dy, dw, dbias, ws_dbias,
                                                        stream);
}

}  // namespace unet::kernels
