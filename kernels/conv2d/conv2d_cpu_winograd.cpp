// conv2d CPU variant 2: Winograd F(2x2, 3x3) for 3x3 / stride 1 / pad 1 convolutions (every 3x3
// conv of the U-Net), forward and backward-data. kernels/conv2d/README.md walks through the math;
// in short, per 2x2 output tile and per channel pair:
//
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A       d: 4x4 input tile, g: 3x3 filter, .*: elementwise
//
// so the 36 multiplies of four direct 3x3 dot products become 16, and the sum over input channels
// of those 16 products is 16 independent GEMMs:
//
//   M[xi][tile][k] = sum_c V[xi][tile][c] * U[xi][k][c]        xi = 0..15 (the 4x4 positions)
//
// with V = B^T d B (input transform, per tile and channel) and U = G g G^T (filter transform, per
// k and c). Per output pixel that is 16*C*K/4 = 4*C*K multiply-adds instead of 9*C*K: 2.25x fewer
// FLOPs in the GEMMs, paid for by the transforms (about 2*16*C per tile in, 24*K per tile out) and
// by V and M round-tripping through memory. The entries of B, G and A are 0, +-1 and +-1/2, all
// exact in float; the error comes from the GEMM's longer sums of products with larger magnitude
// (U's entries grow to 9/4 of g's), measured in tests/kernels/conv2d_test.cpp.
//
// Backward-data of a 3x3 / stride 1 / pad 1 conv is the same conv applied to dy with the filter
// rotated by 180 degrees and in/out channels swapped: w'[c][r][s][k] = w[k][2-r][2-s][c]. So it
// runs the same tile pipeline with U built from the rotated filter; the ReLU mask is applied as dy
// is read into the input transform.
//
// Tiles are processed in chunks so V and M stay under kChunkBudgetBytes; the transforms are
// OpenMP loops over tiles, the GEMMs run outside any parallel region (OpenBLAS threads them).
// Every output element is written by exactly one tile, so results do not depend on thread count.

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/common/gemm_cpu.h"
#include "kernels/common/scratch_cpu.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_check.h"

