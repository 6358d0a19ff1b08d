// The U-Net's building blocks. Each layer owns its parameters in the engine's layouts (conv
// weights KRSC, transposed-conv weights CRSK) and knows how to convert them to and from
// PyTorch's layouts (OIHW, and IOHW for ConvTranspose2d), which checkpoints use.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/tensor.h"

namespace unet::model {

enum class Init { kGlorotUniform, kHe };
Init parse_init(const std::string& text);  // "glorot" | "he"
const char* init_name(Init init);

// A tensor the model exposes: its public (PyTorch) name, whether the optimiser trains it, and how
// to convert between the engine layout and PyTorch's.
enum class Layout { kVector, kKRSCasOIHW, kCRSKasIOHW };
struct ParamRef {
  std::string name;
  Tensor* tensor;
  Layout layout;
  bool trainable;
};

// The engine-layout tensor as PyTorch lays it out, on the CPU (and back).
Tensor to_pytorch_layout(const Tensor& t, Layout layout);
Tensor from_pytorch_layout(const Tensor& t, Layout layout);
// PyTorch shape of an engine-layout shape.
Shape pytorch_shape(const Shape& s, Layout layout);

class Conv2d {
 public:
  Conv2d() = default;
  // fan-in C*R*S, fan-out K*R*S; biases zero (Keras defaults).
  Conv2d(int in_channels, int out_channels, int kernel, int padding, Init init,
         std::mt19937_64& rng);
  Tensor forward(const Tensor& x, bool fused_relu) const;
  void collect(const std::string& prefix, std::vector<ParamRef>& out);
  Tensor weight, bias;  // [K, R, S, C], [K]
  int padding = 0;
};

class ConvTranspose2d {
 public:
  ConvTranspose2d() = default;
  // 2x2 stride 2; weights CRSK.
  ConvTranspose2d(int in_channels, int out_channels, Init init, std::mt19937_64& rng);
  Tensor forward(const Tensor& x) const;
  void collect(const std::string& prefix, std::vector<ParamRef>& out);
  Tensor weight, bias;  // [C, 2, 2, K], [K]
};

class BatchNorm2d {
 public:
  BatchNorm2d() = default;
  explicit BatchNorm2d(int channels);
  Tensor forward(const Tensor& x, bool training);
  void collect(const std::string& prefix, std::vector<ParamRef>& out);
  Tensor gamma, beta, running_mean, running_var;
  // Training-mode forward passes so far: int64 [] on the CPU, as PyTorch's state_dict has it.
  Tensor num_batches_tracked;
  float momentum = 0.1f, eps = 1e-5f;
};

}  // namespace unet::model
