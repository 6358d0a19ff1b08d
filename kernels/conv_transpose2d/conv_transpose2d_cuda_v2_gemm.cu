// conv_transpose2d CUDA v2: shared-memory tiled GEMM on CUDA cores with the scatter/gather fused
// into the operand loads and the epilogue (R == stride_h, S == stride_w), exact fp32.
// v2: 64x64 block tile, 16-deep k tiles in shared memory, 4x4 outputs per thread, no im2col buffer.
//
// The three passes are the GEMMs in conv_transpose2d_cuda_common.cuh. Per 64x64 tile and 16-deep
// k step a block loads 2 * 64*16 floats and does 2 * 64*64*16 FLOPs (16 FLOPs per loaded float;
// 4 FLOPs per shared-memory read). Backward-weight splits the pixel reduction (plan_splits) and
// writes one partial dw per split; the dispatcher sums them in split order (deterministic).

#include "kernels/conv_transpose2d/conv_transpose2d_cuda_common.cuh"

namespace unet::kernels::detail::conv_transpose2d_cuda {
namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;

// C[Mg x Ng] = A[Mg x Kg] * B[Kg x Ng] over k in this split's range; op supplies a(), b(), store().
template <class Op>
__global__ void __launch_bounds__(kThreads)
    gemm_fp32_kernel(Op op, int64_t Mg, int64_t Ng, int64_t Kg, int64_t split_len) {
  // +1 padding: the column-wise writes of the transposed loads hit distinct banks.
  __shared__ float As[kBK][kBM + 1];
  __shared__ float Bs[kBK][kBN + 1];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m0 = int64_t(blockIdx.x) * kBM, n0 = int64_t(blockIdx.y) * kBN;
  const int split = blockIdx.z;
  const int64_t k_begin = split * split_len, k_end = min(Kg, k_begin + split_len);
  float acc[4][4] = {};
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kBK) {
#pragma unroll
    for (int l = 0; l < kBM * kBK / kThreads; ++l) {
      const int i = tid + l * kThreads;
      // Consecutive threads walk the operand's contiguous index, so global reads coalesce.
      const int r = Op::kAKFast ? i / kBK : i % kBM, c = Op::kAKFast ? i % kBK : i / kBM;
      const int64_t m = m0 + r, k = k0 + c;
      As[c][r] = (m < Mg && k < k_end) ? op.a(m, k) : 0.0f;
    }
#pragma unroll
    for (int l = 0; l < kBK * kBN / kThreads; ++l) {
      const int i = tid + l * kThreads;
      const int r = Op::kBNFast ? i / kBN : i % kBK, c = Op::kBNFast ? i % kBN : i / kBK;
      const int64_t k = k0 + r, n = n0 + c;
      Bs[r][c] = (k < k_end && n < Ng) ? op.b(k, n) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        a[t] = As[kk][ty + 16 * t];
        b[t] = Bs[kk][tx + 16 * t];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  // Rows strided by 16 and columns by 16: neighbouring threads store neighbouring columns.
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < Mg && n < Ng) op.store(split, m, n, acc[i][j]);
    }
}

template <class Op>
void launch(const Op& op, int64_t Mg, int64_t Ng, int64_t Kg, int splits, int64_t split_len,
            Stream stream, const char* what) {
  const dim3 grid(ceil_div(Mg, kBM), ceil_div(Ng, kBN), splits);
  gemm_fp32_kernel<Op><<<grid, kThreads, 0, stream>>>(op, Mg, Ng, Kg, split_len);
  cuda_check(cudaGetLastError(), what, __FILE__, __LINE__);
}

}  // namespace

void v2_forward(const ConvTranspose2dShape& s, const float* x, const float* w, const float* bias,
                float* y, Stream stream) {
  const ForwardOp op{make_geom(s), x, w, bias, y};
  const int64_t M = int64_t(s.N) * s.H * s.W, rsk = int64_t(s.R) * s.S * s.K;
  launch(op, M, rsk, s.C, 1, s.C, stream, "launch of conv_transpose2d v2 forward GEMM");
}

void v2_backward_data(const ConvTranspose2dShape& s, const float* dy, const float* w, float* dx,
                      Stream stream) {
  const BackwardDataOp op{make_geom(s), dy, w, dx};
  const int64_t M = int64_t(s.N) * s.H * s.W, rsk = int64_t(s.R) * s.S * s.K;
  launch(op, M, s.C, rsk, 1, rsk, stream, "launch of conv_transpose2d v2 backward-data GEMM");
}

void v2_backward_weight_partials(const ConvTranspose2dShape& s, const float* x, const float* dy,
                                 float* partial, Stream stream) {
  const BackwardWeightOp op{make_geom(s), x, dy, partial};
  const SplitPlan plan = plan_splits(s);
  const int64_t M = int64_t(s.N) * s.H * s.W, rsk = int64_t(s.R) * s.S * s.K;
  launch(op, s.C, rsk, M, plan.splits, plan.split_len, stream,
         "launch of conv_transpose2d v2 backward-weight GEMM");
}

}  // namespace unet::kernels::detail::conv_transpose2d_cuda
