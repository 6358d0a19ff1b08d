// dice_loss CPU fast path: OpenMP over fixed 64K-element chunks; each chunk sums in double and the
// chunk partials are added in chunk order, so the result does not depend on the thread count.
// Forward reads 2 floats per element (8 bytes), backward reads 2 and writes 1 (12 bytes); ~20 FLOPs
// per element for the sigmoid.
#include <algorithm>
#include <vector>

#include "kernels/dice_loss/dice_loss.h"
#include "kernels/dice_loss/dice_loss_check.h"

namespace unet::kernels {
namespace {

constexpr int64_t kChunk = 1 << 16;  // fixed, so the summation order depends only on n

}  // namespace

float dice_loss_forward_cpu(int64_t n, const float* logits, const float* target, float smooth,
                            DiceSums* sums) {
  detail::dice_loss_check_args("dice_loss_forward_cpu", n, logits, target, double(smooth));
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(size_t(chunks) * 3);
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t end = std::min(n, (k + 1) * kChunk);
    double inter = 0, ps = 0, ts = 0;
    for (int64_t i = k * kChunk; i < end; ++i) {
      const double p = double(detail::dice_loss_sigmoid(logits[i]));
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
  return float(detail::dice_loss_from_sums(s, double(smooth)));
}

void dice_loss_backward_cpu(int64_t n, const float* logits, const float* target, float smooth,
                            const DiceSums& sums, float dloss, float* dlogits) {
  detail::dice_loss_check_args("dice_loss_backward_cpu", n, logits, target, double(smooth));
  detail::dice_loss_check_output("dice_loss_backward_cpu", "dlogits", dlogits);
  const detail::DiceGradCoeffs c = detail::dice_loss_grad_coeffs(sums, double(smooth));
  const float a = float(c.a), b = float(c.b);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float p = detail::dice_loss_sigmoid(logits[i]);
    dlogits[i] = dloss * (a * target[i] + b) * p * (1.0f - p);
  }
}

}  // namespace unet::kernels
