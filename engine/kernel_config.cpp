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

int variant_in_use(const kernels::VariantTable& table) {
  const KernelConfig& c = kernel_config();
  const auto forced = c.variant.find(table.op());
  if (forced != c.variant.end()) return table.at(forced->second, "kernel_config().variant").id;
  return table.default_id(c.math == MathMode::kTf32);
}

}  // namespace unet
