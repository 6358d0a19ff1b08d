// reduce CPU naive references: one sequential loop accumulating in double (the spec; on random
// data it is accurate to ~1e-16 relative, far below the fp32 rounding of the result).
// Bytes: 4*n read (fp32).

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/reduce/reduce.h"
#include "kernels/reduce/reduce_check.h"

namespace unet::kernels {
namespace detail {

void sum_check_args(const char* op, int64_t n, const void* x, const void* out) {
  const std::string where = " (n=" + std::to_string(n) + ")";
  if (n < 0) throw std::invalid_argument(std::string(op) + ": n must be >= 0" + where);
  if (n > 0 && x == nullptr)
    throw std::invalid_argument(std::string(op) + ": x is null; pass n elements" + where);
  if (out == nullptr)
    throw std::invalid_argument(std::string(op) + ": out is null; pass one element" + where);
}

void channel_sum_check_args(const char* op, int64_t pixels, int C, const void* x, const void* out) {
  std::ostringstream w;
  w << " (pixels=" << pixels << " C=" << C << ")";
  if (pixels < 0) throw std::invalid_argument(std::string(op) + ": pixels must be >= 0" + w.str());
  if (C < 1) throw std::invalid_argument(std::string(op) + ": C must be >= 1" + w.str());
  if (pixels > 0 && x == nullptr)
    throw std::invalid_argument(std::string(op) + ": x is null; pass pixels*C elements" + w.str());
  if (out == nullptr)
    throw std::invalid_argument(std::string(op) + ": out is null; pass C elements" + w.str());
}

}  // namespace detail

template <typename T>
T sum_ref(int64_t n, const T* x) {
  detail::sum_check_args("sum_ref", n, x, &n);
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += double(x[i]);
  return T(acc);
}

template <typename T>
void channel_sum_ref(int64_t pixels, int C, const T* x, T* out) {
  detail::channel_sum_check_args("channel_sum_ref", pixels, C, x, out);
  std::vector<double> acc(C, 0.0);
  for (int64_t p = 0; p < pixels; ++p)
    for (int c = 0; c < C; ++c) acc[c] += double(x[p * C + c]);
  for (int c = 0; c < C; ++c) out[c] = T(acc[c]);
}

template float sum_ref<float>(int64_t, const float*);
template double sum_ref<double>(int64_t, const double*);
template void channel_sum_ref<float>(int64_t, int, const float*, float*);
template void channel_sum_ref<double>(int64_t, int, const double*, double*);

}  // namespace unet::kernels
