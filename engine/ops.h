// Op front-ends: check shapes, dtypes and devices, allocate outputs, dispatch to the CPU or CUDA
// kernel, and record the autograd node. Activations are NHWC [N, H, W, C]; conv weights KRSC
// [K, R, S, C]; transposed-conv weights CRSK [C, R, S, K]; biases [K]; losses are shape [1].
// All inputs of one op must be float32 on the same device; errors name the op and the shapes.
#pragma once

#include "engine/tensor.h"

namespace unet {

struct Conv2dOptions {
  int stride = 1;
  int padding = 0;
  bool relu = false;  // fused ReLU epilogue (and the ReLU mask in backward)
};
// bias may be an undefined Tensor (no bias).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias,
              const Conv2dOptions& options = {});
// 2x2 stride-2 in the U-Net; any kernel size and stride with no padding.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias, int stride = 2);
// 2x2 window, stride 2; odd sizes floor like PyTorch.
Tensor max_pool2d(const Tensor& x, int kernel = 2, int stride = 2);
// Channel concatenation of two NHWC tensors with equal N, H, W: [a, b].
Tensor concat_channels(const Tensor& a, const Tensor& b);
// Per-channel batch normalisation (PyTorch semantics). In training it uses batch statistics and
// updates running_mean/var in place; in evaluation it uses them.
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, float slope = 0.01f);
Tensor sigmoid(const Tensor& x);
Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float alpha);
Tensor sum(const Tensor& x);   // shape [1]
Tensor mean(const Tensor& x);  // shape [1]

// Fused sigmoid + soft Dice over the whole batch (the seed's loss, smooth 1):
//   -(2*sum(p*t) + smooth) / (sum(p) + sum(t) + smooth),  p = sigmoid(logits).
Tensor dice_loss(const Tensor& logits, const Tensor& target, float smooth = 1.0f);
// Mean binary cross-entropy on logits.
Tensor bce_with_logits(const Tensor& logits, const Tensor& target);

}  // namespace unet
