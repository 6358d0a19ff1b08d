// conv2d CUDA v1: one thread per output element, direct loops over the reduction (exact fp32).
// v1: the executable spec on the GPU; every later variant is tested against the CPU reference too.
//
// forward:         thread (n,p,q,k) reads R*S*C inputs and weights: 2*R*S*C FLOPs, 8*R*S*C bytes
//                  through L1/L2 (no reuse in registers), so it runs at cache bandwidth.
// backward-data:   thread (n,h,w,c) sums dy[n,p,q,k]*w[k,r,s,c] over the taps that touch (h,w).
// backward-weight: thread (z, k,r,s,c) sums x*dy over chunk z of the N*P*Q rows; the partials go to
//                  the workspace and sum_partials adds them in chunk order (deterministic).
#include "kernels/conv2d/conv2d_cuda_common.cuh"

namespace unet::kernels::detail::conv2d_cuda {

namespace {

__global__ void forward_v1_kernel(Geom g, const float* __restrict__ x, const float* __restrict__ w,
                                  const float* __restrict__ bias, float* __restrict__ y,
                                  bool relu) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = int64_t(g.N) * g.P * g.Q * g.K;
  if (i >= total) return;
  const int k = int(i % g.K);
  int64_t t = i / g.K;
  const int q = int(t % g.Q);
  t /= g.Q;
  const int p = int(t % g.P);
  const int n = int(t / g.P);
  float acc = 0.0f;
  for (int r = 0; r < g.R; ++r) {
    const int h = p * g.stride_h - g.pad_h + r;
    if (h < 0 || h >= g.H) continue;
    for (int s = 0; s < g.S; ++s) {
      const int ww = q * g.stride_w - g.pad_w + s;
      if (ww < 0 || ww >= g.W) continue;
      const float* xp = x + ((int64_t(n) * g.H + h) * g.W + ww) * g.C;
      const float* wp = w + ((int64_t(k) * g.R + r) * g.S + s) * g.C;
      for (int c = 0; c < g.C; ++c) acc = fmaf(xp[c], wp[c], acc);
    }
  }
  if (bias != nullptr) acc += bias[k];
  if (relu) acc = acc > 0.0f ? acc : 0.0f;
  y[i] = acc;
}

__global__ void backward_data_v1_kernel(Geom g, const float* __restrict__ dy,
                                        const float* __restrict__ w,
                                        const float* __restrict__ relu_y, float* __restrict__ dx) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = int64_t(g.N) * g.H * g.W * g.C;
  if (i >= total) return;
  const int c = int(i % g.C);
  int64_t t = i / g.C;
  const int wi = int(t % g.W);
  t /= g.W;
  const int h = int(t % g.H);
  const int n = int(t / g.H);
  float acc = 0.0f;
  for (int r = 0; r < g.R; ++r) {
    const int ph = h + g.pad_h - r;
    if (ph < 0 || ph % g.stride_h) continue;
    const int p = ph / g.stride_h;
    if (p >= g.P) continue;
    for (int s = 0; s < g.S; ++s) {
      const int pw = wi + g.pad_w - s;
      if (pw < 0 || pw % g.stride_w) continue;
      const int q = pw / g.stride_w;
      if (q >= g.Q) continue;
      const int64_t o = ((int64_t(n) * g.P + p) * g.Q + q) * g.K;
      for (int k = 0; k < g.K; ++k) {
        const float d = relu_mask(dy[o + k], relu_y, o + k);
        acc = fmaf(d, w[((int64_t(k) * g.R + r) * g.S + s) * g.C + c], acc);
      }
    }
  }
  dx[i] = acc;
}

// grid.y = chunk z; each thread owns one dw element for the rows [z*len, (z+1)*len).
__global__ void backward_weight_v1_kernel(Geom g, const float* __restrict__ x,
                                          const float* __restrict__ dy,
                                          const float* __restrict__ relu_y, int chunk_len,
                                          float* __restrict__ part) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t wsize = int64_t(g.K) * g.R * g.S * g.C;
  if (i >= wsize) return;
  const int c = int(i % g.C);
  int64_t t = i / g.C;
  const int s = int(t % g.S);
  t /= g.S;
  const int r = int(t % g.R);
  const int k = int(t / g.R);
  const int64_t rows = int64_t(g.N) * g.P * g.Q;
  const int64_t begin = int64_t(blockIdx.y) * chunk_len;
  const int64_t end = begin + chunk_len < rows ? begin + chunk_len : rows;
  float acc = 0.0f;
  for (int64_t j = begin; j < end; ++j) {
    const int q = int(j % g.Q);
    const int64_t np = j / g.Q;
    const int p = int(np % g.P);
    const int n = int(np / g.P);
    const int h = p * g.stride_h - g.pad_h + r;
    const int ww = q * g.stride_w - g.pad_w + s;
    if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
    const int64_t o = j * g.K + k;
    const float d = relu_mask(dy[o], relu_y, o);
    acc = fmaf(x[((int64_t(n) * g.H + h) * g.W + ww) * g.C + c], d, acc);
  }
  part[int64_t(blockIdx.y) * wsize + i] = acc;
}

// v1's split: chunks of 2048 rows, at most 256 chunks (shape-only, so results are reproducible).
SplitK plan_v1(const Conv2dShape& s) {
  const int64_t rows = int64_t(s.N) * s.P() * s.Q();
  int64_t chunks = (rows + 2047) / 2048;
  if (chunks > 256) chunks = 256;
  const int64_t len = (rows + chunks - 1) / chunks;
  return SplitK{int((rows + len - 1) / len), int(len)};
}

}  // namespace

void forward_v1(const Geom& g, const float* x, const float* w, const float* bias, float* y,
                bool relu, Stream stream) {
  const int64_t total = int64_t(g.N) * g.P * g.Q * g.K;
  forward_v1_kernel<<<ceil_div(total, 256), 256, 0, stream>>>(g, x, w, bias, y, relu);
  UNET_CUDA_CHECK_LAUNCH("conv2d forward_v1_kernel");
}

void backward_data_v1(const Geom& g, const float* dy, const float* w, const float* relu_y,
                      float* dx, Stream stream) {
  const int64_t total = int64_t(g.N) * g.H * g.W * g.C;
  backward_data_v1_kernel<<<ceil_div(total, 256), 256, 0, stream>>>(g, dy, w, relu_y, dx);
  UNET_CUDA_CHECK_LAUNCH("conv2d backward_data_v1_kernel");
}

size_t backward_weight_v1_ws(const Conv2dShape& s) { return bwd_weight_ws_bytes(s, plan_v1(s)); }

void backward_weight_v1(const Geom& g, const float* x, const float* dy, const float* relu_y,
                        float* dw, float* dbias, float* workspace, Stream stream) {
  const Conv2dShape s = to_shape(g);
  const SplitK sk = plan_v1(s);
  const int64_t wsize = s.w_size();
  dim3 grid(ceil_div(wsize, 256), sk.chunks);
  backward_weight_v1_kernel<<<grid, 256, 0, stream>>>(g, x, dy, relu_y, sk.chunk_len, workspace);
  UNET_CUDA_CHECK_LAUNCH("conv2d backward_weight_v1_kernel");
  sum_partials(workspace, sk.chunks, wsize, dw, stream);
  if (dbias != nullptr) {
    dbias_reduce(g, dy, relu_y, dbias, workspace + size_t(sk.chunks) * wsize, stream);
  }
}

}  // namespace unet::kernels::detail::conv2d_cuda
