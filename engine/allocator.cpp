#include "engine/allocator.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

namespace unet {

namespace {
constexpr size_t kCpuAlignment = 64;
std::atomic<size_t> g_cpu_current{0}, g_cpu_peak{0}, g_cpu_allocs{0};

// Large blocks are cached. glibc serves a block above its mmap threshold (at most 32 MiB) with a
// fresh mmap and returns it to the kernel on free, so every large tensor (a batch-10 activation at
// 256x256 is 84 MB) paid a page fault and the kernel's zeroing per 4 KiB on first touch: a
// concat, which only copies, ran at 5 GB/s. Freed blocks of at least kCacheMinBytes go to a free
// list per size, rounded to kCacheGranule so that a step's repeated shapes reuse them, up to
// kCacheMaxBytes in all. Under AddressSanitizer every block goes back to the system, so
// use-after-free stays detectable.
constexpr size_t kCacheMinBytes = size_t(1) << 20, kCacheGranule = size_t(2) << 20;
constexpr size_t kCacheMaxBytes = size_t(4) << 30;
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheLargeBlocks = false;
#else
constexpr bool kCacheLargeBlocks = true;
#endif
std::mutex g_cache_mutex;
std::map<size_t, std::vector<void*>> g_cache;  // rounded size -> free blocks
size_t g_cached_bytes = 0;

size_t rounded_size(size_t bytes) {
  const size_t r = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  if (r == 0) return kCpuAlignment;
  return r >= kCacheMinBytes ? (r + kCacheGranule - 1) / kCacheGranule * kCacheGranule : r;
}

void* take_cached(size_t rounded) {
  if (!kCacheLargeBlocks || rounded < kCacheMinBytes) return nullptr;
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  auto it = g_cache.find(rounded);
  if (it == g_cache.end() || it->second.empty()) return nullptr;
  void* p = it->second.back();
  it->second.pop_back();
  g_cached_bytes -= rounded;
  return p;
}

bool keep_cached(void* p, size_t rounded) {
  if (!kCacheLargeBlocks || rounded < kCacheMinBytes) return false;
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  if (g_cached_bytes + rounded > kCacheMaxBytes) return false;
  g_cache[rounded].push_back(p);
  g_cached_bytes += rounded;
  return true;
}
}  // namespace

void* cpu_allocate(size_t bytes) {
  const size_t rounded = rounded_size(bytes);
  void* p = take_cached(rounded);
  if (!p) {
    p = std::aligned_alloc(kCpuAlignment, rounded);
    if (p) ++g_cpu_allocs;
  }
  if (!p) {
    throw std::runtime_error("CPU out of memory: requested " + format_bytes(bytes) + " with " +
                             format_bytes(g_cpu_current.load()) +
                             " in use by tensors; reduce the batch size or the network width");
  }
  const size_t now = g_cpu_current.fetch_add(bytes) + bytes;
  size_t peak = g_cpu_peak.load();
  while (now > peak && !g_cpu_peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void cpu_free(void* ptr, size_t bytes) {
  if (!ptr) return;
  if (!keep_cached(ptr, rounded_size(bytes))) std::free(ptr);
  g_cpu_current.fetch_sub(bytes);
}

MemoryStats cpu_memory_stats() {
  MemoryStats s;
  s.current_bytes = g_cpu_current.load();
  s.peak_bytes = g_cpu_peak.load();
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    s.cached_bytes = g_cached_bytes;
  }
  s.reserved_bytes = s.current_bytes + s.cached_bytes;
  s.system_allocs = g_cpu_allocs.load();
  return s;
}

void cpu_reset_peak() { g_cpu_peak.store(g_cpu_current.load()); }

std::string format_bytes(size_t bytes) {
  char buf[64];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  } else if (b >= 1024.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  } else if (b >= 1024.0) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%zu B", bytes);
  }
  return buf;
}

}  // namespace unet
