// Internal to the dice_loss backends (not part of the contract): the argument checks every backend
// runs (defined in dice_loss_cpu_ref.cpp), so all reject the same inputs with the same message, and
// the small inline math the CPU reference and the CPU fast path share.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/dice_loss/dice_loss.h"

namespace unet::kernels::detail {

// n > 0, smooth finite and >= 0, logits and target non-null; throws std::invalid_argument naming
// `op` and what to pass instead.
void dice_loss_check_args(const char* op, int64_t n, const void* logits, const void* target,
                          double smooth);
// An output (or workspace, or device scalar) pointer `name` must not be null.
void dice_loss_check_output(const char* op, const char* name, const void* p);

// Stable logistic: exp of a non-positive argument only, so no overflow for large |x|.
template <typename T>
inline T dice_loss_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

inline double dice_loss_from_sums(const DiceSums& s, double smooth) {
  return -(2.0 * s.intersection + smooth) / (s.pred_sum + s.target_sum + smooth);
}

// dL/dp_i = -(2 t_i D - Nn) / D^2 = a*t_i + b with a = -2/D, b = Nn/D^2.
struct DiceGradCoeffs {
  double a, b;
};
inline DiceGradCoeffs dice_loss_grad_coeffs(const DiceSums& s, double smooth) {
  const double nn = 2.0 * s.intersection + smooth;
  const double d = s.pred_sum + s.target_sum + smooth;
  return {-2.0 / d, nn / (d * d)};
}

}  // namespace unet::kernels::detail
