// conv2d CUDA v3: the same implicit GEMMs as v2 (conv2d_cuda_common.cuh) on tensor cores in TF32
// (wmma m16n16k8, fp32 accumulate). v3: tensor cores, bias + ReLU fused in the forward epilogue,
// the ReLU mask applied while gathering dy in both backward passes.
//
// Block tile BM x BN x 32 with 8 warps in a 4 x 2 grid; a warp owns (BM/4) x (BN/2) as 16x16
// accumulator fragments. Per k-tile a block reads (BM + BN) * 32 floats from global memory for
// BM*BN*32 MACs (128x128: 64 FLOPs/byte, well above the H200's ~10 FLOP/byte fp32-from-HBM ratio,
// so the tensor cores, not memory, bound the big layers). Inputs are rounded to TF32 (round to
// nearest) once, when stored to shared memory; the next k-tile is fetched into registers while
// the current one is multiplied.
//
// Fallback: when a gathered operand's channel count is not a multiple of 4 (the 1-channel input
// layer, the 1-channel head in the backward passes) the 16-byte gathers are impossible and the
// reduction is tiny (R*S*C = 9 for the input layer would fill 9 of a tile's 32 k slots), so those
// calls run v2's exact fp32 kernel instead: the result is then fp32-exact, within TF32 tolerance.
#include <mma.h>

#include "kernels/conv2d/conv2d_cuda_common.cuh"

