// conv_transpose2d CUDA v1: naive gather, any R, S, stride (overlapping or with gaps), exact fp32.
// v1: one thread per output element, direct loops; the baseline for the GEMM variants' timings.
//
//   forward          thread per y[n,p,q,k]: sums x[n,h,w,c] * w[c,r,s,k] over the (h,r), (w,s)
//                    with h*stride_h + r = p (likewise q) and all c
//   backward-data    thread per dx[n,h,w,c]: sums dy[n, h*sh + r, w*sw + s, k] * w[c,r,s,k]
//   backward-weight  thread per (dw[c,r,s,k], split): sums x * dy over the split's pixels into
//                    the workspace; the dispatcher then adds the splits in order (deterministic)
// FLOPs 2*N*H*W*C*R*S*K per pass; every product re-reads both operands from L1/L2 (no tiling),
// so it runs far below the GEMM variants on the large layers.

#include "kernels/conv_transpose2d/conv_transpose2d_cuda_common.cuh"

namespace unet::kernels::detail::conv_transpose2d_cuda {
namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n) { return std::min<unsigned>(ceil_div(n, kThreads), 65535u * 16u); }

__global__ void forward_kernel(Geom g, const float* __restrict__ x, const float* __restrict__ w,
                               const float* __restrict__ bias, float* __restrict__ y) {
  const int64_t total = int64_t(g.N) * g.P * g.Q * g.K;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int k = int(i % g.K);
    const int64_t pix = i / g.K;
    const int q = int(pix % g.Q), p = int(pix / g.Q % g.P);
    const int64_t n = pix / (int64_t(g.Q) * g.P);
    float acc = bias ? bias[k] : 0.0f;
    for (int r = 0; r < g.R; ++r) {
      const int hr = p - r;
      if (hr < 0 || hr % g.stride_h != 0) continue;
      const int h = hr / g.stride_h;
      if (h >= g.H) continue;
      for (int s = 0; s < g.S; ++s) {
        const int ws = q - s;
        if (ws < 0 || ws % g.stride_w != 0) continue;
        const int wi = ws / g.stride_w;
        if (wi >= g.W) continue;
        const float* xp = x + ((n * g.H + h) * g.W + wi) * g.C;
        const float* wp = w + (int64_t(r) * g.S + s) * g.K + k;
        const int64_t c_stride = int64_t(g.R) * g.S * g.K;
        for (int c = 0; c < g.C; ++c) acc += xp[c] * wp[c * c_stride];
      }
    }
    y[i] = acc;
  }
}

__global__ void backward_data_kernel(Geom g, const float* __restrict__ dy,
                                     const float* __restrict__ w, float* __restrict__ dx) {
  const int64_t total = int64_t(g.N) * g.H * g.W * g.C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(i % g.C);
    const int64_t m = i / g.C;
    const float* wp = w + int64_t(c) * g.R * g.S * g.K;
    const int64_t base = y_base(g, m);
    float acc = 0.0f;
    for (int r = 0; r < g.R; ++r)
      for (int s = 0; s < g.S; ++s) {
        const float* dyp = dy + base + (int64_t(r) * g.Q + s) * g.K;
        const float* wrs = wp + (int64_t(r) * g.S + s) * g.K;
        for (int k = 0; k < g.K; ++k) acc += dyp[k] * wrs[k];
      }
    dx[i] = acc;
  }
}

// partial[split][c][r][s][k] = sum over the split's input pixels m of
//                              x[m][c] * dy[block(m)][r,s,k]
__global__ void backward_weight_kernel(Geom g, const float* __restrict__ x,
                                       const float* __restrict__ dy, int64_t split_len,
                                       float* __restrict__ partial) {
  const int64_t rsk = int64_t(g.R) * g.S * g.K, total = int64_t(g.C) * rsk;
  const int64_t pixels = int64_t(g.N) * g.H * g.W;
  const int split = blockIdx.y;
  const int64_t m_begin = split * split_len, m_end = min(pixels, m_begin + split_len);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(i / rsk), j = int(i % rsk);
    const int64_t off = y_off(g, j);
    float acc = 0.0f;
    for (int64_t m = m_begin; m < m_end; ++m) acc += x[m * g.C + c] * dy[y_base(g, m) + off];
    partial[split * total + i] = acc;
  }
}

}  // namespace

void v1_forward(const ConvTranspose2dShape& s, const float* x, const float* w, const float* bias,
                float* y, Stream stream) {
  forward_kernel<<<grid_for(s.y_size()), kThreads, 0, stream>>>(make_geom(s), x, w, bias, y);
  UNET_CUDA_CHECK_LAUNCH("conv_transpose2d v1 forward_kernel");
}

void v1_backward_data(const ConvTranspose2dShape& s, const float* dy, const float* w, float* dx,
                      Stream stream) {
  backward_data_kernel<<<grid_for(s.x_size()), kThreads, 0, stream>>>(make_geom(s), dy, w, dx);
  UNET_CUDA_CHECK_LAUNCH("conv_transpose2d v1 backward_data_kernel");
}

void v1_backward_weight_partials(const ConvTranspose2dShape& s, const float* x, const float* dy,
                                 float* partial, Stream stream) {
  const SplitPlan plan = plan_splits(s);
  const dim3 grid(std::min<unsigned>(ceil_div(s.w_size(), kThreads), 4096u), plan.splits);
  backward_weight_kernel<<<grid, kThreads, 0, stream>>>(make_geom(s), x, dy, plan.split_len,
                                                        partial);
  UNET_CUDA_CHECK_LAUNCH("conv_transpose2d v1 backward_weight_kernel");
}

}  // namespace unet::kernels::detail::conv_transpose2d_cuda
