#include "engine/kernel_config.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "kernels/concat/concat.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"
#include "kernels/max_pool2d/max_pool2d.h"

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

const std::vector<const kernels::VariantTable*>& variant_tables() {
  static const std::vector<const kernels::VariantTable*> tables = {
      &kernels::kConv2dVariants,          &kernels::kConv2dCpuVariants,
      &kernels::kConvTranspose2dVariants, &kernels::kConvTranspose2dCpuVariants,
      &kernels::kMaxPool2dVariants,       &kernels::kConcatVariants};
  return tables;
}

void force_variants(KernelConfig& config, const std::string& spec, const std::string& source) {
  std::map<std::string, int, std::less<>> forced = config.variant;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string item = spec.substr(start, comma - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      throw std::invalid_argument(source + ": '" + item +
                                  "' is not op=variant (for example conv2d_cpu=2)");
    }
    const std::string op = item.substr(0, eq);
    const kernels::VariantTable* table = nullptr;
    std::string ops;
    for (const kernels::VariantTable* t : variant_tables()) {
      if (op == t->op()) table = t;
      ops += (ops.empty() ? "" : ", ") + std::string(t->op());
    }
    if (table == nullptr) {
      throw std::invalid_argument(source + ": unknown op '" + op + "' (known: " + ops + ")");
    }
    try {
      forced[op] = table->parse(item.substr(eq + 1));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(source + ": " + e.what());
    }
    start = comma + 1;
  }
  config.variant = std::move(forced);
}

void force_variants_from_environment() {
  const char* spec = std::getenv("UNET_VARIANT");
  if (spec != nullptr && *spec != '\0') force_variants(kernel_config(), spec, "UNET_VARIANT");
}

int variant_in_use(const kernels::VariantTable& table) {
  const KernelConfig& c = kernel_config();
  const auto forced = c.variant.find(table.op());
  if (forced != c.variant.end()) return table.at(forced->second, "kernel_config().variant").id;
  return table.default_id(c.math == MathMode::kTf32);
}

}  // namespace unet
