// Which kernel variant each op uses. Defaults pick the fastest variant that passes its tests for
// the math mode; a variant can be forced by number for study and benchmarking (tests loop over
// all).
#pragma once

#include <string>

namespace unet {

// kFp32: exact fp32 products (CUDA cores). kTf32: allows TF32 tensor-core variants (10-bit
// mantissa, fp32 accumulate, about 1e-3 relative error) where they are the fastest; see
// kernel_config.cpp for which defaults that changes today.
enum class MathMode { kFp32, kTf32 };
MathMode parse_math_mode(const std::string& text);  // "fp32" | "tf32"
const char* math_mode_name(MathMode m);

struct KernelConfig {
  MathMode math = MathMode::kFp32;
  // 0 = the default for the math mode; otherwise the variant number from kernels/<op>/<op>.h.
  int conv2d_variant = 0;
  int conv_transpose2d_variant = 0;
  int max_pool2d_variant = 0;
  int concat_variant = 0;
  // CPU: run the naive reference loops instead of the fast paths (whole-model spec tests).
  bool cpu_reference = false;
};

// Process-wide configuration (set it before building graphs; not synchronised across threads).
KernelConfig& kernel_config();

// The variant numbers actually used, after applying the defaults.
int conv2d_variant_in_use();
int conv_transpose2d_variant_in_use();
int max_pool2d_variant_in_use();
int concat_variant_in_use();

}  // namespace unet
