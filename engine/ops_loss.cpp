// Front-ends for the losses: fused sigmoid+Dice and BCE with logits.
#include <stdexcept>

#include "engine/cuda_backend.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/bce_with_logits/bce_with_logits.h"
#include "kernels/dice_loss/dice_loss.h"

namespace unet {

using detail::check_input;

namespace {
void check_loss_inputs(const std::string& op, const Tensor& logits, const Tensor& target) {
  check_input(op, "logits", logits);
  check_input(op, "target", target);
  detail::check_same_device(op, {&logits, &target});
  if (logits.numel() != target.numel() || logits.shape() != target.shape()) {
    throw std::invalid_argument(op + ": logits " + logits.describe() + " and target " +
                                target.describe() + " must have the same shape");
  }
  if (target.requires_grad()) {
    throw std::invalid_argument(op + ": target " + target.describe() +
                                " requires grad; the loss has no gradient for targets");
  }
}
}  // namespace

Tensor dice_loss(const Tensor& logits, const Tensor& target, float smooth) {
  const std::string op = "dice_loss";
  check_loss_inputs(op, logits, target);
  if (!(smooth > 0.0f)) {
    throw std::invalid_argument(
        "dice_loss: smooth must be > 0 (got " + std::to_string(smooth) +
        "); it keeps the loss defined when prediction and target are empty");
  }
  const int64_t n = logits.numel();
  Tensor loss = Tensor::empty({1}, DType::kFloat32, logits.device());
  // What backward needs: on the CPU the three sums (host doubles); on CUDA one device buffer
  // [loss, I, Ps, Ts], from which the loss is copied so the returned tensor owns one element.
  auto sums = std::make_shared<kernels::DiceSums>();
  Tensor out;
  dispatch(
      {"dice_loss.forward", 0, 8.0 * n}, logits,
      [&] {
        loss.f32()[0] = kernels::dice_loss_forward_ref<float>(n, logits.f32(), target.f32(), smooth,
                                                              sums.get());
      },
      [&] {
        loss.f32()[0] =
            kernels::dice_loss_forward_cpu(n, logits.f32(), target.f32(), smooth, sums.get());
      },
      [&](kernels::Stream st) {
        out = Tensor::empty({4}, DType::kFloat32, logits.device());
        Tensor ws = detail::workspace(kernels::dice_loss_cuda_workspace_bytes(n), logits.device());
        kernels::dice_loss_forward_cuda(n, logits.f32(), target.f32(), smooth, out.f32(),
                                        detail::workspace_ptr(ws), st);
        cuda_backend::memcpy(loss.f32(), out.f32(), sizeof(float),
                             cuda_backend::CopyKind::kDeviceToDevice);
      });
  if (needs_grad({logits})) {
    Tensor ls = logits.detach(), ts = target.detach();
    record(loss, op, {logits}, [=](const Tensor& dloss) {
      Tensor dl = detail::empty_like(ls);
      dispatch(
          {"dice_loss.backward", 0, 12.0 * n}, dloss,
          [&] {
            kernels::dice_loss_backward_ref<float>(n, ls.f32(), ts.f32(), smooth, *sums,
                                                   dloss.f32()[0], dl.f32());
          },
          [&] {
            kernels::dice_loss_backward_cpu(n, ls.f32(), ts.f32(), smooth, *sums, dloss.f32()[0],
                                            dl.f32());
          },
          [&](kernels::Stream st) {
            kernels::dice_loss_backward_cuda(n, ls.f32(), ts.f32(), smooth, out.f32(), dloss.f32(),
                                             dl.f32(), st);
          });
      return std::vector<Tensor>{dl};
    });
  }
  return loss;
}

Tensor bce_with_logits(const Tensor& logits, const Tensor& target) {
  const std::string op = "bce_with_logits";
  check_loss_inputs(op, logits, target);
  const int64_t n = logits.numel();
  if (n == 0) throw std::invalid_argument("bce_with_logits: empty input " + logits.describe());
  Tensor loss = Tensor::empty({1}, DType::kFloat32, logits.device());
  dispatch(
      {"bce_with_logits.forward", 0, 8.0 * n}, logits,
      [&] {
        loss.f32()[0] = kernels::bce_with_logits_forward_ref<float>(n, logits.f32(), target.f32());
      },
      [&] { loss.f32()[0] = kernels::bce_with_logits_forward_cpu(n, logits.f32(), target.f32()); },
      [&](kernels::Stream st) {
        Tensor ws =
            detail::workspace(kernels::bce_with_logits_cuda_workspace_bytes(n), logits.device());
        kernels::bce_with_logits_forward_cuda(n, logits.f32(), target.f32(), loss.f32(),
                                              detail::workspace_ptr(ws), st);
      });
  if (needs_grad({logits})) {
    Tensor ls = logits.detach(), ts = target.detach();
    record(loss, op, {logits}, [=](const Tensor& dloss) {
      Tensor dl = detail::empty_like(ls);
      dispatch(
          {"bce_with_logits.backward", 0, 12.0 * n}, dloss,
          [&] {
            kernels::bce_with_logits_backward_ref<float>(n, ls.f32(), ts.f32(), dloss.f32()[0],
                                                         dl.f32());
          },
          [&] {
            kernels::bce_with_logits_backward_cpu(n, ls.f32(), ts.f32(), dloss.f32()[0], dl.f32());
          },
          [&](kernels::Stream st) {
            kernels::bce_with_logits_backward_cuda(n, ls.f32(), ts.f32(), dloss.f32(), dl.f32(),
                                                   st);
          });
      return std::vector<Tensor>{dl};
    });
  }
  return loss;
}

}  // namespace unet
