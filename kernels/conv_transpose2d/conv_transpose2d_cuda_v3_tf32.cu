// conv_transpose2d CUDA v3: the v2 GEMM on tensor cores in TF32 (nvcuda::wmma m16n16k8,
// precision::tf32, fp32 accumulate), scatter/gather fused as in v2 (R == stride_h, S == stride_w).
// v3: 64x64 block tile, 4 warps of 32x32 (2x2 wmma fragments), 16-deep k tiles, TF32 inputs.
//
// Inputs are rounded to TF32 (10-bit mantissa, relative error <= 2^-11) when staged in shared
// memory; products are exact in fp32 and accumulated in fp32. FLOPs per pass as in v2; per 64x64
// tile and k step a block loads 2 * 64*16 floats for 2 * 64*64*16 FLOPs. The epilogue stages the
// accumulators in shared memory so the scatter to y / dx / partial dw is done by plain threads
// with coalesced, bounds-checked stores. Backward-weight: split-K partials, summed in order.

#include <mma.h>

#include "kernels/conv_transpose2d/conv_transpose2d_cuda_common.cuh"

namespace unet::kernels::detail::conv_transpose2d_cuda {
namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 128;
// Leading dimensions: multiples of 4 floats (wmma requirement) and +4 against bank conflicts;
// every fragment pointer below lands on a 32-byte boundary (16*20*4, 8*4, 8*68*4, 16*4 bytes).
constexpr int kLdA = kBK + 4, kLdB = kBN + 4, kLdC = kBN + 4;

template <class Op>
__global__ void __launch_bounds__(kThreads)
    gemm_tf32_kernel(Op op, int64_t Mg, int64_t Ng, int64_t Kg, int64_t split_len) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // TF32 tensor cores need sm_80+; the build targets sm_80/sm_90 only
#else
  namespace wmma = nvcuda::wmma;
  __shared__ __align__(32) float As[kBM * kLdA];  // [m][k], row-major
  __shared__ __align__(32) float Bs[kBK * kLdB];  // [k][n], row-major
  __shared__ __align__(32) float Cs[kBM * kLdC];  // [m][n] accumulators for the epilogue
  const int tid = threadIdx.x, warp = tid / 32, wm = warp / 2, wn = warp % 2;
  const int64_t m0 = int64_t(blockIdx.x) * kBM, n0 = int64_t(blockIdx.y) * kBN;
  const int split = blockIdx.z;
  const int64_t k_begin = split * split_len, k_end = min(Kg, k_begin + split_len);

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int64_t k0 = k_begin; k0 < k_end; k0 += kBK) {
#pragma unroll
    for (int l = 0; l < kBM * kBK / kThreads; ++l) {
      const int i = tid + l * kThreads;
      const int r = Op::kAKFast ? i / kBK : i % kBM, c = Op::kAKFast ? i % kBK : i / kBM;
      const int64_t m = m0 + r, k = k0 + c;
      As[r * kLdA + c] = wmma::__float_to_tf32((m < Mg && k < k_end) ? op.a(m, k) : 0.0f);
    }
#pragma unroll
    for (int l = 0; l < kBK * kBN / kThreads; ++l) {
      const int i = tid + l * kThreads;
      const int r = Op::kBNFast ? i / kBN : i % kBK, c = Op::kBNFast ? i % kBN : i / kBK;
      const int64_t k = k0 + r, n = n0 + c;
      Bs[r * kLdB + c] = wmma::__float_to_tf32((k < k_end && n < Ng) ? op.b(k, n) : 0.0f);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[2];
#pragma unroll
      for (int i = 0; i < 2; ++i)
        wmma::load_matrix_sync(a[i], As + (wm * 32 + i * 16) * kLdA + kk, kLdA);
#pragma unroll
      for (int j = 0; j < 2; ++j)
        wmma::load_matrix_sync(b[j], Bs + kk * kLdB + wn * 32 + j * 16, kLdB);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(Cs + (wm * 32 + i * 16) * kLdC + wn * 32 + j * 16, acc[i][j], kLdC,
                              wmma::mem_row_major);
  __syncthreads();
  for (int i = tid; i < kBM * kBN; i += kThreads) {
    const int r = i / kBN, c = i % kBN;
    const int64_t m = m0 + r, n = n0 + c;
    if (m < Mg && n < Ng) op.store(split, m, n, Cs[r * kLdC + c]);
  }
#endif
}

template <class Op>
void launch(const Op& op, int64_t Mg, int64_t Ng, int64_t Kg, int splits, int64_t split_len,
            Stream stream, const char* what) {
  const dim3 grid(ceil_div(Mg, kBM), ceil_div(Ng, kBN), splits);
  gemm_tf32_kernel<Op><<<grid, kThreads, 0, stream>>>(op, Mg, Ng, Kg, split_len);
  cuda_check(cudaGetLastError(), what, __FILE__, __LINE__);
}

}  // namespace

void v3_forward(const ConvTranspose2dShape& s, const float* x, const float* w, const float* bias,
                float* y, Stream stream) {
  const ForwardOp op{make_geom(s), x, w, bias, y};
  const int64_t M = int64_t(s.N) * s.H * s.W, rsk = int64_t(s.R) * s.S * s.K;
  launch(op, M, rsk, s.C, 1, s.C, stream, "launch of conv_transpose2d v3 forward GEMM");
}

void v3_backward_data(const ConvTranspose2dShape& s, const float* dy, const float* w, float* dx,
                      Stream stream) {
  const BackwardDataOp op{make_geom(s), dy, w, dx};
  const int64_t M = int64_t(s.N) * s.H * s.W, rsk = int64_t(s.R) * s.S * s.K;
  launch(op, M, s.C, rsk, 1, rsk, stream, "launch of conv_transpose2d v3 backward-data GEMM");
}

void v3_backward_weight_partials(const ConvTranspose2dShape& s, const float* x, const float* dy,
                                 float* partial, Stream stream) {
  const BackwardWeightOp op{make_geom(s), x, dy, partial};
  const SplitPlan plan = plan_splits(s);
  const int64_t M = int64_t(s.N) * s.H * s.W, rsk = int64_t(s.R) * s.S * s.K;
  launch(op, s.C, rsk, M, plan.splits, plan.split_len, stream,
         "launch of conv_transpose2d v3 backward-weight GEMM");
}

}  // namespace unet::kernels::detail::conv_transpose2d_cuda
