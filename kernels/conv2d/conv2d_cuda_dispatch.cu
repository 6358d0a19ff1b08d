// conv2d CUDA front door: argument checks, variant names, workspace sizes, the variant switch, and
// the two fixed-order reduction kernels every variant's backward-weight shares.
//
// sum_partials reads chunks * count floats and writes count (memory bound: 4 bytes per add).
// dbias_reduce reads N*P*Q*K floats of dy (twice that with the ReLU mask) for N*P*Q*K adds.
#include <string>

#include "kernels/conv2d/conv2d_check.h"
#include "kernels/conv2d/conv2d_cuda_common.cuh"

namespace unet::kernels {
namespace detail::conv2d_cuda {

namespace {

__global__ void sum_partials_kernel(const float* __restrict__ part, int chunks, int64_t count,
                                    float* __restrict__ out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  float acc = 0.0f;
  for (int z = 0; z < chunks; ++z) acc += part[int64_t(z) * count + i];
  out[i] = acc;
}

// Block (32, 8): threadIdx.x picks the channel k (coalesced), threadIdx.y strides the rows of one
// chunk; the 8 row-partials are then added in a fixed order, so the result does not depend on
// scheduling.
__global__ void dbias_partials_kernel(const float* __restrict__ dy,
                                      const float* __restrict__ relu_y, int64_t rows, int K,
                                      int chunk_len, float* __restrict__ part) {
  __shared__ float sums[8][33];
  const int k = blockIdx.x * 32 + threadIdx.x;
  const int64_t begin = int64_t(blockIdx.y) * chunk_len;
  int64_t end = begin + chunk_len;
  if (end > rows) end = rows;
  float acc = 0.0f;
  if (k < K) {
    for (int64_t j = begin + threadIdx.y; j < end; j += 8) {
      const int64_t o = j * K + k;
      acc += relu_mask(dy[o], relu_y, o);
    }
  }
  sums[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && k < K) {
    float total = 0.0f;
    for (int t = 0; t < 8; ++t) total += sums[t][threadIdx.x];
    part[int64_t(blockIdx.y) * K + k] = total;
  }
}

}  // namespace

void sum_partials(const float* part, int chunks, int64_t count, float* out, Stream stream) {
  if (count == 0) return;
  sum_partials_kernel<<<ceil_div(count, 256), 256, 0, stream>>>(part, chunks, count, out);
  UNET_CUDA_CHECK_LAUNCH("conv2d sum_partials_kernel");
}

void dbias_reduce(const Geom& g, const float* dy, const float* relu_y, float* dbias,
                  float* workspace, Stream stream) {
  const int64_t rows = int64_t(g.N) * g.P * g.Q;
  const SplitK db = plan_dbias(rows);
  dim3 grid(ceil_div(g.K, 32), db.chunks);
  dbias_partials_kernel<<<grid, dim3(32, 8), 0, stream>>>(dy, relu_y, rows, g.K, db.chunk_len,
                                                          workspace);
  UNET_CUDA_CHECK_LAUNCH("conv2d dbias_partials_kernel");
  sum_partials(workspace, db.chunks, g.K, dbias, stream);
}

}  // namespace detail::conv2d_cuda

namespace {

using detail::conv2d_shape_string;

void check_variant(Conv2dVariant v, const char* op) { kConv2dVariants.at(v, op); }

// Int32 indexing inside the kernels: every tensor must have fewer than 2^31 elements.
void check_shape(const Conv2dShape& s, const char* op) {
  const bool dims_ok = s.N > 0 && s.H > 0 && s.W > 0 && s.C > 0 && s.K > 0 && s.R > 0 && s.S > 0 &&
                       s.pad_h >= 0 && s.pad_w >= 0 && s.stride_h > 0 && s.stride_w > 0;
  if (!dims_ok) {
    throw std::invalid_argument(std::string(op) + ": invalid shape (" + conv2d_shape_string(s) +
                                "): sizes and strides must be positive, padding non-negative");
  }
  if (s.H + 2 * s.pad_h < s.R || s.W + 2 * s.pad_w < s.S) {
    throw std::invalid_argument(std::string(op) + ": filter larger than the padded input (" +
                                conv2d_shape_string(s) + "); use a smaller filter or more padding");
  }
  const int64_t limit = int64_t(1) << 31;
  const int64_t rows = int64_t(s.N) * s.P() * s.Q();
  if (s.x_size() >= limit || s.y_size() >= limit || s.w_size() >= limit || rows >= limit) {
    throw std::invalid_argument(std::string(op) + ": tensor too large for 32-bit indexing (" +
                                conv2d_shape_string(s) + "); split the batch");
  }
}

void check_ptr(const void* p, const char* name, const char* op) {
  if (p == nullptr) {
    throw std::invalid_argument(std::string(op) + ": " + name +
                                " is null (a device pointer is required)");
  }
}

void check_workspace(const void* ws, size_t bytes, const char* op) {
  if (bytes > 0 && ws == nullptr) {
    throw std::invalid_argument(std::string(op) + ": workspace is null but " +
                                std::to_string(bytes) +
                                " bytes are needed (see conv2d_*_workspace_bytes)");
  }
}

}  // namespace

size_t conv2d_forward_workspace_bytes(Conv2dVariant v, const Conv2dShape& s) {
  check_variant(v, "conv2d_forward_workspace_bytes");
  check_shape(s, "conv2d_forward_workspace_bytes");
  return 0;
}

size_t conv2d_backward_data_workspace_bytes(Conv2dVariant v, const Conv2dShape& s) {
  check_variant(v, "conv2d_backward_data_workspace_bytes");
  check_shape(s, "conv2d_backward_data_workspace_bytes");
  return 0;
}

size_t conv2d_backward_weight_workspace_bytes(Conv2dVariant v, const Conv2dShape& s) {
  check_variant(v, "conv2d_backward_weight_workspace_bytes");
  check_shape(s, "conv2d_backward_weight_workspace_bytes");
  switch (v) {
    case Conv2dVariant::kV1Naive:
      return detail::conv2d_cuda::backward_weight_v1_ws(s);
    case Conv2dVariant::kV2Tiled:
      return detail::conv2d_cuda::backward_weight_v2_ws(s);
    case Conv2dVariant::kV3ImplicitGemmTf32:
      return detail::conv2d_cuda::backward_weight_v3_ws(s);
  }
  return 0;
}

void conv2d_forward_cuda(Conv2dVariant v, const Conv2dShape& s, const float* x, const float* w,
                         const float* bias, float* y, bool relu, void* workspace, Stream stream) {
  const char* op = "conv2d_forward_cuda";
  (void)workspace;  // no variant needs scratch for the forward pass
  check_variant(v, op);
  check_shape(s, op);
  check_ptr(x, "x", op);
  check_ptr(w, "w", op);
  check_ptr(y, "y", op);
  const detail::conv2d_cuda::Geom g = detail::conv2d_cuda::make_geom(s);
  switch (v) {
    case Conv2dVariant::kV1Naive:
      return detail::conv2d_cuda::forward_v1(g, x, w, bias, y, relu, stream);
    case Conv2dVariant::kV2Tiled:
      return detail::conv2d_cuda::forward_v2(g, x, w, bias, y, relu, stream);
    case Conv2dVariant::kV3ImplicitGemmTf32:
      return detail::conv2d_cuda::forward_v3(g, x, w, bias, y, relu, stream);
  }
}

void conv2d_backward_data_cuda(Conv2dVariant v, const Conv2dShape& s, const float* dy,
                               const float* w, const float* relu_y, float* dx, void* workspace,
                               Stream stream) {
  const char* op = "conv2d_backward_data_cuda";
  (void)workspace;
  check_variant(v, op);
  check_shape(s, op);
  check_ptr(dy, "dy", op);
  check_ptr(w, "w", op);
  check_ptr(dx, "dx", op);
  const detail::conv2d_cuda::Geom g = detail::conv2d_cuda::make_geom(s);
  switch (v) {
    case Conv2dVariant::kV1Naive:
      return detail::conv2d_cuda::backward_data_v1(g, dy, w, relu_y, dx, stream);
    case Conv2dVariant::kV2Tiled:
      return detail::conv2d_cuda::backward_data_v2(g, dy, w, relu_y, dx, stream);
    case Conv2dVariant::kV3ImplicitGemmTf32:
      return detail::conv2d_cuda::backward_data_v3(g, dy, w, relu_y, dx, stream);
  }
}

void conv2d_backward_weight_cuda(Conv2dVariant v, const Conv2dShape& s, const float* x,
                                 const float* dy, const float* relu_y, float* dw, float* dbias,
                                 void* workspace, Stream stream) {
  const char* op = "conv2d_backward_weight_cuda";
  check_variant(v, op);
  check_shape(s, op);
  check_ptr(x, "x", op);
  check_ptr(dy, "dy", op);
  check_ptr(dw, "dw", op);
  check_workspace(workspace, conv2d_backward_weight_workspace_bytes(v, s), op);
  if (!detail::conv2d_cuda::aligned16(workspace)) {
    throw std::invalid_argument(std::string(op) +
                                ": workspace must be 16-byte aligned (pass a cudaMalloc'd buffer)");
  }
  const detail::conv2d_cuda::Geom g = detail::conv2d_cuda::make_geom(s);
  float* ws = static_cast<float*>(workspace);
  switch (v) {
    case Conv2dVariant::kV1Naive:
      return detail::conv2d_cuda::backward_weight_v1(g, x, dy, relu_y, dw, dbias, ws, stream);
    case Conv2dVariant::kV2Tiled:
      return detail::conv2d_cuda::backward_weight_v2(g, x, dy, relu_y, dw, dbias, ws, stream);
    case Conv2dVariant::kV3ImplicitGemmTf32:
      return detail::conv2d_cuda::backward_weight_v3(g, x, dy, relu_y, dw, dbias, ws, stream);
  }
}

}  // namespace unet::kernels
