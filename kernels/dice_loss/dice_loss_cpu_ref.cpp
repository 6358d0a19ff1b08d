// dice_loss CPU naive reference: plain loops, one sequential double accumulator per sum, the
// executable spec for the fast CPU path and the CUDA kernels. Templated (float, double) so the
// gradient check runs in double. Forward reads 2 values per element, backward reads 2 and writes
// 1; ~20 FLOPs per element for the sigmoid. Also defines the argument checks of every backend.
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/dice_loss/dice_loss.h"
#include "kernels/dice_loss/dice_loss_check.h"

namespace unet::kernels {
namespace detail {

void dice_loss_check_args(const char* op, int64_t n, const void* logits, const void* target,
                          double smooth) {
  if (n <= 0) {
    throw std::invalid_argument(std::string(op) + ": n must be > 0, got " + std::to_string(n) +
                                " (pass a non-empty batch)");
  }
  if (!(smooth >= 0.0) || !std::isfinite(smooth)) {
    throw std::invalid_argument(std::string(op) + ": smooth must be finite and >= 0, got " +
                                std::to_string(smooth) + " (the seed recipe uses 1)");
  }
  if (logits == nullptr || target == nullptr) {
    throw std::invalid_argument(
        std::string(op) + ": logits and target must not be null (n = " + std::to_string(n) + ")");
  }
}

void dice_loss_check_output(const char* op, const char* name, const void* p) {
  if (p == nullptr) {
    throw std::invalid_argument(std::string(op) + ": " + name + " must not be null");
  }
}

}  // namespace detail

template <typename T>
T dice_loss_forward_ref(int64_t n, const T* logits, const T* target, T smooth, DiceSums* sums) {
  detail::dice_loss_check_args("dice_loss_forward_ref", n, logits, target, double(smooth));
  DiceSums s;
  for (int64_t i = 0; i < n; ++i) {
    const double p = double(detail::dice_loss_sigmoid(logits[i]));
    const double t = double(target[i]);
    s.intersection += p * t;
    s.pred_sum += p;
    s.target_sum += t;
  }
  if (sums) *sums = s;
  return T(detail::dice_loss_from_sums(s, double(smooth)));
}

template <typename T>
void dice_loss_backward_ref(int64_t n, const T* logits, const T* target, T smooth,
                            const DiceSums& sums, T dloss, T* dlogits) {
  detail::dice_loss_check_args("dice_loss_backward_ref", n, logits, target, double(smooth));
  detail::dice_loss_check_output("dice_loss_backward_ref", "dlogits", dlogits);
  const detail::DiceGradCoeffs c = detail::dice_loss_grad_coeffs(sums, double(smooth));
  for (int64_t i = 0; i < n; ++i) {
    const T p = detail::dice_loss_sigmoid(logits[i]);
    const T dldp = T(c.a * double(target[i]) + c.b);
    dlogits[i] = dloss * dldp * p * (T(1) - p);
  }
}

template float dice_loss_forward_ref<float>(int64_t, const float*, const float*, float, DiceSums*);
template double dice_loss_forward_ref<double>(int64_t, const double*, const double*, double,
                                              DiceSums*);
template void dice_loss_backward_ref<float>(int64_t, const float*, const float*, float,
                                            const DiceSums&, float, float*);
template void dice_loss_backward_ref<double>(int64_t, const double*, const double*, double,
                                             const DiceSums&, double, double*);

}  // namespace unet::kernels
