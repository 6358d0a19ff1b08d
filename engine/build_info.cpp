#include "engine/build_info.h"

#include "kernels/common/gemm_cpu.h"

namespace unet {

bool built_with_cuda() {
#ifdef UNET_HAS_CUDA
  return true;
#else
  return false;
#endif
}

bool built_with_openblas() { return kernels::sgemm_cpu_uses_openblas(); }

std::string build_summary() {
  std::string s = "unet engine: CUDA backend ";
  s += built_with_cuda() ? "built" : "not built";
  s += ", CPU GEMM ";
  s += built_with_openblas() ? "OpenBLAS" : "built-in blocked loop";
  return s;
}

}  // namespace unet
