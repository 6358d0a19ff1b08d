// UNet(config): the seed network of DESIGN.md section 1 with configurable depth, width,
// normalisation, activation and initialisation. Input NHWC [N, H, W, in_channels], output the
// logits [N, H, W, out_channels] (the sigmoid lives in the loss, fused with Dice).
//
//   enc{i}: two 3x3 convs (pad 1) + [BN] + ReLU, width base*2^i; 2x2 max-pool between levels;
//   enc{depth-1} is the bottleneck;
//   up{i}: 2x2 stride-2 transposed conv to width base*2^i; concat [up, skip_i] (up first);
//   dec{i}: two 3x3 convs + [BN] + ReLU; head: 1x1 conv to out_channels.
// Public tensor names (the checkpoint format): enc{0..4}.conv{1,2}.{weight,bias},
// up{3..0}.{weight,bias}, dec{3..0}.conv{1,2}.{weight,bias}, head.{weight,bias}, and with batch
// norm enc{i}.bn{1,2}.{weight,bias,running_mean,running_var} (likewise dec).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "model/layers.h"

namespace unet::model {

enum class Norm { kNone, kBatch };
enum class Activation { kRelu, kLeakyRelu };
Norm parse_norm(const std::string& text);              // "none" | "batch"
Activation parse_activation(const std::string& text);  // "relu" | "leaky_relu"
const char* norm_name(Norm n);
const char* activation_name(Activation a);

struct UNetConfig {
  int in_channels = 1;
  int out_channels = 1;
  int depth = 5;  // levels including the bottleneck
  int base = 32;  // filters of the first level; doubles per level
  Norm norm = Norm::kNone;
  Activation activation = Activation::kRelu;
  Init init = Init::kGlorotUniform;
  float leaky_slope = 0.01f;
  std::string describe() const;  // "depth 5, base 32, norm none, relu, glorot"
  // Throws on depth < 1, base < 1, channels < 1.
  void validate() const;
  // H and W must be multiples of this (each pooling halves them exactly).
  int size_multiple() const { return 1 << (depth - 1); }
};

class UNet {
 public:
  UNet(const UNetConfig& config, uint64_t seed);
  Tensor forward(const Tensor& x);

  void to(Device device);
  Device device() const { return device_; }
  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }
  const UNetConfig& config() const { return config_; }

  std::vector<Tensor> parameters();  // trainable tensors, in a fixed order
  int64_t parameter_count();         // trainable scalars
  // Every public tensor (parameters and batch-norm statistics) in PyTorch layout on the CPU.
  std::vector<NamedTensor> state_dict();
  // Loads a state dict; rejects a missing or extra name, a wrong shape or dtype, naming it.
  void load_state_dict(const std::vector<NamedTensor>& tensors, const std::string& source);
  // Names, engine tensors and layouts (for optimiser-state checkpoints and tests).
  std::vector<ParamRef> named_tensors();

  // An inference copy on the same device, in eval mode: each batch norm (with its running
  // statistics) folded into the conv before it, w' = w * g / sqrt(var + eps) per output channel,
  // b' = (b - mean) * g / sqrt(var + eps) + beta, so the copy has norm none and, with ReLU, each
  // conv applies bias and ReLU in its own epilogue: two passes over every activation fewer. Equal
  // to this net's eval-mode forward up to float rounding. A copy without batch norm is plain.
  // Not for training: the copy's batch norm is gone, and so are its statistics.
  UNet folded_for_inference();

 private:
  struct Level {
    Conv2d conv1, conv2;
    BatchNorm2d bn1, bn2;
  };
  Tensor block(Level& level, const Tensor& x);
  Tensor activate(const Tensor& x) const;

  UNetConfig config_;
  std::vector<Level> enc_;           // depth levels
  std::vector<ConvTranspose2d> up_;  // depth-1, index = level whose skip it joins
  std::vector<Level> dec_;           // depth-1
  Conv2d head_;
  Device device_ = Device::cpu();
  bool training_ = true;
};

}  // namespace unet::model
