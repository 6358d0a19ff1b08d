// CUDA runtime services for the engine: device query, the per-device stream, copies, and the
// caching allocator (see allocator.h for the bucket policy).
#include <cuda_runtime.h>

#include <atomic>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/cuda_backend.h"
#include "engine/device.h"
#include "kernels/common/cuda_check.h"

namespace unet {

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the error so later calls start clean
    return 0;
  }
  return count;
}

bool cuda_available() { return cuda_device_count() > 0; }

void require_cuda(const std::string& what) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::string reason = status != cudaSuccess ? cudaGetErrorString(status) : "device count is 0";
    cudaGetLastError();
    throw std::runtime_error(what + ": no CUDA device present (" + reason +
                             "); run on a machine with an NVIDIA GPU or use --device cpu");
  }
}

namespace {
// The process's bound device: -1 until the first CUDA use. Guarded by bind_mutex (binding happens
// once, early; reads after that are of a value that never changes again).
std::mutex bind_mutex;
std::atomic<int> bound_device{-1};
}  // namespace

void use_cuda_device(const Device& d, const std::string& what) {
  if (!d.is_cuda()) return;
  std::lock_guard<std::mutex> lock(bind_mutex);
  const int bound = bound_device.load();
  if (bound == d.index) return;
  if (bound >= 0) {
    throw std::runtime_error(what + ": this process already uses cuda:" + std::to_string(bound) +
                             " and cannot also use " + d.str() +
                             " (one GPU per process); start one process per GPU");
  }
  require_cuda(what);
  const int count = cuda_device_count();
  if (d.index < 0 || d.index >= count) {
    throw std::runtime_error(
        what + ": " + d.str() + " does not exist: this machine has " + std::to_string(count) +
        " CUDA device" + (count == 1 ? "" : "s") + ", cuda:0" +
        (count > 1 ? " to cuda:" + std::to_string(count - 1) : "") + "; pick one of those");
  }
  UNET_CUDA_CHECK(cudaSetDevice(d.index));
  bound_device.store(d.index);
}

int cuda_bound_device() { return bound_device.load(); }

int cuda_device_index() {
  if (bound_device.load() < 0) use_cuda_device(Device::cuda(0), "cuda_device_index");
  return bound_device.load();
}

kernels::Stream cuda_stream() {
  static cudaStream_t stream = [] {
    require_cuda("cuda_stream");
    cuda_device_index();  // bind (cuda:0 unless a device was chosen) before the stream exists
    cudaStream_t s = nullptr;
    UNET_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }();
  return stream;
}

void cuda_synchronize() { UNET_CUDA_CHECK(cudaStreamSynchronize(cuda_stream())); }

std::string cuda_device_description() {
  if (!cuda_available()) return "no CUDA device";
  cudaDeviceProp prop{};
  UNET_CUDA_CHECK(cudaGetDeviceProperties(&prop, cuda_device_index()));
  std::ostringstream out;
  out << prop.name << ", " << prop.multiProcessorCount << " SMs, "
      << format_bytes(prop.totalGlobalMem) << ", sm_" << prop.major << prop.minor;
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// Caching allocator. Blocks are keyed by their rounded size; a freed block waits in its bucket's
// free list until a request of the same bucket comes. Training steps repeat the same sizes, so
// after the first step every request is served from the cache.
namespace {

struct CudaCache {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  MemoryStats stats;
};

CudaCache& cache() {
  static CudaCache* c = new CudaCache();  // leaked on purpose: outlives static tensors at exit
  return *c;
}

void release_cached_locked(CudaCache& c) {
  for (auto& [size, blocks] : c.free_blocks) {
    for (void* p : blocks) cudaFree(p);
    c.stats.cached_bytes -= size * blocks.size();
  }
  c.free_blocks.clear();
  c.stats.reserved_bytes = c.stats.current_bytes + c.stats.cached_bytes;
}

}  // namespace

size_t cuda_round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = 2u << 20, kLargeFrom = 1u << 20;
  if (bytes == 0) bytes = 1;
  const size_t granule = bytes < kLargeFrom ? kSmall : kLarge;
  return (bytes + granule - 1) / granule * granule;
}

