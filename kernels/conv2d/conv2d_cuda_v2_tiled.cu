// conv2d CUDA v2: implicit GEMM on CUDA cores, exact fp32 FMA (see conv2d_cuda_common.cuh for the
// GEMM view of each pass). v2: shared-memory tiles + register micro-tiles, operands gathered on
// the fly (no im2col buffer).
//
// Block tile BM x BN x 8 with 256 threads, each owning a TM x TN register tile: per k step a
// thread reads TM + TN floats from shared memory for TM*TN FMAs (8x4: 32 FMAs per 12 loads), and a
// block reads (BM + BN) * 8 floats from global memory for BM*BN*8 FMAs (128x64: 43 FLOPs/byte).
// The next k-tile is fetched into registers while the current one is multiplied.
// Backward-weight splits the N*P*Q reduction into a shape-determined number of chunks (grid.z);
// each chunk writes its own partial dw and sum_partials adds them in chunk order: deterministic.
#include "kernels/conv2d/conv2d_cuda_common.cuh"

namespace unet::kernels::detail::conv2d_cuda {

namespace {

constexpr int kBK = 8;
constexpr int kThreads = 256;

template <int BM, int BN, int TM, int TN, class Prob>
__global__ void __launch_bounds__(kThreads) gemm_v2_kernel(Prob pb) {
  static_assert((BM / TM) * (BN / TN) == kThreads, "one micro-tile per thread");
  static_assert(TM % 4 == 0 && (TN == 2 || TN == 4), "vector shared-memory reads");
  constexpr int kLdA = BM + 4, kLdB = BN + 4;  // k-major tiles; +4 breaks store bank conflicts
  __shared__ __align__(16) float As[kBK * kLdA];
  __shared__ __align__(16) float Bs[kBK * kLdB];

  const int tid = threadIdx.x;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN, z = blockIdx.z;
  const int k_begin = z * pb.chunk_len;
  const int k_end = min(pb.Kg, k_begin + pb.chunk_len);
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);

  TileLoader<decltype(pb.a), BM, kBK, kThreads> la;
  TileLoader<decltype(pb.b), BN, kBK, kThreads> lb;
  la.init(pb.a, m0, tid);
  lb.init(pb.b, n0, tid);

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i) {
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
  }

  la.load(pb.a, k_begin);
  lb.load(pb.b, k_begin);
  la.template store<1, kLdA, false>(As);
  lb.template store<1, kLdB, false>(Bs);
  __syncthreads();

  for (int k0 = k_begin; k0 < k_end; k0 += kBK) {
    const bool more = k0 + kBK < k_end;
    if (more) {  // overlap the next tile's global loads with this tile's FMAs
      la.load(pb.a, k0 + kBK);
      lb.load(pb.b, k0 + kBK);
    }
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; i += 4) {
        const float4 v = *reinterpret_cast<const float4*>(&As[kk * kLdA + ty * TM + i]);
        a[i] = v.x, a[i + 1] = v.y, a[i + 2] = v.z, a[i + 3] = v.w;
      }
      if constexpr (TN == 4) {
        const float4 v = *reinterpret_cast<const float4*>(&Bs[kk * kLdB + tx * TN]);
        b[0] = v.x, b[1] = v.y, b[2] = v.z, b[3] = v.w;
      } else {
        const float2 v = *reinterpret_cast<const float2*>(&Bs[kk * kLdB + tx * TN]);
        b[0] = v.x, b[1] = v.y;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i) {
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
    __syncthreads();
    if (more) {
      la.template store<1, kLdA, false>(As);
      lb.template store<1, kLdB, false>(Bs);
      __syncthreads();
    }
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + ty * TM + i;
    if (m >= pb.M) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int n = n0 + tx * TN + j;
      if (n < pb.N) pb.out.store(m, n, acc[i][j], z);
    }
  }
}

