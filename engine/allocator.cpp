#include "engine/allocator.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>

namespace unet {

namespace {
constexpr size_t kCpuAlignment = 64;
std::atomic<size_t> g_cpu_current{0}, g_cpu_peak{0}, g_cpu_allocs{0};
}  // namespace

void* cpu_allocate(size_t bytes) {
  const size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  void* p = std::aligned_alloc(kCpuAlignment, rounded == 0 ? kCpuAlignment : rounded);
  if (!p) {
    throw std::runtime_error("CPU out of memory: requested " + format_bytes(bytes) + " with " +
                             format_bytes(g_cpu_current.load()) +
                             " in use by tensors; reduce the batch size or the network width");
  }
  const size_t now = g_cpu_current.fetch_add(bytes) + bytes;
  size_t peak = g_cpu_peak.load();
  while (now > peak && !g_cpu_peak.compare_exchange_weak(peak, now)) {
  }
  ++g_cpu_allocs;
  return p;
}

void cpu_free(void* ptr, size_t bytes) {
  if (!ptr) return;
  std::free(ptr);
  g_cpu_current.fetch_sub(bytes);
}

MemoryStats cpu_memory_stats() {
  MemoryStats s;
  s.current_bytes = g_cpu_current.load();
  s.peak_bytes = g_cpu_peak.load();
  s.reserved_bytes = s.current_bytes;
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
