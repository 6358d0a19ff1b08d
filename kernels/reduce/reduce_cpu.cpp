// reduce CPU fast path: the input is cut into fixed-size chunks (sizes below, independent of the
// thread count); OpenMP threads sum whole chunks into double partials, then the partials are added
// in chunk order on one thread. So the result depends only on n / (pixels, C): deterministic.
// Bytes: 4*n read (fp32); memory bound.

#include <algorithm>
#include <vector>

#include "kernels/reduce/reduce.h"
#include "kernels/reduce/reduce_check.h"

namespace unet::kernels {
namespace {
constexpr int64_t kSumChunk = 1 << 16;      // elements per partial of sum_cpu
constexpr int64_t kChannelChunk = 1 << 10;  // pixels per partial row of channel_sum_cpu
}  // namespace

float sum_cpu(int64_t n, const float* x) {
  detail::sum_check_args("sum_cpu", n, x, &n);
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t end = std::min(n, (k + 1) * kSumChunk);
    double acc = 0.0;
    for (int64_t i = k * kSumChunk; i < end; ++i) acc += double(x[i]);
    partial[k] = acc;
  }
  double total = 0.0;
  for (double v : partial) total += v;
  return float(total);
}

void channel_sum_cpu(int64_t pixels, int C, const float* x, float* out) {
  detail::channel_sum_check_args("channel_sum_cpu", pixels, C, x, out);
  const int64_t chunks = (pixels + kChannelChunk - 1) / kChannelChunk;
  std::vector<double> partial(chunks * C, 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t k = 0; k < chunks; ++k) {
    double* acc = partial.data() + k * C;
    const int64_t end = std::min(pixels, (k + 1) * kChannelChunk);
    for (int64_t p = k * kChannelChunk; p < end; ++p) {
      const float* xp = x + p * C;
#pragma omp simd
      for (int c = 0; c < C; ++c) acc[c] += double(xp[c]);
    }
  }
  std::vector<double> total(C, 0.0);
  for (int64_t k = 0; k < chunks; ++k)
    for (int c = 0; c < C; ++c) total[c] += partial[k * C + c];
  for (int c = 0; c < C; ++c) out[c] = float(total[c]);
}

}  // namespace unet::kernels