void* cuda_allocate(size_t bytes) {
  require_cuda("cuda_allocate");
  CudaCache& c = cache();
  const size_t size = cuda_round_size(bytes);
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.free_blocks.find(size);
  void* ptr = nullptr;
  if (it != c.free_blocks.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    c.stats.cached_bytes -= size;
  } else {
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_cached_locked(c);  // give the cache back to the driver and try once more
      status = cudaMalloc(&ptr, size);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      throw std::runtime_error("CUDA out of memory: requested " + format_bytes(size) + " with " +
                               format_bytes(c.stats.current_bytes) + " in use by tensors and " +
                               format_bytes(free_b) + " free of " + format_bytes(total_b) +
                               " on the device; reduce the batch size or the network width");
    }
    ++c.stats.system_allocs;
  }
  c.stats.current_bytes += size;
  if (c.stats.current_bytes > c.stats.peak_bytes) c.stats.peak_bytes = c.stats.current_bytes;
  c.stats.reserved_bytes = c.stats.current_bytes + c.stats.cached_bytes;
  return ptr;
}

void cuda_free(void* ptr, size_t bytes) {
  if (!ptr) return;
  CudaCache& c = cache();
  const size_t size = cuda_round_size(bytes);
  std::lock_guard<std::mutex> lock(c.mutex);
  // Safe to reuse at once: all work is ordered on the one engine stream, so a later kernel that
  // receives this block runs after every kernel that used it.
  c.free_blocks[size].push_back(ptr);
  c.stats.current_bytes -= size;
  c.stats.cached_bytes += size;
  c.stats.reserved_bytes = c.stats.current_bytes + c.stats.cached_bytes;
}

MemoryStats cuda_memory_stats() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  return cache().stats;
}

void cuda_reset_peak() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  cache().stats.peak_bytes = cache().stats.current_bytes;
}

void cuda_empty_cache() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  if (cuda_available()) cudaDeviceSynchronize();
  release_cached_locked(cache());
}

namespace cuda_backend {

void memcpy(void* dst, const void* src, size_t bytes, CopyKind kind) {
  if (bytes == 0) return;
  const cudaMemcpyKind k = kind == CopyKind::kHostToDevice   ? cudaMemcpyHostToDevice
                           : kind == CopyKind::kDeviceToHost ? cudaMemcpyDeviceToHost
                                                             : cudaMemcpyDeviceToDevice;
  cudaStream_t stream = cuda_stream();
  UNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, k, stream));
  // Host buffers may be pageable and freed right after we return: wait for host-side copies.
  if (kind != CopyKind::kDeviceToDevice) UNET_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void memset_zero(void* dst, size_t bytes) {
  if (bytes) UNET_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, cuda_stream()));
}

namespace {
std::mutex event_mutex;
std::vector<cudaEvent_t>& event_pool() {
  static auto* pool = new std::vector<cudaEvent_t>();  // leaked: outlives static destructors
  return *pool;
}
}  // namespace

void* event_record() {
  cudaEvent_t e = nullptr;
  {
    std::lock_guard<std::mutex> lock(event_mutex);
    if (!event_pool().empty()) {
      e = event_pool().back();
      event_pool().pop_back();
    }
  }
  if (!e) UNET_CUDA_CHECK(cudaEventCreate(&e));
  UNET_CUDA_CHECK(cudaEventRecord(e, cuda_stream()));
  return e;
}

float event_elapsed_ms(void* start, void* end) {
  UNET_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(end)));
  float ms = 0;
  UNET_CUDA_CHECK(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end)));
  return ms;
}

void event_release(void* event) {
  std::lock_guard<std::mutex> lock(event_mutex);
  event_pool().push_back(static_cast<cudaEvent_t>(event));
}

void* host_alloc_pinned(size_t bytes) {
  cuda_device_index();  // the context this creates belongs to the bound device
  void* p = nullptr;
  UNET_CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocDefault));
  return p;
}

void host_free_pinned(void* ptr) {
  if (ptr) cudaFreeHost(ptr);
}

}  // namespace cuda_backend
}  // namespace unet
