// Without the CUDA backend (UNET_CUDA=OFF or no nvcc) every CUDA service reports that clearly;
// with it, cuda_backend.cu provides the real ones and this file compiles to nothing.
#ifndef UNET_HAS_CUDA
#include <stdexcept>
#include <string>

#include "engine/allocator.h"
#include "engine/cuda_backend.h"
#include "engine/device.h"

namespace unet {
namespace {
[[noreturn]] void no_backend(const std::string& what) {
  throw std::runtime_error(what +
                           ": this build has no CUDA backend (built with UNET_CUDA=OFF or without "
                           "nvcc); rebuild with the CUDA toolkit or use --device cpu");
}
}  // namespace

int cuda_device_count() { return 0; }
bool cuda_available() { return false; }
void require_cuda(const std::string& what) { no_backend(what); }
void use_cuda_device(const Device& d, const std::string& what) {
  if (d.is_cuda()) no_backend(what);
}
int cuda_device_index() { no_backend("cuda_device_index"); }
int cuda_bound_device() { return -1; }
kernels::Stream cuda_stream() { no_backend("cuda_stream"); }
void cuda_synchronize() {}
std::string cuda_device_description() { return "no CUDA backend in this build"; }
size_t cuda_round_size(size_t bytes) { return bytes; }
void* cuda_allocate(size_t) { no_backend("cuda_allocate"); }
void cuda_free(void*, size_t) {}
MemoryStats cuda_memory_stats() { return {}; }
void cuda_reset_peak() {}
void cuda_empty_cache() {}

namespace cuda_backend {
void memcpy(void*, const void*, size_t, CopyKind) { no_backend("cuda memcpy"); }
void memset_zero(void*, size_t) { no_backend("cuda memset"); }
void* host_alloc_pinned(size_t) { no_backend("pinned host memory"); }
void host_free_pinned(void*) {}
void* event_record() { no_backend("cuda event"); }
float event_elapsed_ms(void*, void*) { no_backend("cuda event"); }
void event_release(void*) {}
}  // namespace cuda_backend
}  // namespace unet
#endif
