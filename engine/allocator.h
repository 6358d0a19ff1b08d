// Memory for tensors. CPU: 64-byte aligned blocks (AVX-512 lines, and what OpenBLAS likes); freed
// blocks of 1 MiB and more are cached by size (up to 4 GiB) and reused, so large tensors do not
// pay fresh pages on every op (allocator.cpp says why).
// CUDA: a caching allocator with size buckets, so a steady-state training step never calls
// cudaMalloc/cudaFree; freed blocks go back to a per-size free list and are reused.
#pragma once

#include <cstddef>
#include <string>

namespace unet {

struct MemoryStats {
  size_t current_bytes = 0;   // held by live tensors
  size_t peak_bytes = 0;      // max of current since the last reset
  size_t cached_bytes = 0;    // reserved from the system but free for reuse
  size_t reserved_bytes = 0;  // current + cached
  size_t system_allocs = 0;   // calls to the system allocator (aligned_alloc / cudaMalloc)
};

void* cpu_allocate(size_t bytes);
void cpu_free(void* ptr, size_t bytes);
MemoryStats cpu_memory_stats();
void cpu_reset_peak();

// CUDA caching allocator (engine/cuda_allocator.cu). Sizes are rounded up to a bucket: 512 B
// granules below 1 MiB, 2 MiB granules above, and blocks are reused only for requests of the same
// bucket. Out of memory throws std::runtime_error naming the request, what is in use and what is
// cached.
void* cuda_allocate(size_t bytes);
void cuda_free(void* ptr, size_t bytes);
MemoryStats cuda_memory_stats();
void cuda_reset_peak();
void cuda_empty_cache();  // returns cached blocks to the driver
size_t cuda_round_size(size_t bytes);

std::string format_bytes(size_t bytes);  // "12.5 MiB"

}  // namespace unet
