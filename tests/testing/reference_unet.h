// A double-precision U-Net forward pass built only from the naive reference kernels
// (kernels/*/..._ref<double>): the oracle for whole-model gradient checks. It shares no code with
// the engine's front-ends, autograd or fast paths.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "model/unet.h"

namespace unet::testing {

// Engine-layout parameter values by public name, in double.
using RefParams = std::map<std::string, std::vector<double>>;
RefParams reference_params(model::UNet& net);

struct RefBatch {
  int N = 1, H = 1, W = 1;
  std::vector<double> x;       // NHWC, C = in_channels
  std::vector<double> target;  // NHWC, C = out_channels
};

enum class RefLoss { kDice, kDiceBce };
// The loss of the network (training-mode batch norm) on one batch.
double reference_unet_loss(const model::UNetConfig& config, const RefParams& params,
                           const RefBatch& batch, RefLoss loss = RefLoss::kDice);

}  // namespace unet::testing
