// The one place an op front-end chooses its backend. Every op in engine/ops_*.cpp and
// engine/optim.cpp hands dispatch() a tag (its name and the FLOPs and bytes of the call, for the
// UNET_PROFILE=1 timeline, engine/profiler.h) and three callables, one per backend:
//
//   dispatch({"relu.forward", 0, 8.0 * n}, x,
//            [&] { kernels::relu_forward_ref<float>(n, x.f32(), y.f32()); },  // naive loops
//            [&] { kernels::relu_forward_cpu(n, x.f32(), y.f32()); },         // fast CPU path
//            [&](kernels::Stream st) { kernels::relu_forward_cuda(n, x.f32(), y.f32(), st); });
//
// The tensor's device picks CPU or CUDA; on the CPU, kernel_config().cpu_reference picks the
// reference loops. A CUDA op that has numbered variants asks variant_in_use(k<Op>Variants) inside
// its CUDA callable. Builds without CUDA link kernels/<op>/<op>_cuda_stub.cpp, so the CUDA
// callable compiles everywhere (and is never reached: no tensor can live on a CUDA device there).
#pragma once

#include "engine/device.h"
#include "engine/kernel_config.h"
#include "engine/profiler.h"
#include "engine/tensor.h"

namespace unet {

enum class Backend { kCpuReference, kCpu, kCuda };

inline Backend backend_for(const Tensor& t) {
  if (t.device().is_cuda()) return Backend::kCuda;
  return kernel_config().cpu_reference ? Backend::kCpuReference : Backend::kCpu;
}

template <typename RefFn, typename CpuFn, typename CudaFn>
void dispatch(const OpTag& tag, const Tensor& on, RefFn&& ref, CpuFn&& cpu, CudaFn&& cuda) {
  const Backend backend = backend_for(on);
  const OpTimer timer(tag, backend == Backend::kCuda);  // a no-op unless profiling
  switch (backend) {
    case Backend::kCpuReference:
      ref();
      return;
    case Backend::kCpu:
      cpu();
      return;
    case Backend::kCuda:
      cuda(cuda_stream());
      return;
  }
}

}  // namespace unet
