#include "workflow/train_step.h"

#include <cmath>
#include <stdexcept>

#include "engine/ops.h"

namespace unet::workflow {

LossKind parse_loss(const std::string& text) {
  if (text == "dice") return LossKind::kDice;
  if (text == "bce") return LossKind::kBce;
  if (text == "dice+bce" || text == "dice_bce") return LossKind::kDiceBce;
  throw std::invalid_argument("unknown loss '" + text + "'; use dice, bce or dice+bce");
}

const char* loss_name(LossKind k) {
  return k == LossKind::kDice ? "dice" : k == LossKind::kBce ? "bce" : "dice+bce";
}

Tensor compute_loss(LossKind kind, const Tensor& logits, const Tensor& target) {
  switch (kind) {
    case LossKind::kDice:
      return dice_loss(logits, target, 1.0f);
    case LossKind::kBce:
      return bce_with_logits(logits, target);
    case LossKind::kDiceBce:
      return add(dice_loss(logits, target, 1.0f), bce_with_logits(logits, target));
  }
  return Tensor();
}

StepResult train_step(model::UNet& net, Optimizer& optimizer, const Tensor& images,
                      const Tensor& targets, LossKind loss_kind) {
  StepResult r;
  optimizer.zero_grad();
  r.logits = net.forward(images);
  Tensor loss = compute_loss(loss_kind, r.logits, targets);
  r.loss = loss.item();
  if (!std::isfinite(r.loss)) return r;
  loss.backward();
  optimizer.step();
  r.updated = true;
  return r;
}

}  // namespace unet::workflow
