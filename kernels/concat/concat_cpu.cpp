// concat CPU fast path: OpenMP over pixels, two contiguous copies per pixel (C1 then C2 floats).
// Bytes (fp32): 8*pixels*(C1+C2) per pass; memory bound.

#include <cstring>

#include "kernels/concat/concat.h"
#include "kernels/concat/concat_check.h"

namespace unet::kernels {

void concat_forward_cpu(const ConcatShape& s, const float* a, const float* b, float* y) {
  detail::concat_check_args("concat_forward_cpu", s, {{"a", a}, {"b", b}, {"y", y}});
  const int C = s.C1 + s.C2;
#pragma omp parallel for schedule(static) if (s.pixels * C > 32768)
  for (int64_t p = 0; p < s.pixels; ++p) {
    std::memcpy(y + p * C, a + p * s.C1, sizeof(float) * s.C1);
    std::memcpy(y + p * C + s.C1, b + p * s.C2, sizeof(float) * s.C2);
  }
}

void concat_backward_cpu(const ConcatShape& s, const float* dy, float* da, float* db) {
  detail::concat_check_args("concat_backward_cpu", s, {{"dy", dy}, {"da", da}, {"db", db}});
  const int C = s.C1 + s.C2;
#pragma omp parallel for schedule(static) if (s.pixels * C > 32768)
  for (int64_t p = 0; p < s.pixels; ++p) {
    std::memcpy(da + p * s.C1, dy + p * C, sizeof(float) * s.C1);
    std::memcpy(db + p * s.C2, dy + p * C + s.C1, sizeof(float) * s.C2);
  }
}

}  // namespace unet::kernels
