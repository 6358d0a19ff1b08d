// bce_with_logits CPU naive reference: plain loops, one sequential double accumulator, the
// executable spec for the fast CPU path and the CUDA kernels. Templated (float, double) so the
// gradient check runs in double. ~10 FLOPs plus one exp and one log1p per element. Also defines
// the argument checks of every backend.
#include <stdexcept>
#include <string>

#include "kernels/bce_with_logits/bce_with_logits.h"
#include "kernels/bce_with_logits/bce_with_logits_check.h"

namespace unet::kernels {
namespace detail {

void bce_with_logits_check_args(const char* op, int64_t n, const void* logits, const void* target) {
  if (n <= 0) {
    throw std::invalid_argument(std::string(op) + ": n must be > 0, got " + std::to_string(n) +
                                " (the mean over an empty batch is undefined)");
  }
  if (logits == nullptr || target == nullptr) {
    throw std::invalid_argument(
        std::string(op) + ": logits and target must not be null (n = " + std::to_string(n) + ")");
  }
}

void bce_with_logits_check_output(const char* op, const char* name, const void* p) {
  if (p == nullptr) {
    throw std::invalid_argument(std::string(op) + ": " + name + " must not be null");
  }
}

}  // namespace detail

template <typename T>
T bce_with_logits_forward_ref(int64_t n, const T* logits, const T* target) {
  detail::bce_with_logits_check_args("bce_with_logits_forward_ref", n, logits, target);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(detail::bce_with_logits_term(logits[i], target[i]));
  return T(sum / double(n));
}

template <typename T>
void bce_with_logits_backward_ref(int64_t n, const T* logits, const T* target, T dloss,
                                  T* dlogits) {
  detail::bce_with_logits_check_args("bce_with_logits_backward_ref", n, logits, target);
  detail::bce_with_logits_check_output("bce_with_logits_backward_ref", "dlogits", dlogits);
  const T scale = dloss / T(n);
  for (int64_t i = 0; i < n; ++i) {
    dlogits[i] = scale * (detail::bce_with_logits_sigmoid(logits[i]) - target[i]);
  }
}

template float bce_with_logits_forward_ref<float>(int64_t, const float*, const float*);
template double bce_with_logits_forward_ref<double>(int64_t, const double*, const double*);
template void bce_with_logits_backward_ref<float>(int64_t, const float*, const float*, float,
                                                  float*);
template void bce_with_logits_backward_ref<double>(int64_t, const double*, const double*, double,
                                                   double*);

}  // namespace unet::kernels