namespace unet::kernels::detail::conv2d_cuda {

namespace {

namespace wmma = nvcuda::wmma;

constexpr int kBK = 32;
constexpr int kThreads = 256;

template <int BM, int BN, class Prob>
__global__ void __launch_bounds__(kThreads) gemm_v3_kernel(Prob pb) {
  constexpr int kWM = BM / 4, kWN = BN / 2;  // warp tile
  constexpr int kFM = kWM / 16, kFN = kWN / 16;
  static_assert(kFM >= 1 && kFN >= 1, "warp tile holds whole 16x16 fragments");
  // A is m-major [BM][BK], B k-major [BK][BN]; +4 floats keeps wmma's 32-byte fragment alignment
  // (ldm a multiple of 4 floats, row starts at multiples of 16 rows) and spreads banks.
  constexpr int kLdA = kBK + 4, kLdB = BN + 4;
  __shared__ __align__(128) float smem[BM * kLdA + kBK * kLdB];
  float* As = smem;
  float* Bs = smem + BM * kLdA;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / 2, wn = warp % 2;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN, z = blockIdx.z;
  const int k_begin = z * pb.chunk_len;
  const int k_end = min(pb.Kg, k_begin + pb.chunk_len);

  TileLoader<decltype(pb.a), BM, kBK, kThreads> la;
  TileLoader<decltype(pb.b), BN, kBK, kThreads> lb;
  la.init(pb.a, m0, tid);
  lb.init(pb.b, n0, tid);

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[kFM][kFN];
#pragma unroll
  for (int i = 0; i < kFM; ++i) {
#pragma unroll
    for (int j = 0; j < kFN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  }

  la.load(pb.a, k_begin);
  lb.load(pb.b, k_begin);
  la.template store<kLdA, 1, true>(As);
  lb.template store<1, kLdB, true>(Bs);
  __syncthreads();

  for (int k0 = k_begin; k0 < k_end; k0 += kBK) {
    const bool more = k0 + kBK < k_end;
    if (more) {
      la.load(pb.a, k0 + kBK);
      lb.load(pb.b, k0 + kBK);
    }
#pragma unroll
    for (int ks = 0; ks < kBK; ks += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a[kFM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[kFN];
#pragma unroll
      for (int i = 0; i < kFM; ++i) {
        wmma::load_matrix_sync(a[i], As + (wm * kWM + i * 16) * kLdA + ks, kLdA);
      }
#pragma unroll
      for (int j = 0; j < kFN; ++j) {
        wmma::load_matrix_sync(b[j], Bs + ks * kLdB + wn * kWN + j * 16, kLdB);
      }
#pragma unroll
      for (int i = 0; i < kFM; ++i) {
#pragma unroll
        for (int j = 0; j < kFN; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
      }
    }
    __syncthreads();
    if (more) {
      la.template store<kLdA, 1, true>(As);
      lb.template store<1, kLdB, true>(Bs);
      __syncthreads();
    }
  }

  // Epilogue: each warp spills one fragment at a time to its own 16x16 scratch (reusing the A
  // tile, free after the last __syncthreads) and writes it through the problem's store, which
  // adds the bias and applies the ReLU for the forward pass and skips out-of-range rows/columns.
  float* scratch = smem + warp * 256;
#pragma unroll
  for (int i = 0; i < kFM; ++i) {
#pragma unroll
    for (int j = 0; j < kFN; ++j) {
      wmma::store_matrix_sync(scratch, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int m = m0 + wm * kWM + i * 16 + e / 16, n = n0 + wn * kWN + j * 16 + e % 16;
        if (m < pb.M && n < pb.N) pb.out.store(m, n, scratch[e], z);
      }
      __syncwarp();
    }
  }
}

// Tile width follows the GEMM's N (K for forward and backward-weight, C for backward-data).
int bn_for(int n) { return n <= 32 ? 32 : (n <= 64 ? 64 : 128); }

template <class Prob>
void launch(const Prob& pb, int chunks, Stream stream, const char* what) {
  const int bn = bn_for(pb.N);
  dim3 grid(ceil_div(pb.M, 128), ceil_div(pb.N, bn), chunks);
  if (bn == 32) {
    gemm_v3_kernel<128, 32><<<grid, kThreads, 0, stream>>>(pb);
  } else if (bn == 64) {
    gemm_v3_kernel<128, 64><<<grid, kThreads, 0, stream>>>(pb);
  } else {
    gemm_v3_kernel<128, 128><<<grid, kThreads, 0, stream>>>(pb);
  }
  cuda_check(cudaGetLastError(), what, __FILE__, __LINE__);
}

bool bwd_weight_uses_v2(const Conv2dShape& s) { return s.C % 4 != 0 || s.K % 4 != 0; }

}  // namespace

void forward_v3(const Geom& g, const float* x, const float* w, const float* bias, float* y,
                bool relu, Stream stream) {
  if (g.C % 4 != 0) return forward_v2(g, x, w, bias, y, relu, stream);
  // Unaligned views (never from cudaMalloc) still run on tensor cores, with scalar gathers.
  const bool vec = aligned16(x) && aligned16(w);
  const int M = g.N * g.P * g.Q, Kg = g.R * g.S * g.C;
  Problem<FwdA, FwdB, FwdOut> pb{
      FwdA{g, x, M, Kg, vec}, FwdB{w, g.K, Kg, vec}, FwdOut{y, bias, g.K, relu}, M, g.K, Kg, Kg};
  launch(pb, 1, stream, "launch of conv2d gemm_v3_kernel (forward)");
}

void backward_data_v3(const Geom& g, const float* dy, const float* w, const float* relu_y,
                      float* dx, Stream stream) {
  if (g.K % 4 != 0 || g.C % 4 != 0) return backward_data_v2(g, dy, w, relu_y, dx, stream);
  const bool vec_a = aligned16(dy) && (relu_y == nullptr || aligned16(relu_y));
  const int M = g.N * g.H * g.W, Kg = g.R * g.S * g.K;
  Problem<BwdDataA, BwdDataB, PlainOut> pb{BwdDataA{g, dy, relu_y, M, Kg, vec_a},
                                           BwdDataB{g, w, g.C, Kg, aligned16(w)},
                                           PlainOut{dx, g.C},
                                           M,
                                           g.C,
                                           Kg,
                                           Kg};
  launch(pb, 1, stream, "launch of conv2d gemm_v3_kernel (backward-data)");
}

size_t backward_weight_v3_ws(const Conv2dShape& s) {
  if (bwd_weight_uses_v2(s)) return backward_weight_v2_ws(s);
  const int64_t rsc = int64_t(s.R) * s.S * s.C;
  return bwd_weight_ws_bytes(
      s, plan_split_k(rsc, s.K, int64_t(s.N) * s.P() * s.Q(), 128, bn_for(s.K), kBK));
}

void backward_weight_v3(const Geom& g, const float* x, const float* dy, const float* relu_y,
                        float* dw, float* dbias, float* workspace, Stream stream) {
  // The fallback depends on the shape alone, so backward_weight_v3_ws matches the path taken.
  if (bwd_weight_uses_v2(to_shape(g))) {
    return backward_weight_v2(g, x, dy, relu_y, dw, dbias, workspace, stream);
  }
  const int RSC = g.R * g.S * g.C, NPQ = g.N * g.P * g.Q;
  const SplitK sk = plan_split_k(RSC, g.K, NPQ, 128, bn_for(g.K), kBK);
  const bool vec_dy = aligned16(dy) && (relu_y == nullptr || aligned16(relu_y));
  Problem<BwdWeightB, BwdWeightA, PartialOutT> pb{BwdWeightB{g, x, RSC, NPQ, aligned16(x)},
                                                  BwdWeightA{dy, relu_y, g.K, NPQ, vec_dy},
                                                  PartialOutT{workspace, RSC, g.K},
                                                  RSC,
                                                  g.K,
                                                  NPQ,
                                                  sk.chunk_len};
  launch(pb, sk.chunks, stream, "launch of conv2d gemm_v3_kernel (backward-weight)");
  const int64_t wsize = int64_t(g.K) * RSC;
  sum_partials(workspace, sk.chunks, wsize, dw, stream);
  if (dbias != nullptr) {
    dbias_reduce(g, dy, relu_y, dbias, workspace + size_t(sk.chunks) * wsize, stream);
  }
}

}  // namespace unet::kernels::detail::conv2d_cuda