namespace unet::kernels {
namespace {

constexpr int64_t kChunkBudgetBytes = int64_t(32) << 20;
constexpr int kVSlot = 0, kMSlot = 1, kUSlot = 2;  // cpu_scratch slots

// The tile pipeline for one 3x3 / stride 1 / pad 1 conv with C inputs and K outputs per pixel on
// an N x H x W grid (output grid = input grid). `in_mask` (nullable) zeroes input values where it
// is not > 0 (the ReLU's backward). U is the transformed filter [16][K][C].
struct TileConv {
  int N, H, W, C, K;
  const float* in;
  const float* in_mask;
  const float* U;
  const float* bias;
  bool relu;
  float* out;
};

// U[xi][k][c] = (G g G^T)[xi] for the 3x3 filter g = filter(k, c, r, s).
template <typename Filter>
void transform_filters(int K, int C, Filter filter, float* U) {
  const int64_t plane = int64_t(K) * C;
#pragma omp parallel for schedule(static)
  for (int64_t kc = 0; kc < plane; ++kc) {
    const int k = int(kc / C), c = int(kc % C);
    float g[3][3];
    for (int r = 0; r < 3; ++r)
      for (int s = 0; s < 3; ++s) g[r][s] = filter(k, c, r, s);
    // t = G g (4x3): rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2.
    float t[4][3];
    for (int s = 0; s < 3; ++s) {
      t[0][s] = g[0][s];
      t[1][s] = 0.5f * (g[0][s] + g[1][s] + g[2][s]);
      t[2][s] = 0.5f * (g[0][s] - g[1][s] + g[2][s]);
      t[3][s] = g[2][s];
    }
    // u = t G^T (4x4), the same combination along the other axis.
    for (int i = 0; i < 4; ++i) {
      float* u = U + int64_t(i * 4) * plane + kc;
      u[0 * plane] = t[i][0];
      u[1 * plane] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
      u[2 * plane] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
      u[3 * plane] = t[i][2];
    }
  }
}

// V[xi][t][c] for tiles t0 .. t0+tiles-1 (tile t covers output rows 2*ty, 2*ty+1 and columns
// 2*tx, 2*tx+1; its input tile starts one pixel up and left). Out-of-range inputs are 0.
void transform_inputs(const TileConv& a, int tiles_y, int tiles_x, int64_t t0, int64_t tiles,
                      float* V) {
  const int C = a.C;
  const int64_t plane = tiles * C;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < tiles; ++i) {
    const int64_t t = t0 + i;
    const int n = int(t / (int64_t(tiles_y) * tiles_x));
    const int ty = int(t / tiles_x % tiles_y), tx = int(t % tiles_x);
    const int h0 = 2 * ty - 1, w0 = 2 * tx - 1;
    // d[r][s] points at the C channels of input pixel (h0 + r, w0 + s), or null outside.
    const float* d[4][4];
    const float* m[4][4];
    for (int r = 0; r < 4; ++r)
      for (int s = 0; s < 4; ++s) {
        const int h = h0 + r, w = w0 + s;
        const bool inside = h >= 0 && h < a.H && w >= 0 && w < a.W;
        const int64_t off = ((int64_t(n) * a.H + h) * a.W + w) * C;
        d[r][s] = inside ? a.in + off : nullptr;
        m[r][s] = inside && a.in_mask ? a.in_mask + off : nullptr;
      }
    float* v = V + i * C;
    for (int c = 0; c < C; ++c) {
      float x[4][4];
      for (int r = 0; r < 4; ++r)
        for (int s = 0; s < 4; ++s) {
          const float value = d[r][s] ? d[r][s][c] : 0.0f;
          x[r][s] = (m[r][s] && !(m[r][s][c] > 0.0f)) ? 0.0f : value;
        }
      // B^T x: rows x0-x2, x1+x2, x2-x1, x1-x3; then the same on columns.
      float b[4][4];
      for (int s = 0; s < 4; ++s) {
        b[0][s] = x[0][s] - x[2][s];
        b[1][s] = x[1][s] + x[2][s];
        b[2][s] = x[2][s] - x[1][s];
        b[3][s] = x[1][s] - x[3][s];
      }
      for (int r = 0; r < 4; ++r) {
        float* row = v + int64_t(r * 4) * plane + c;
        row[0 * plane] = b[r][0] - b[r][2];
        row[1 * plane] = b[r][1] + b[r][2];
        row[2 * plane] = b[r][2] - b[r][1];
        row[3 * plane] = b[r][1] - b[r][3];
      }
    }
  }
}

// y = A^T M A for each tile and output channel, + bias, ReLU; writes the in-range pixels.
void transform_outputs(const TileConv& a, int tiles_y, int tiles_x, int64_t t0, int64_t tiles,
                       const float* M) {
  const int K = a.K;
  const int64_t plane = tiles * K;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < tiles; ++i) {
    const int64_t t = t0 + i;
    const int n = int(t / (int64_t(tiles_y) * tiles_x));
    const int ty = int(t / tiles_x % tiles_y), tx = int(t % tiles_x);
    const int h0 = 2 * ty, w0 = 2 * tx;
    const bool down = h0 + 1 < a.H, right = w0 + 1 < a.W;
    float* y00 = a.out + ((int64_t(n) * a.H + h0) * a.W + w0) * K;
    float* y01 = y00 + K;
    float* y10 = y00 + int64_t(a.W) * K;
    float* y11 = y10 + K;
    const float* mt = M + i * K;
    for (int k = 0; k < K; ++k) {
      float m[4][4];
      for (int xi = 0; xi < 16; ++xi) m[xi / 4][xi % 4] = mt[xi * plane + k];
      // A^T m: rows m0+m1+m2, m1-m2-m3; then the same on columns.
      float r0[4], r1[4];
      for (int s = 0; s < 4; ++s) {
        r0[s] = m[0][s] + m[1][s] + m[2][s];
        r1[s] = m[1][s] - m[2][s] - m[3][s];
      }
      const float b = a.bias ? a.bias[k] : 0.0f;
      float out[4] = {r0[0] + r0[1] + r0[2] + b, r0[1] - r0[2] - r0[3] + b,
                      r1[0] + r1[1] + r1[2] + b, r1[1] - r1[2] - r1[3] + b};
      if (a.relu) {
        for (float& o : out) o = o > 0.0f ? o : 0.0f;
      }
      y00[k] = out[0];
      if (right) y01[k] = out[1];
      if (down) y10[k] = out[2];
      if (down && right) y11[k] = out[3];
    }
  }
}