// Tile choice by the GEMM's N (= K, C or K): 32 or fewer columns use a 128x32 tile so the narrow
// layers (32 channels) do not waste half of a 64-wide tile.
template <class Prob>
void launch(const Prob& pb, int chunks, Stream stream, const char* what) {
  if (pb.N <= 32) {
    dim3 grid(ceil_div(pb.M, 128), ceil_div(pb.N, 32), chunks);
    gemm_v2_kernel<128, 32, 8, 2><<<grid, kThreads, 0, stream>>>(pb);
  } else {
    dim3 grid(ceil_div(pb.M, 128), ceil_div(pb.N, 64), chunks);
    gemm_v2_kernel<128, 64, 8, 4><<<grid, kThreads, 0, stream>>>(pb);
  }
  cuda_check(cudaGetLastError(), what, __FILE__, __LINE__);
}

int bn_for(int n) { return n <= 32 ? 32 : 64; }

}  // namespace

void forward_v2(const Geom& g, const float* x, const float* w, const float* bias, float* y,
                bool relu, Stream stream) {
  const int M = g.N * g.P * g.Q, Kg = g.R * g.S * g.C;
  const bool vec = g.C % 4 == 0 && aligned16(x) && aligned16(w);
  Problem<FwdA, FwdB, FwdOut> pb{
      FwdA{g, x, M, Kg, vec}, FwdB{w, g.K, Kg, vec}, FwdOut{y, bias, g.K, relu}, M, g.K, Kg, Kg};
  launch(pb, 1, stream, "launch of conv2d gemm_v2_kernel (forward)");
}

void backward_data_v2(const Geom& g, const float* dy, const float* w, const float* relu_y,
                      float* dx, Stream stream) {
  const int M = g.N * g.H * g.W, Kg = g.R * g.S * g.K;
  const bool vec_a = g.K % 4 == 0 && aligned16(dy) && (relu_y == nullptr || aligned16(relu_y));
  const bool vec_b = g.C % 4 == 0 && aligned16(w);
  Problem<BwdDataA, BwdDataB, PlainOut> pb{BwdDataA{g, dy, relu_y, M, Kg, vec_a},
                                           BwdDataB{g, w, g.C, Kg, vec_b},
                                           PlainOut{dx, g.C},
                                           M,
                                           g.C,
                                           Kg,
                                           Kg};
  launch(pb, 1, stream, "launch of conv2d gemm_v2_kernel (backward-data)");
}

size_t backward_weight_v2_ws(const Conv2dShape& s) {
  const int64_t rsc = int64_t(s.R) * s.S * s.C;
  return bwd_weight_ws_bytes(
      s, plan_split_k(rsc, s.K, int64_t(s.N) * s.P() * s.Q(), 128, bn_for(s.K), kBK));
}

void backward_weight_v2(const Geom& g, const float* x, const float* dy, const float* relu_y,
                        float* dw, float* dbias, float* workspace, Stream stream) {
  const int RSC = g.R * g.S * g.C, NPQ = g.N * g.P * g.Q;
  const SplitK sk = plan_split_k(RSC, g.K, NPQ, 128, bn_for(g.K), kBK);
  const bool vec_x = g.C % 4 == 0 && aligned16(x);
  const bool vec_dy = g.K % 4 == 0 && aligned16(dy) && (relu_y == nullptr || aligned16(relu_y));
  Problem<BwdWeightB, BwdWeightA, PartialOutT> pb{BwdWeightB{g, x, RSC, NPQ, vec_x},
                                                  BwdWeightA{dy, relu_y, g.K, NPQ, vec_dy},
                                                  PartialOutT{workspace, RSC, g.K},
                                                  RSC,
                                                  g.K,
                                                  NPQ,
                                                  sk.chunk_len};
  launch(pb, sk.chunks, stream, "launch of conv2d gemm_v2_kernel (backward-weight)");
  const int64_t wsize = int64_t(g.K) * RSC;
  sum_partials(workspace, sk.chunks, wsize, dw, stream);
  if (dbias != nullptr) {
    dbias_reduce(g, dy, relu_y, dbias, workspace + size_t(sk.chunks) * wsize, stream);
  }
}

}  // namespace unet::kernels::detail::conv2d_cuda
