// Which kernels the op front-ends run. Defaults pick the fastest CUDA variant that passes its tests
// for the math mode (each op's kernels::VariantTable says which); a variant can be forced by op
// name for study and benchmarking, and the whole CPU side can be switched to the naive reference
// loops (the executable spec) for whole-model spec tests.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernels/common/variant_table.h"

namespace unet {

// kFp32: exact fp32 products (CUDA cores). kTf32: allows TF32 tensor-core variants (10-bit
// mantissa, fp32 accumulate, about 1e-3 relative error) where the op's table makes one the default.
enum class MathMode { kFp32, kTf32 };
MathMode parse_math_mode(const std::string& text);  // "fp32" | "tf32"
const char* math_mode_name(MathMode m);

struct KernelConfig {
  MathMode math = MathMode::kFp32;
  // Forced CUDA variant per op, keyed by the table's op name ("conv2d", "concat", ...); an op not
  // listed runs its table's default for `math`.
  std::map<std::string, int, std::less<>> variant;  // std::less<>: looked up by const char*
  // CPU: every op runs its naive reference loops (<op>_ref) instead of the fast path.
  bool cpu_reference = false;
};

// Process-wide configuration (set it before building graphs; not synchronised across threads).
KernelConfig& kernel_config();

// Every op's variant table (CUDA and CPU), for listing and for forcing by name.
const std::vector<const kernels::VariantTable*>& variant_tables();

// Forces variants by a spec "op=variant[,op=variant...]", e.g. "conv2d_cpu=2,conv2d=v3": op is a
// table's name, variant its number, "v<number>" or row name (VariantTable::parse). Throws
// std::invalid_argument naming `source`, the bad part and the known names; `config` is unchanged
// then.
void force_variants(KernelConfig& config, const std::string& spec, const std::string& source);
// force_variants(kernel_config(), $UNET_VARIANT, "UNET_VARIANT") when the variable is set and not
// empty: how a user of unet_train, unet_predict or unet_serve picks a variant for study (every app
// calls it at start, through run_app).
void force_variants_from_environment();

// The CUDA variant the engine runs for `table`'s op: the forced one, else the table's default for
// the math mode. Throws std::invalid_argument when a forced number is not in the table.
int variant_in_use(const kernels::VariantTable& table);

}  // namespace unet