void run_tiles(const TileConv& a) {
  const int tiles_y = (a.H + 1) / 2, tiles_x = (a.W + 1) / 2;
  const int64_t total = int64_t(a.N) * tiles_y * tiles_x;
  const int64_t per_tile_bytes = 16 * 4 * int64_t(a.C + a.K);
  const int64_t chunk =
      std::min<int64_t>(total, std::max<int64_t>(kChunkBudgetBytes / per_tile_bytes, 64));
  float* V = cpu_scratch(kVSlot, size_t(16 * chunk * a.C));
  float* M = cpu_scratch(kMSlot, size_t(16 * chunk * a.K));
  const int64_t u_plane = int64_t(a.K) * a.C;
  for (int64_t t0 = 0; t0 < total; t0 += chunk) {
    const int64_t tiles = std::min(chunk, total - t0);
    transform_inputs(a, tiles_y, tiles_x, t0, tiles, V);
    for (int xi = 0; xi < 16; ++xi) {
      sgemm_cpu(false, true, int(tiles), a.K, a.C, 1.0f, V + xi * tiles * a.C, a.C,
                a.U + xi * u_plane, a.C, 0.0f, M + xi * tiles * a.K, a.K);
    }
    transform_outputs(a, tiles_y, tiles_x, t0, tiles, M);
  }
}

}  // namespace

namespace detail {
void conv2d_check_winograd(const char* op, const Conv2dShape& s) {
  if (!conv2d_winograd_applies(s)) {
    throw std::invalid_argument(std::string(op) +
                                ": Winograd F(2x2, 3x3) needs a 3x3 filter, stride 1 and pad 1 "
                                "(shape " +
                                conv2d_shape_string(s) + "); use conv2d_forward_cpu");
  }
}
}  // namespace detail

bool conv2d_winograd_applies(const Conv2dShape& s) {
  return s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 1 && s.pad_w == 1;
}

void conv2d_forward_cpu_winograd(const Conv2dShape& s, const float* x, const float* w,
                                 const float* bias, float* y, bool relu) {
  detail::conv2d_check_args("conv2d_forward_cpu_winograd", s, {{"x", x}, {"w", w}, {"y", y}});
  detail::conv2d_check_winograd("conv2d_forward_cpu_winograd", s);
  float* U = cpu_scratch(kUSlot, size_t(16) * s.K * s.C);
  const int C = s.C;
  transform_filters(
      s.K, s.C,
      [&](int k, int c, int r, int t) { return w[((int64_t(k) * 3 + r) * 3 + t) * C + c]; }, U);
  run_tiles({s.N, s.H, s.W, s.C, s.K, x, nullptr, U, bias, relu, y});
}

void conv2d_backward_data_cpu_winograd(const Conv2dShape& s, const float* dy, const float* w,
                                       const float* relu_y, float* dx) {
  detail::conv2d_check_args("conv2d_backward_data_cpu_winograd", s,
                            {{"dy", dy}, {"w", w}, {"dx", dx}});
  detail::conv2d_check_winograd("conv2d_backward_data_cpu_winograd", s);
  // The forward conv of dy (K channels) to dx (C channels) with w'[c][r][s][k] = w[k][2-r][2-s][c].
  float* U = cpu_scratch(kUSlot, size_t(16) * s.K * s.C);
  const int C = s.C;
  transform_filters(
      s.C, s.K,
      [&](int c, int k, int r, int t) {
        return w[((int64_t(k) * 3 + (2 - r)) * 3 + (2 - t)) * C + c];
      },
      U);
  run_tiles({s.N, s.H, s.W, s.K, s.C, dy, relu_y, U, nullptr, false, dx});
}

}  // namespace unet::kernels
