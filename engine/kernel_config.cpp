#include "engine/kernel_config.h"

#include <stdexcept>

namespace unet {

KernelConfig& kernel_config() {
  static KernelConfig config;
  return config;
}

MathMode parse_math_mode(const std::string& text) {
  if (text == "fp32") return MathMode::kFp32;
  if (text == "tf32") return MathMode::kTf32;
  throw std::invalid_argument("unknown precision '" + text + "'; use fp32 or tf32");
}

const char* math_mode_name(MathMode m) { return m == MathMode::kTf32 ? "tf32" : "fp32"; }

// Defaults: v2 (tiled, exact fp32) in fp32 mode, v3 (tensor cores) in TF32 mode.
int conv2d_variant_in_use() {
  const KernelConfig& c = kernel_config();
  if (c.conv2d_variant) return c.conv2d_variant;
  return c.math == MathMode::kTf32 ? 3 : 2;
}
int conv_transpose2d_variant_in_use() {
  const KernelConfig& c = kernel_config();
  if (c.conv_transpose2d_variant) return c.conv_transpose2d_variant;
  return c.math == MathMode::kTf32 ? 3 : 2;
}
int max_pool2d_variant_in_use() {
  const KernelConfig& c = kernel_config();
  return c.max_pool2d_variant ? c.max_pool2d_variant : 2;
}
int concat_variant_in_use() {
  const KernelConfig& c = kernel_config();
  return c.concat_variant ? c.concat_variant : 2;
}

}  // namespace unet
