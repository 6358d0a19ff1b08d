// Front-end for batch_norm2d (NHWC, statistics per channel over N*H*W).
#include <stdexcept>

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/batch_norm2d/batch_norm2d.h"

namespace unet {

using detail::check_input;

Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, float momentum, float eps) {
  const std::string op = "batch_norm2d";
  check_input(op, "input x", x, 4);
  check_input(op, "gamma", gamma, 1);
  check_input(op, "beta", beta, 1);
  check_input(op, "running_mean", running_mean, 1);
  check_input(op, "running_var", running_var, 1);
  detail::check_same_device(op, {&x, &gamma, &beta, &running_mean, &running_var});
  const int64_t C = x.dim(3);
  for (const Tensor* t : {&gamma, &beta, static_cast<const Tensor*>(&running_mean),
                          static_cast<const Tensor*>(&running_var)}) {
    if (t->dim(0) != C) {
      throw std::invalid_argument("batch_norm2d: " + t->describe() + " does not match the " +
                                  std::to_string(C) + " channels of input " + x.describe());
    }
  }
  kernels::BatchNormShape s;
  s.pixels = x.dim(0) * x.dim(1) * x.dim(2);
  s.C = static_cast<int>(C);
  if (training && s.pixels < 2) {
    throw std::invalid_argument(
        "batch_norm2d: training needs more than one value per channel, got " + x.describe() +
        "; use a larger batch or evaluation mode");
  }
  Tensor y = detail::empty_like(x);
  if (!training) {
    dispatch(
        {"batch_norm2d.forward_eval", 0, 8.0 * double(x.numel())}, x,
        [&] {
          kernels::batch_norm2d_forward_eval_ref<float>(s, x.f32(), gamma.f32(), beta.f32(),
                                                        running_mean.f32(), running_var.f32(), eps,
                                                        y.f32());
        },
        [&] {
          kernels::batch_norm2d_forward_eval_cpu(s, x.f32(), gamma.f32(), beta.f32(),
                                                 running_mean.f32(), running_var.f32(), eps,
                                                 y.f32());
        },
        [&](kernels::Stream st) {
          kernels::batch_norm2d_forward_eval_cuda(s, x.f32(), gamma.f32(), beta.f32(),
                                                  running_mean.f32(), running_var.f32(), eps,
                                                  y.f32(), st);
        });
    // Evaluation-mode BN is an affine map; its gradient is rarely needed and not provided.
    if (needs_grad({x, gamma, beta})) {
      throw std::invalid_argument(
          "batch_norm2d: evaluation mode does not record gradients; train in training mode or "
          "run inference under NoGradGuard");
    }
    return y;
  }
  Tensor save_mean = Tensor::empty({C}, DType::kFloat32, x.device());
  Tensor save_invstd = Tensor::empty({C}, DType::kFloat32, x.device());
  dispatch(
      {"batch_norm2d.forward_train", 0, 12.0 * double(x.numel())}, x,
      [&] {
        kernels::batch_norm2d_forward_train_ref<float>(
            s, x.f32(), gamma.f32(), beta.f32(), eps, momentum, running_mean.f32(),
            running_var.f32(), save_mean.f32(), save_invstd.f32(), y.f32());
      },
      [&] {
        kernels::batch_norm2d_forward_train_cpu(s, x.f32(), gamma.f32(), beta.f32(), eps, momentum,
                                                running_mean.f32(), running_var.f32(),
                                                save_mean.f32(), save_invstd.f32(), y.f32());
      },
      [&](kernels::Stream st) {
        Tensor ws = detail::workspace(kernels::batch_norm2d_cuda_workspace_bytes(s), x.device());
        kernels::batch_norm2d_forward_train_cuda(s, x.f32(), gamma.f32(), beta.f32(), eps, momentum,
                                                 running_mean.f32(), running_var.f32(),
                                                 save_mean.f32(), save_invstd.f32(), y.f32(),
                                                 detail::workspace_ptr(ws), st);
      });
  if (needs_grad({x, gamma, beta})) {
    Tensor xs = x.detach(), gs = gamma.detach();
    record(y, op, {x, gamma, beta}, [=](const Tensor& dy) {
      Tensor dx = detail::empty_like(xs);
      Tensor dgamma = Tensor::empty({C}, DType::kFloat32, dy.device());
      Tensor dbeta = Tensor::empty({C}, DType::kFloat32, dy.device());
      dispatch(
          {"batch_norm2d.backward", 0, 16.0 * double(dy.numel())}, dy,
          [&] {
            kernels::batch_norm2d_backward_ref<float>(s, xs.f32(), dy.f32(), gs.f32(),
                                                      save_mean.f32(), save_invstd.f32(), dx.f32(),
                                                      dgamma.f32(), dbeta.f32());
          },
          [&] {
            kernels::batch_norm2d_backward_cpu(s, xs.f32(), dy.f32(), gs.f32(), save_mean.f32(),
                                               save_invstd.f32(), dx.f32(), dgamma.f32(),
                                               dbeta.f32());
          },
          [&](kernels::Stream st) {
            Tensor ws =
                detail::workspace(kernels::batch_norm2d_cuda_workspace_bytes(s), dy.device());
            kernels::batch_norm2d_backward_cuda(s, xs.f32(), dy.f32(), gs.f32(), save_mean.f32(),
                                                save_invstd.f32(), dx.f32(), dgamma.f32(),
                                                dbeta.f32(), detail::workspace_ptr(ws), st);
          });
      return std::vector<Tensor>{dx, dgamma, dbeta};
    });
  }
  return y;
}

}  // namespace unet
