// What this build of the engine contains, for banners, benchmarks and error messages.
#pragma once

#include <string>

namespace unet {

bool built_with_cuda();
bool built_with_openblas();
// One line, e.g. "unet engine: CUDA backend built (sm 80;90), CPU GEMM OpenBLAS".
std::string build_summary();

}  // namespace unet
