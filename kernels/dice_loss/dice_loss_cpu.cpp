// dice_loss CPU backends: the naive reference (plain loops, the executable spec) and the OpenMP
// fast path. Forward reads 2 floats per element (8 bytes), backward reads 2 and writes 1 (12
// bytes); ~20 FLOPs per element for the sigmoid. Both accumulate in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dice_loss/dice_loss.h"
#include "kernels/dice_loss/dice_loss_check.h"

namespace unet::kernels {
namespace {

// Stable logistic: exp of a non-positive argument only, so no overflow for large |x|.
template <typename T>
T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

double dice_loss_from_sums(const DiceSums& s, double smooth) {
  return -(2.0 * s.intersection + smooth) / (s.pred_sum + s.target_sum + smooth);
}

// dL/dp_i = -(2 t_i D - Nn) / D^2 = a*t_i + b with a = -2/D, b = Nn/D^2.
struct DiceGradCoeffs {
  double a, b;
};
DiceGradCoeffs dice_grad_coeffs(const DiceSums& s, double smooth) {
  const double nn = 2.0 * s.intersection + smooth;
  const double d = s.pred_sum + s.target_sum + smooth;
  return {-2.0 / d, nn / (d * d)};
}

constexpr int64_t kChunk = 1 << 16;  // fixed, so the summation order depends only on n

}  // namespace

template <typename T>
T dice_loss_forward_ref(int64_t n, const T* logits, const T* target, T smooth, DiceSums* sums) {
  dice_detail::check_args("dice_loss_forward_ref", n, logits, target, double(smooth));
  DiceSums s;
  for (int64_t i = 0; i < n; ++i) {
    const double p = double(sigmoid(logits[i]));
    const double t = double(target[i]);
    s.intersection += p * t;
    s.pred_sum += p;
    s.target_sum += t;
  }
  if (sums) *sums = s;
  return T(dice_loss_from_sums(s, double(smooth)));
}

template <typename T>
void dice_loss_backward_ref(int64_t n, const T* logits, const T* target, T smooth,
                            const DiceSums& sums, T dloss, T* dlogits) {
  dice_detail::check_args("dice_loss_backward_ref", n, logits, target, double(smooth));
  dice_detail::check_output("dice_loss_backward_ref", "dlogits", dlogits);
  const DiceGradCoeffs c = dice_grad_coeffs(sums, double(smooth));
  for (int64_t i = 0; i < n; ++i) {
    const T p = sigmoid(logits[i]);
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

float dice_loss_forward_cpu(int64_t n, const float* logits, const float* target, float smooth,
                            DiceSums* sums) {
  dice_detail::check_args("dice_loss_forward_cpu", n, logits, target, double(smooth));
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(size_t(chunks) * 3);
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t end = std::min(n, (k + 1) * kChunk);
    double inter = 0, ps = 0, ts = 0;
    for (int64_t i = k * kChunk; i < end; ++i) {
      const double p = double(sigmoid(logits[i]));
      const double t = double(target[i]);
      inter += p * t;
      ps += p;
      ts += t;
    }
    partial[size_t(k) * 3 + 0] = inter;
    partial[size_t(k) * 3 + 1] = ps;
    partial[size_t(k) * 3 + 2] = ts;
  }
  DiceSums s;
  for (int64_t k = 0; k < chunks; ++k) {  // fixed order: same bits for any thread count
    s.intersection += partial[size_t(k) * 3 + 0];
    s.pred_sum += partial[size_t(k) * 3 + 1];
    s.target_sum += partial[size_t(k) * 3 + 2];
  }
  if (sums) *sums = s;
  return float(dice_loss_from_sums(s, double(smooth)));
}

void dice_loss_backward_cpu(int64_t n, const float* logits, const float* target, float smooth,
                            const DiceSums& sums, float dloss, float* dlogits) {
  dice_detail::check_args("dice_loss_backward_cpu", n, logits, target, double(smooth));
  dice_detail::check_output("dice_loss_backward_cpu", "dlogits", dlogits);
  const DiceGradCoeffs c = dice_grad_coeffs(sums, double(smooth));
  const float a = float(c.a), b = float(c.b);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float p = sigmoid(logits[i]);
    dlogits[i] = dloss * (a * target[i] + b) * p * (1.0f - p);
  }
}

}  // namespace unet::kernels
