// One optimisation step of the U-Net: the unit the trainer repeats and the training-step benchmark
// times. The losses work on logits (the sigmoid is fused into them).
#pragma once

#include <string>

#include "engine/optim.h"
#include "engine/tensor.h"
#include "model/unet.h"

namespace unet::workflow {

enum class LossKind { kDice, kBce, kDiceBce };
LossKind parse_loss(const std::string& text);  // "dice" | "bce" | "dice+bce"
const char* loss_name(LossKind k);

// The scalar loss of logits against 0/1 targets: Dice (smooth 1), BCE with logits, or their sum.
Tensor compute_loss(LossKind kind, const Tensor& logits, const Tensor& target);

struct StepResult {
  float loss = 0;        // the batch's loss before the update
  bool updated = false;  // false: the loss was not finite, so no backward and no update ran
  Tensor logits;         // the forward output [N, H, W, 1] (Dice counts, collapse detection)
};

// zero_grad, forward, loss, backward, optimiser step, with the optimiser's current learning rate.
// Reads the loss back (one scalar) before the backward pass: a non-finite loss leaves the
// parameters and the optimiser untouched and comes back with updated == false.
StepResult train_step(model::UNet& net, Optimizer& optimizer, const Tensor& images,
                      const Tensor& targets, LossKind loss);

}  // namespace unet::workflow
